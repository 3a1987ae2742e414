package persistence

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CronLine is one job line of a crontab, anacrontab or cron.d file.
type CronLine struct {
	Line     int64  `json:"line"`
	Schedule string `json:"schedule"` // "*/5 * * * *", "@reboot", anacron "1 5" (period, delay)
	User     string `json:"user,omitempty"`
	Command  string `json:"command"`
	JobID    string `json:"job_id,omitempty"` // anacron job identifier
}

// LineError is a line that could not be read as a job.
type LineError struct {
	Line int64  `json:"line"`
	Msg  string `json:"message"`
}

const maxLine = 64 << 10

var cronSpecials = map[string]bool{"@reboot": true, "@yearly": true, "@annually": true, "@monthly": true, "@weekly": true, "@daily": true, "@midnight": true, "@hourly": true}

func isCronField(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c == '*' || c == '/' || c == ',' || c == '-' || c == '~' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// isEnvLine reports a "NAME=value" line (crontab environment settings).
func isEnvLine(l string) bool {
	eq := strings.IndexByte(l, '=')
	if eq <= 0 {
		return false
	}
	name := strings.TrimSpace(l[:eq])
	if name == "" || strings.ContainsAny(name, " \t*@/") {
		return false
	}
	return !(name[0] >= '0' && name[0] <= '9')
}

// ParseCrontabLine reads one line of a crontab (crontab(5)). System
// crontabs (/etc/crontab, /etc/cron.d) have a user field after the
// schedule; user spools do not. It returns ok=false for blank lines,
// comments and environment settings.
func ParseCrontabLine(l string, system bool) (CronLine, bool, error) {
	t := strings.TrimSpace(l)
	if t == "" || t[0] == '#' || isEnvLine(t) {
		return CronLine{}, false, nil
	}
	var c CronLine
	rest := t
	next := func() string {
		rest = strings.TrimLeft(rest, " \t")
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			w := rest
			rest = ""
			return w
		}
		w := rest[:i]
		rest = rest[i:]
		return w
	}
	first := next()
	if strings.HasPrefix(first, "@") {
		if !cronSpecials[strings.ToLower(first)] {
			return c, false, fmt.Errorf("unknown schedule %q", first)
		}
		c.Schedule = first
	} else {
		f := []string{first}
		for i := 0; i < 4; i++ {
			f = append(f, next())
		}
		for _, x := range f {
			if !isCronField(x) {
				return c, false, fmt.Errorf("bad time field %q", x)
			}
		}
		c.Schedule = strings.Join(f, " ")
	}
	if system {
		c.User = next()
	}
	c.Command = strings.TrimSpace(rest)
	if c.Command == "" {
		return c, false, fmt.Errorf("no command")
	}
	return c, true, nil
}

// ParseCrontab reads a crontab file.
func ParseCrontab(data []byte, system bool) ([]CronLine, []LineError) {
	var out []CronLine
	var errs []LineError
	eachLine(data, func(n int64, l string) {
		c, ok, err := ParseCrontabLine(l, system)
		if err != nil {
			errs = append(errs, LineError{n, err.Error()})
			return
		}
		if ok {
			c.Line = n
			out = append(out, c)
		}
	}, &errs)
	return out, errs
}

// ParseAnacrontab reads /etc/anacrontab: "period delay job-id command".
func ParseAnacrontab(data []byte) ([]CronLine, []LineError) {
	var out []CronLine
	var errs []LineError
	eachLine(data, func(n int64, l string) {
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' || isEnvLine(t) {
			return
		}
		f := strings.Fields(t)
		if len(f) < 4 {
			errs = append(errs, LineError{n, "want period, delay, job id and command"})
			return
		}
		// The command is the rest of the line after the third field.
		rest := t
		for i := 0; i < 3; i++ {
			rest = strings.TrimLeft(rest, " \t")
			rest = rest[len(f[i]):]
		}
		out = append(out, CronLine{Line: n, Schedule: f[0] + " " + f[1], JobID: f[2], Command: strings.TrimSpace(rest), User: "root"})
	}, &errs)
	return out, errs
}

// eachLine calls fn with every line and its 1-based number; lines longer
// than maxLine are reported and skipped.
func eachLine(data []byte, fn func(n int64, l string), errs *[]LineError) {
	s := string(data)
	var n int64
	for len(s) > 0 {
		n++
		var l string
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			l, s = s[:i], s[i+1:]
		} else {
			l, s = s, ""
		}
		if len(l) > maxLine {
			*errs = append(*errs, LineError{n, fmt.Sprintf("line of %d bytes skipped", len(l))})
			continue
		}
		fn(n, strings.TrimSuffix(l, "\r"))
	}
}

// AtJob is a job queued with at(1).
type AtJob struct {
	Queue   string     `json:"queue"`
	Number  int64      `json:"number"`
	RunAt   *time.Time `json:"run_at,omitempty"` // from the file name
	UID     *uint32    `json:"uid,omitempty"`    // from "# atrun uid=…"
	Command string     `json:"command"`
	Line    int64      `json:"line"` // first line of the command
}

// ParseAtJob reads an at spool file. The name ("a0000201a6b2c3": queue,
// 5 hex digits of job number, 8 hex digits of minutes since the epoch)
// gives the run time; the script's "# atrun uid=" line the owner; the
// command is the here-document atd runs (or the lines after the
// "cd … || { … }" block of older at versions).
func ParseAtJob(name string, data []byte) AtJob {
	var j AtJob
	if len(name) == 14 {
		j.Queue = name[:1]
		if v, err := strconv.ParseInt(name[1:6], 16, 64); err == nil {
			j.Number = v
		}
		if v, err := strconv.ParseInt(name[6:], 16, 64); err == nil {
			t := time.Unix(v*60, 0).UTC()
			j.RunAt = &t
		}
	}
	ls := strings.Split(string(data), "\n")
	start, end := -1, len(ls)
	delim := ""
	for i, l := range ls {
		if len(l) > maxLine {
			continue
		}
		if strings.HasPrefix(l, "# atrun uid=") {
			f := strings.Fields(strings.TrimPrefix(l, "# atrun "))
			if len(f) > 0 {
				if v, err := strconv.ParseUint(strings.TrimPrefix(f[0], "uid="), 10, 32); err == nil {
					u := uint32(v)
					j.UID = &u
				}
			}
		}
		if delim != "" && start >= 0 && strings.TrimSpace(l) == delim {
			end = i
			break
		}
		if k := strings.Index(l, "<< '"); k >= 0 && delim == "" && strings.Contains(l, "SHELL") {
			delim = strings.TrimSuffix(l[k+4:], "'")
			start = i + 1
		}
		if delim == "" && strings.TrimSpace(l) == "}" {
			start = i + 1
		}
	}
	if start >= 0 && start <= end {
		j.Command = strings.TrimSpace(strings.Join(ls[start:end], "\n"))
		j.Line = int64(start + 1)
	}
	return j
}
