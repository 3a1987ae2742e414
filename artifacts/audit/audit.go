// Package audit reads the Linux audit log (/var/log/audit/audit.log and its
// rotations audit.log.1, audit.log.2 …, oldest first), in auditd's RAW and
// ENRICHED formats, groups its records into events by their stamp and
// serial, and emits one timeline event per audit event.
//
// Records of one event share "msg=audit(SECS.MS:SERIAL)". The kernel writes
// them together and closes multi-record events with EOE; Parse keeps a
// small, bounded number of open events, so interleaved records still group
// and memory stays flat on any log size. Hex-encoded strings (EXECVE
// arguments, USER_CMD's cmd, proctitle, names with spaces) are decoded.
//
// # Events
//
//   - Source "audit"; Zone empty (audit stamps are epoch seconds).
//   - TimestampDesc "Audit " + the event's type: EXECVE when the event has
//     an EXECVE record, else the type of its first record ("Audit
//     USER_LOGIN", "Audit USER_CMD", "Audit SYSCALL", "Audit ADD_USER" …).
//   - Message: for EXECVE the decoded command line; for USER_CMD the
//     decoded command; else the first record's body as logged; prefixed by
//     the type.
//   - User: acct of user-space records, else the login user (enriched
//     AUID name, else auid unless unset), else uid. IP: addr when it is an
//     address. Host: the node= name when logged. Path: the executable (exe).
//   - Evidence.Path is the rotated file read, Evidence.Line the 1-based
//     line of the event's first record.
//   - Attrs (lower_snake, only those present): "audit_serial",
//     "audit_type", "audit_types" (all record types, comma separated),
//     "exe", "comm", "args" (EXECVE argv joined by spaces), "argc", "cmd",
//     "cwd", "proctitle", "syscall" (name when enriched, else number),
//     "success", "exit", "result" (res=), "pid", "ppid", "uid", "auid",
//     "euid", "gid", "ses", "tty", "terminal", "hostname", "addr", "acct",
//     "op", "key", "subj", "paths" (PATH names, comma separated).
package audit

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/artifacts/syslog"
	"github.com/coldcase-dfir/coldcase/timeline"
)

// Event is the records that share one stamp and serial.
type Event struct {
	Serial  uint64
	Time    time.Time
	Line    int64 // 1-based line of the first record
	Records []Record
	size    int  // bytes of the records' lines
	capped  bool // records were skipped
}

// Stats counts what Parse saw.
type Stats struct {
	Lines    int64 `json:"lines"`
	Records  int64 `json:"records"`
	Events   int64 `json:"events"`
	Problems int64 `json:"problems,omitempty"`
}

const (
	maxOpen            = 32       // events kept open waiting for more records
	maxRecordsPerEvent = 1024     // records kept per event; the rest are counted
	maxOpenBytes       = 16 << 20 // bytes of records held in open events
	maxEventBytes      = 4 << 20  // bytes of records kept per event
)

type key struct {
	t      time.Time
	serial uint64
}

// Parse reads an audit log and calls fn for each event, in the order of
// their first records. Unparsable lines are reported to problem (which may
// be nil); Parse stops at the first error from fn or r.
func Parse(r io.Reader, fn func(*Event) error, problem func(syslog.Problem)) (Stats, error) {
	var st Stats
	report := func(line, off int64, format string, args ...any) {
		st.Problems++
		if problem != nil {
			problem(syslog.Problem{Line: line, Offset: off, Msg: fmt.Sprintf(format, args...)})
		}
	}
	var open []*Event // in order of first record
	held := 0         // bytes held in open
	flushTo := func(i int) error {
		for _, e := range open[:i+1] {
			held -= e.size
			st.Events++
			if err := fn(e); err != nil {
				return err
			}
		}
		n := copy(open, open[i+1:])
		clear(open[n:])
		open = open[:n]
		return nil
	}
	ls := syslog.NewLines(r)
	for {
		line, err := ls.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, err
		}
		st.Lines++
		if ls.Truncated {
			report(ls.Line(), ls.Offset(), "line longer than %d bytes, %d bytes skipped", syslog.MaxLine, ls.Dropped)
		}
		if len(line) == 0 {
			continue
		}
		rec, err := ParseRecord(line)
		if err != nil {
			report(ls.Line(), ls.Offset(), "%v", err)
			continue
		}
		st.Records++
		k := key{rec.Time, rec.Serial}
		i := len(open) - 1
		for ; i >= 0; i-- {
			if open[i].Serial == k.serial && open[i].Time.Equal(k.t) {
				break
			}
		}
		if i < 0 {
			if len(open) == maxOpen {
				if err := flushTo(0); err != nil {
					return st, err
				}
			}
			open = append(open, &Event{Serial: rec.Serial, Time: rec.Time, Line: ls.Line()})
			i = len(open) - 1
		}
		e := open[i]
		if rec.Type == "EOE" {
			// The end of a multi-record event: it and the events opened
			// before it are complete.
			if err := flushTo(i); err != nil {
				return st, err
			}
			continue
		}
		switch {
		case len(e.Records) < maxRecordsPerEvent && e.size+len(line) <= maxEventBytes:
			e.Records = append(e.Records, rec)
			e.size += len(line)
			held += len(line)
		case !e.capped:
			e.capped = true
			report(ls.Line(), ls.Offset(), "event %d has more than %d records or %d bytes; the rest are skipped", e.Serial, maxRecordsPerEvent, maxEventBytes)
		}
		for held > maxOpenBytes && len(open) > 1 {
			if err := flushTo(0); err != nil {
				return st, err
			}
		}
	}
	if len(open) > 0 {
		return st, flushTo(len(open) - 1)
	}
	return st, nil
}

// Type is the event's type: EXECVE when it has an EXECVE record, else its
// first record's type.
func (e *Event) Type() string {
	for i := range e.Records {
		if e.Records[i].Type == "EXECVE" {
			return "EXECVE"
		}
	}
	if len(e.Records) == 0 {
		return "EOE"
	}
	return e.Records[0].Type
}

// first returns the decoded value of key in the first record holding it.
func (e *Event) first(key string) string {
	for i := range e.Records {
		if v := e.Records[i].Value(key); v != "" {
			return v
		}
	}
	return ""
}

func (e *Event) enriched(key string) string {
	for i := range e.Records {
		if v, ok := e.Records[i].GetEnriched(key); ok {
			return v
		}
	}
	return ""
}

func (e *Event) record(typ string) *Record {
	for i := range e.Records {
		if e.Records[i].Type == typ {
			return &e.Records[i]
		}
	}
	return nil
}

const unsetID = "4294967295"

// TimelineEvent turns an audit event into a timeline event following the
// package's conventions. The evidence is left for the caller.
func TimelineEvent(e *Event) timeline.Event {
	typ := e.Type()
	te := timeline.Event{
		Time:          e.Time,
		TimestampDesc: "Audit " + typ,
		Source:        "audit",
		Attrs:         map[string]string{},
	}
	set := func(k, v string) {
		if v != "" && v != "?" && v != "(null)" {
			te.Attrs[k] = v
		}
	}
	set("audit_serial", strconv.FormatUint(e.Serial, 10))
	set("audit_type", typ)
	var types []string
	for i := range e.Records {
		if len(types) < 64 && (len(types) == 0 || types[len(types)-1] != e.Records[i].Type) {
			types = append(types, e.Records[i].Type)
		}
	}
	set("audit_types", strings.Join(types, ","))
	for _, k := range []string{"exe", "comm", "cwd", "proctitle", "success", "exit", "pid", "ppid", "uid", "auid", "euid", "gid", "ses",
		"tty", "terminal", "hostname", "addr", "acct", "op", "key", "subj"} {
		set(k, e.first(k))
	}
	set("result", e.first("res"))
	sc := e.enriched("SYSCALL")
	if sc == "" {
		sc = e.first("syscall")
	}
	set("syscall", sc)
	var paths []string
	for i := range e.Records {
		if e.Records[i].Type == "PATH" && len(paths) < 64 {
			if n := e.Records[i].Value("name"); n != "" && n != "(null)" {
				paths = append(paths, n)
			}
		}
	}
	set("paths", strings.Join(paths, ","))

	body := ""
	if len(e.Records) > 0 {
		body = e.Records[0].Body
	}
	switch typ {
	case "EXECVE":
		args := Args(e.record("EXECVE"))
		body = strings.Join(args, " ")
		set("args", body)
		set("argc", e.record("EXECVE").Value("argc"))
	case "USER_CMD":
		body = e.first("cmd")
		set("cmd", body)
	}
	te.Message = typ + " " + body

	switch {
	case te.Attrs["acct"] != "":
		te.User = te.Attrs["acct"]
	case e.enriched("AUID") != "" && e.enriched("AUID") != "unset":
		te.User = e.enriched("AUID")
	case te.Attrs["auid"] != "" && te.Attrs["auid"] != unsetID && te.Attrs["auid"] != "-1":
		te.User = te.Attrs["auid"]
	case e.enriched("UID") != "":
		te.User = e.enriched("UID")
	default:
		te.User = te.Attrs["uid"]
	}
	if a, err := netip.ParseAddr(te.Attrs["addr"]); err == nil {
		te.IP = a.String()
	}
	if len(e.Records) > 0 {
		te.Host = e.Records[0].Node
	}
	te.Path = te.Attrs["exe"]
	return te
}

func init() {
	artifacts.Register(artifacts.Extractor{Name: "audit", Order: 20, Run: Run})
}

// FileSummary is what was read from one file.
type FileSummary struct {
	Path  string    `json:"path"`
	Stats Stats     `json:"stats"`
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
	Error string    `json:"error,omitempty"`
}

// Summary is the extractor's result.
type Summary struct {
	Files  []FileSummary  `json:"files"`
	Counts map[string]int `json:"counts"` // events per type
}

// maxCountKeys bounds Summary.Counts: types come from the log.
const maxCountKeys = 256

// Run reads the guest's audit logs.
func Run(ctx context.Context, env *artifacts.Env) (any, error) {
	sum := &Summary{Counts: map[string]int{}}
	for _, p := range artifacts.Rotated(env.FS, "var/log/audit/audit.log") {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		sum.Files = append(sum.Files, readFile(ctx, env, p, sum))
	}
	return sum, nil
}

func readFile(ctx context.Context, env *artifacts.Env, name string, sum *Summary) FileSummary {
	fsum := FileSummary{Path: "/" + name}
	lf, err := env.OpenLogFile("audit", name)
	if err != nil {
		fsum.Error = err.Error()
		return fsum
	}
	defer lf.Close()
	ev := env.Evidence(fsum.Path)
	fsum.Stats, err = Parse(lf, func(e *Event) error {
		if err := lf.Cancelled(ctx); err != nil {
			return err
		}
		te := TimelineEvent(e)
		te.Evidence = ev
		te.Evidence.Line = e.Line
		artifacts.Widen(&fsum.First, &fsum.Last, te.Time)
		t := te.Attrs["audit_type"]
		if _, ok := sum.Counts[t]; ok || len(sum.Counts) < maxCountKeys {
			sum.Counts[t]++
		} else {
			sum.Counts["other"]++
		}
		return env.Emit(te)
	}, func(p syslog.Problem) { lf.Warn(p.Line, p.Offset, p.Msg) })
	lf.Flush()
	fsum.Error = lf.Stopped(err)
	return fsum
}
