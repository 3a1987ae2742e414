package packages

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts/syslog"
)

// Record is one package-manager log record: a dpkg.log line, one package
// of an apt history.log transaction, a yum.log or dnf.rpm.log line. Strings
// are raw from the evidence.
type Record struct {
	Time time.Time // UTC
	// Local reports that the log wrote local time without an offset; it
	// was converted with the zone given to the parser.
	Local   bool
	Manager string // "dpkg", "apt", "yum", "dnf"
	// Action is lower case: install, upgrade, remove, purge, downgrade,
	// reinstall, obsolete; dpkg's configure, trigproc, status, startup,
	// conffile; yum/dnf's upgraded, cleanup…; dnf.log's command.
	Action     string
	Package    string
	Arch       string
	Version    string // the version installed (new version of an upgrade)
	OldVersion string // the version replaced, where the log gives it
	Epoch      string // rpm epoch, when logged
	Status     string // dpkg "status" lines: half-installed, installed, …
	Automatic  bool   // apt: installed as a dependency
	Command    string // apt Commandline, dnf command line
	User       string // apt Requested-By name
	UID        string // apt Requested-By uid
	Body       string // the line after its time stamp (dpkg, yum, dnf)
	Line       int64  // 1-based line of the record (apt: of the Start-Date)
}

// Stats counts what a parser saw.
type Stats struct {
	Lines    int64 `json:"lines"`
	Records  int64 `json:"records"`
	Problems int64 `json:"problems,omitempty"`
}

type parser struct {
	st      Stats
	problem func(syslog.Problem)
	ls      *syslog.Lines
}

func (p *parser) report(format string, args ...any) {
	p.st.Problems++
	if p.problem != nil {
		p.problem(syslog.Problem{Line: p.ls.Line(), Offset: p.ls.Offset(), Msg: fmt.Sprintf(format, args...)})
	}
}

// lines calls fn for each non-empty line.
func (p *parser) lines(r io.Reader, max int, fn func(line []byte) error) error {
	p.ls = syslog.NewLinesMax(r, max)
	for {
		line, err := p.ls.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p.st.Lines++
		if p.ls.Truncated {
			p.report("line longer than %d bytes, %d bytes skipped", max, p.ls.Dropped)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if err := fn(nil); err != nil {
				return err
			}
			continue
		}
		if err := fn(line); err != nil {
			return err
		}
	}
}

// records calls fn with the record parse reads from each non-empty line of
// rd, one record a line. A line parse refuses is reported under the
// manager's name, unless the error is errPass.
func (p *parser) records(rd io.Reader, manager string, parse func(line []byte) (Record, error), fn func(*Record) error) (Stats, error) {
	err := p.lines(rd, syslog.MaxLine, func(line []byte) error {
		if line == nil {
			return nil
		}
		r, err := parse(line)
		if err == errPass {
			return nil
		}
		if err != nil {
			p.report("%s: %v", manager, err)
			return nil
		}
		r.Line = p.ls.Line()
		p.st.Records++
		return fn(&r)
	})
	return p.st, err
}

var (
	errFormat = errors.New("unrecognised line")
	// errPass marks a line that carries no package event and is not worth
	// a warning.
	errPass = errors.New("no package event")
)

// localTime reads "2006-01-02 15:04:05" in loc (UTC when nil).
func localTime(s string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
	if err != nil {
		return t, err
	}
	return t.UTC(), nil
}

// ParseDpkgLine parses one dpkg.log line ("2026-09-12 02:15:30 install
// bash:amd64 <none> 5.2-1"), reading its local time in loc.
func ParseDpkgLine(line []byte, loc *time.Location) (Record, error) {
	r := Record{Manager: "dpkg", Local: true}
	if len(line) < 20 || line[19] != ' ' {
		return r, errFormat
	}
	t, err := localTime(string(line[:19]), loc)
	if err != nil {
		return r, fmt.Errorf("time stamp: %v", err)
	}
	r.Time = t
	r.Body = string(line[20:])
	f := strings.Fields(r.Body)
	if len(f) == 0 {
		return r, errFormat
	}
	r.Action = f[0]
	none := func(v string) string {
		if v == "<none>" {
			return ""
		}
		return v
	}
	switch r.Action {
	case "install", "upgrade", "remove", "purge", "configure", "trigproc":
		if len(f) != 4 {
			return r, fmt.Errorf("%s: %d fields, want 4", r.Action, len(f))
		}
		r.Package, r.Arch, _ = strings.Cut(f[1], ":")
		r.OldVersion, r.Version = none(f[2]), none(f[3])
	case "status":
		if len(f) != 4 {
			return r, fmt.Errorf("status: %d fields, want 4", len(f))
		}
		r.Status = f[1]
		r.Package, r.Arch, _ = strings.Cut(f[2], ":")
		r.Version = none(f[3])
	}
	return r, nil
}

// ParseDpkg reads a dpkg.log, calling fn for each line in order.
func ParseDpkg(rd io.Reader, loc *time.Location, fn func(*Record) error, problem func(syslog.Problem)) (Stats, error) {
	p := &parser{problem: problem}
	return p.records(rd, "dpkg", func(line []byte) (Record, error) { return ParseDpkgLine(line, loc) }, fn)
}

// aptMaxLine bounds a history.log line: one line lists every package of a
// transaction, which for a release upgrade is thousands.
const aptMaxLine = 4 << 20

// ParseAptHistory reads apt's history.log: blocks of "Start-Date:",
// "Commandline:", "Requested-By:", "Install:", "Upgrade:", "Remove:",
// "Purge:", "Downgrade:", "Reinstall:", "End-Date:". fn is called for each
// package of each block, at the block's Start-Date (local time in loc).
func ParseAptHistory(rd io.Reader, loc *time.Location, fn func(*Record) error, problem func(syslog.Problem)) (Stats, error) {
	p := &parser{problem: problem}
	var (
		in       bool
		start    time.Time
		startLn  int64
		cmd      string
		user     string
		uid      string
		ops      []aptOp
		opsBytes int
	)
	flush := func() error {
		if !in {
			return nil
		}
		in = false
		for _, op := range ops {
			for _, pkg := range splitAptList(op.list) {
				r := aptRecord(pkg, op.field)
				r.Time, r.Local, r.Line = start, true, startLn
				r.Command, r.User, r.UID = cmd, user, uid
				p.st.Records++
				if err := fn(&r); err != nil {
					return err
				}
			}
		}
		ops, opsBytes = ops[:0], 0
		return nil
	}
	err := p.lines(rd, aptMaxLine, func(line []byte) error {
		if line == nil {
			return flush()
		}
		k, v, ok := strings.Cut(string(line), ": ")
		if !ok {
			k, ok = strings.CutSuffix(string(line), ":")
			if !ok {
				p.report("apt: %v", errFormat)
				return nil
			}
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Start-Date":
			if err := flush(); err != nil {
				return err
			}
			// apt writes two spaces between date and time.
			t, err := localTime(strings.Join(strings.Fields(v), " "), loc)
			if err != nil {
				p.report("apt: Start-Date: %v", err)
				return nil
			}
			in, start, startLn = true, t, p.ls.Line()
			cmd, user, uid = "", "", ""
		case "Commandline":
			cmd = v
		case "Requested-By":
			user, uid = v, ""
			if i := strings.LastIndex(v, " ("); i >= 0 && strings.HasSuffix(v, ")") {
				user, uid = v[:i], v[i+2:len(v)-1]
			}
		case "Install", "Upgrade", "Remove", "Purge", "Downgrade", "Reinstall":
			if !in {
				p.report("apt: %s outside a Start-Date block", k)
				return nil
			}
			if opsBytes+len(v) > 4*aptMaxLine {
				p.report("apt: transaction too large, %s skipped", k)
				return nil
			}
			ops = append(ops, aptOp{field: k, list: v})
			opsBytes += len(v)
		case "End-Date", "Error", "Comment":
			if k == "End-Date" {
				return flush()
			}
		default:
			p.report("apt: unknown field %.40q", k)
		}
		return nil
	})
	if err != nil {
		return p.st, err
	}
	return p.st, flush()
}

type aptOp struct{ field, list string }

// splitAptList splits "a:amd64 (1.0, automatic), b:amd64 (1.0, 1.1)" at
// the ", " that follows a closing parenthesis.
func splitAptList(s string) []string {
	var out []string
	for s != "" {
		i := strings.Index(s, "), ")
		if i < 0 {
			out = append(out, strings.TrimSpace(s))
			break
		}
		out = append(out, strings.TrimSpace(s[:i+1]))
		s = s[i+3:]
	}
	return out
}

// aptRecord reads "name:arch (v1[, v2|automatic])".
func aptRecord(s, field string) Record {
	r := Record{Manager: "apt", Action: strings.ToLower(field), Body: field + ": " + s}
	name, vers, _ := strings.Cut(s, " (")
	r.Package, r.Arch, _ = strings.Cut(name, ":")
	vers = strings.TrimSuffix(vers, ")")
	parts := strings.Split(vers, ", ")
	for i, v := range parts {
		parts[i] = strings.TrimSpace(v)
	}
	if len(parts) > 0 && parts[len(parts)-1] == "automatic" {
		r.Automatic = true
		parts = parts[:len(parts)-1]
	}
	switch {
	case len(parts) >= 2:
		r.OldVersion, r.Version = parts[0], parts[1]
	case len(parts) == 1 && (r.Action == "remove" || r.Action == "purge"):
		r.OldVersion = parts[0]
	case len(parts) == 1:
		r.Version = parts[0]
	}
	return r
}

// ParseYumLine parses a yum.log line ("Dec 16 04:41:22 Installed:
// unzip-6.0-24.el7_9.x86_64"); yc gives the year and zone.
func ParseYumLine(line []byte, yc *syslog.YearContext) (Record, error) {
	r := Record{Manager: "yum", Local: true}
	st, rest, err := syslog.ParseStamp(line)
	if err != nil {
		return r, err
	}
	r.Body = string(bytes.TrimSpace(rest))
	act, pkg, ok := strings.Cut(r.Body, ": ")
	if !ok || strings.ContainsRune(act, ' ') {
		return r, errFormat
	}
	r.Time = yc.Place(st)
	r.Action = yumAction(act)
	setNEVRA(&r, strings.TrimSpace(pkg))
	return r, nil
}

// ParseYum reads a yum.log. Its stamps have no year: run syslog.ScanYears
// over the file first to start yc at the right year.
func ParseYum(rd io.Reader, yc *syslog.YearContext, fn func(*Record) error, problem func(syslog.Problem)) (Stats, error) {
	p := &parser{problem: problem}
	return p.records(rd, "yum", func(line []byte) (Record, error) { return ParseYumLine(line, yc) }, fn)
}

func yumAction(a string) string {
	switch a {
	case "Installed", "Dep-Installed":
		return "install"
	case "Updated", "Upgrade":
		return "upgrade"
	case "Erased", "Erase":
		return "remove"
	case "Reinstall", "Reinstalled":
		return "reinstall"
	case "Downgrade":
		return "downgrade"
	case "Obsoleted", "Obsolete":
		return "obsolete"
	}
	return strings.ToLower(a)
}

// setNEVRA splits "[epoch:]name-version-release.arch"; a bare name (old
// yum's "Erased: unzip") stays a name.
func setNEVRA(r *Record, s string) {
	if e, rest, ok := strings.Cut(s, ":"); ok && e != "" && strings.Trim(e, "0123456789") == "" {
		r.Epoch, s = e, rest
	}
	nvr, arch := s, ""
	if i := strings.LastIndexByte(s, '.'); i > 0 && isArch(s[i+1:]) {
		nvr, arch = s[:i], s[i+1:]
	}
	i := strings.LastIndexByte(nvr, '-')
	j := -1
	if i > 0 {
		j = strings.LastIndexByte(nvr[:i], '-')
	}
	if arch == "" || j <= 0 {
		r.Package = s
		return
	}
	r.Package, r.Version, r.Arch = nvr[:j], nvr[j+1:], arch
}

func isArch(a string) bool {
	switch a {
	case "x86_64", "noarch", "i686", "i386", "i586", "aarch64", "ppc64le", "ppc64", "s390x", "armv7hl", "armv7hnl", "src", "riscv64", "loongarch64":
		return true
	}
	return false
}

// ParseDnfLine parses a dnf.rpm.log line ("2023-01-15T10:20:30+0000
// SUBDEBUG Installed: bash-5.1.8-4.el9.x86_64"), a dnf.log command line
// ("… DDEBUG Command: dnf install nmap") or a dnf5.log start line ("…
// [1234] INFO --- DNF5 launched with arguments: "dnf5 install htop" ---").
// Other dnf lines return an error wrapping errFormat, as they carry no
// package event.
func ParseDnfLine(line []byte) (Record, error) {
	r := Record{Manager: "dnf"}
	stamp, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return r, errFormat
	}
	t, err := dnfTime(string(stamp))
	if err != nil {
		return r, err
	}
	r.Time = t
	lvl, body, _ := bytes.Cut(rest, []byte(" "))
	if len(lvl) > 2 && lvl[0] == '[' { // dnf5: "[pid] LEVEL"
		_, body, _ = bytes.Cut(body, []byte(" "))
	}
	r.Body = string(bytes.TrimSpace(body))
	switch {
	case strings.HasPrefix(r.Body, "Command: "):
		r.Action, r.Command = "command", r.Body[len("Command: "):]
		return r, nil
	case strings.HasPrefix(r.Body, "--- DNF5 launched with arguments: "):
		c := strings.TrimPrefix(r.Body, "--- DNF5 launched with arguments: ")
		c = strings.TrimSpace(strings.TrimSuffix(c, "---"))
		r.Action, r.Command = "command", strings.Trim(c, `"`)
		return r, nil
	}
	act, pkg, ok := strings.Cut(r.Body, ": ")
	if !ok || strings.ContainsRune(act, ' ') || string(lvl) != "SUBDEBUG" {
		return r, errFormat
	}
	r.Action = yumAction(act)
	setNEVRA(&r, strings.TrimSpace(pkg))
	return r, nil
}

func dnfTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("time stamp %.40q: %w", s, errFormat)
}

// ParseDnf reads dnf.rpm.log, dnf.log or dnf5.log, calling fn for package
// and command records; other lines are passed over silently, lines without
// a stamp are reported.
func ParseDnf(rd io.Reader, fn func(*Record) error, problem func(syslog.Problem)) (Stats, error) {
	p := &parser{problem: problem}
	return p.records(rd, "dnf", func(line []byte) (Record, error) {
		r, err := ParseDnfLine(line)
		// Stamped lines without a package event and the continuations of
		// multi-line dnf.log messages are passed over; a line that starts
		// like a stamp but is not one is reported.
		if err != nil && (!r.Time.IsZero() || !startsWithDigit(line)) {
			err = errPass
		}
		return r, err
	}, fn)
}

func startsWithDigit(b []byte) bool { return len(b) > 0 && b[0] >= '0' && b[0] <= '9' }
