// Package syslog reads the guest's text syslog files — /var/log/syslog,
// messages, auth.log, secure, cron, daemon.log, kern.log … and their
// rotations (.1, .2.gz, .xz, -YYYYMMDD), oldest first — and turns every
// record into a timeline event, classifying authentication messages (sshd,
// sudo, su, shadow-utils, cron, systemd-logind, pam_unix).
//
// Three line formats are read: RFC 3164 ("Jan  2 15:04:05 host
// prog[pid]: msg", local time without year), RFC 3339 (rsyslog's default
// file format on modern distributions: "2026-09-12T02:15:30.123456+02:00
// host prog[pid]: msg") and RFC 5424 ("<PRI>1 TIMESTAMP HOST APP PROCID
// MSGID SD MSG"). A line without a stamp continues the message before it.
//
// An RFC 3164 stamp has no year. A first pass over the file counts the new
// years it spans (a month going backwards by more than one, Dec → Jan) and
// finds its last stamp; the last stamp is placed in the year of the file's
// modification time, or the year before when it would otherwise fall after
// that time (26 hours of slack for clock and zone errors); earlier stamps
// get their year by walking the rollovers back. Local stamps are converted
// to UTC with the guest's zone (artifacts.Env.Zone).
//
// Lines are bounded (MaxLine); a longer line is cut and reported, binary
// data and unparsable lines become warnings, never errors. Memory does not
// grow with the size of a log.
//
// # Events
//
// Every record gives one event:
//
//   - Source is "auth" when the message was classified (ParseAuth), else
//     "syslog".
//   - TimestampDesc is, for auth events: "SSH login accepted", "SSH login
//     failed", "SSH invalid user", "SSH connection", "SSH disconnect",
//     "sudo", "su", "User added", "User modified", "User deleted", "Group
//     added", "Group deleted", "Password changed", "Authentication failure",
//     "Session opened", "Session closed", "Cron session", "Cron command",
//     "Login session", "Session removed"; for other records "Log entry".
//   - Message is "prog[pid]: message" as logged; Host the record's host
//     (the guest's host name when the line has none); IP the remote
//     address where the message names one. User is the account the event
//     is about: the one logged into (SSH, sessions, cron), the one who ran
//     sudo or su (the target is Attrs["runas"]), the account added,
//     modified, deleted or whose password changed.
//   - Zone is the zone an RFC 3164 stamp was converted from; empty for
//     RFC 3339 and RFC 5424 stamps, which carry their offset.
//   - Evidence.Path is the guest path of the file read (the rotated file
//     itself, e.g. /var/log/auth.log.2.gz), Evidence.Line the 1-based line
//     number of the record's first line in the decompressed file.
//   - Attrs (lower_snake keys, only those known): "program", "pid",
//     "format" (rfc3164, rfc3339, rfc5424, comment), "priority",
//     "msgid", "structured_data"; from ParseAuth "port", "method"
//     (password, publickey, keyboard-interactive/pam…), "protocol",
//     "key_type", "fingerprint", "certificate", "invalid_user", "stage",
//     "repeated" (rsyslog's "message repeated N times"), "command", "tty",
//     "pwd", "runas", "rungroup", "result", "service", "uid", "gid", "by",
//     "home", "shell", "from", "group", "change", "session", "ruser",
//     "logname".
package syslog

import (
	"context"
	"fmt"
	"io"
	iofs "io/fs"
	"path"
	"sort"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/timeline"
)

func init() {
	artifacts.Register(artifacts.Extractor{Name: "syslog", Order: 20, Run: Run})
}

// Logs are the syslog files read under /var/log, each with its rotations.
var Logs = []string{
	"syslog", "messages", "auth.log", "secure", "cron", "cron.log",
	"daemon.log", "kern.log", "user.log", "debug", "mail.log", "maillog",
}

// FileSummary is what was read from one file.
type FileSummary struct {
	Path      string    `json:"path"`
	Stats     Stats     `json:"stats"`
	Events    int64     `json:"events"`
	StartYear int       `json:"start_year,omitempty"` // year given to the first RFC 3164 stamp
	First     time.Time `json:"first,omitzero"`
	Last      time.Time `json:"last,omitzero"`
	Error     string    `json:"error,omitempty"`
}

// Login is an accepted SSH login.
type Login struct {
	Time        time.Time         `json:"time"`
	User        string            `json:"user"`
	IP          string            `json:"ip"`
	Port        string            `json:"port,omitempty"`
	Method      string            `json:"method,omitempty"`
	Fingerprint string            `json:"fingerprint,omitempty"`
	Evidence    timeline.Evidence `json:"evidence"`
}

// MaxLogins bounds Summary.Logins.
const MaxLogins = 10000

// Summary is the extractor's result.
type Summary struct {
	Files           []FileSummary  `json:"files"`
	Counts          map[string]int `json:"counts"` // events per TimestampDesc
	Logins          []Login        `json:"logins,omitempty"`
	LoginsTruncated bool           `json:"logins_truncated,omitempty"`
}

// Run reads the guest's syslog files.
func Run(ctx context.Context, env *artifacts.Env) (any, error) {
	sum := &Summary{Counts: map[string]int{}}
	for _, base := range Logs {
		for _, p := range artifacts.Rotated(env.FS, path.Join("var/log", base)) {
			if err := ctx.Err(); err != nil {
				return sum, err
			}
			fs := ReadFile(ctx, env, p, sum)
			sum.Files = append(sum.Files, fs)
		}
	}
	sort.SliceStable(sum.Logins, func(i, j int) bool { return sum.Logins[i].Time.Before(sum.Logins[j].Time) })
	return sum, nil
}

// ReadFile reads one syslog file of env's guest (path relative to its
// root), emitting its events and adding them to sum.
func ReadFile(ctx context.Context, env *artifacts.Env, name string, sum *Summary) FileSummary {
	fsum := FileSummary{Path: "/" + name}
	lf, err := env.OpenLogFile("syslog", name)
	if err != nil {
		fsum.Error = err.Error()
		return fsum
	}
	defer lf.Close()
	span, err := ScanFileYears(env.FS, name)
	if err != nil {
		fsum.Error = lf.Fail(err)
		return fsum
	}
	loc := env.Zone
	if loc == nil {
		loc = time.UTC
	}
	mtime := lf.Info.ModTime()
	if span.Found && mtime.Year() < 1971 {
		env.Warn(artifacts.Warning{Source: "syslog", Path: fsum.Path,
			Msg: "no usable modification time to infer the year of its time stamps; the current year is used"})
		mtime = time.Now()
	}
	ev := env.Evidence(fsum.Path)
	yc := NewYearContext(span.StartYear(mtime, loc), loc)
	if span.Found {
		fsum.StartYear = yc.Year
	}
	emit := func(e *Entry) error {
		if err := lf.Cancelled(ctx); err != nil {
			return err
		}
		te := Event(e, env.ZoneName)
		te.Evidence = ev
		te.Evidence.Line = e.Line
		artifacts.Widen(&fsum.First, &fsum.Last, te.Time)
		sum.Counts[te.TimestampDesc]++
		if te.TimestampDesc == "SSH login accepted" {
			if len(sum.Logins) < MaxLogins {
				sum.Logins = append(sum.Logins, Login{Time: te.Time, User: te.User, IP: te.IP,
					Port: te.Attrs["port"], Method: te.Attrs["method"], Fingerprint: te.Attrs["fingerprint"], Evidence: te.Evidence})
			} else {
				sum.LoginsTruncated = true
			}
		}
		fsum.Events++
		return env.Emit(te)
	}
	fsum.Stats, err = Parse(lf, yc, emit, func(p Problem) { lf.Warn(p.Line, p.Offset, p.Msg) })
	lf.Flush()
	fsum.Error = lf.Stopped(err)
	return fsum
}

// ScanFileYears runs ScanYears over a log of the guest (name relative to
// its root), decompressed as by artifacts.OpenLog. A file cut short in its
// compressed stream still gives the stamps read before the cut.
func ScanFileYears(fsys iofs.FS, name string) (YearSpan, error) {
	rc, err := artifacts.OpenLog(fsys, name)
	if err != nil {
		return YearSpan{}, err
	}
	defer rc.Close()
	span, err := ScanYears(rc)
	if err != nil && err != io.ErrUnexpectedEOF {
		return span, err
	}
	return span, nil
}

// Event turns a record into a timeline event following the package's
// conventions; zone is recorded on events whose stamp was local time. The
// evidence is left for the caller.
func Event(e *Entry, zone string) timeline.Event {
	r := &e.Record
	te := timeline.Event{
		Time:          r.Time,
		TimestampDesc: "Log entry",
		Source:        "syslog",
		Host:          r.Host,
		Message:       messageLine(r),
	}
	if r.Local {
		te.Zone = zone
	}
	if a, ok := ParseAuth(r.Program, r.Message); ok {
		te.Source = "auth"
		te.TimestampDesc = a.Desc
		te.User, te.IP = a.User, a.IP
		te.Attrs = a.Attrs // ParseAuth made it with room for the keys below
	}
	if te.Attrs == nil {
		te.Attrs = make(map[string]string, 4)
	}
	set := func(k, v string) {
		if v != "" {
			te.Attrs[k] = v
		}
	}
	set("program", r.Program)
	set("pid", r.PID)
	set("format", r.Format.String())
	if r.Priority >= 0 {
		set("priority", fmt.Sprint(r.Priority))
	}
	set("msgid", r.MsgID)
	set("structured_data", r.StructuredData)
	return te
}

func messageLine(r *Record) string {
	switch {
	case r.Program == "":
		return r.Message
	case r.PID != "":
		return r.Program + "[" + r.PID + "]: " + r.Message
	}
	return r.Program + ": " + r.Message
}
