// Package packages reads the guest's package-manager logs — dpkg.log, apt's
// history.log, yum.log, dnf.rpm.log, dnf.log and dnf5.log, each with its
// rotations (.1, .2.gz, -YYYYMMDD), oldest first — and turns every package
// installed, upgraded, downgraded or removed into a timeline event.
//
// On RPM-family guests it also reads the two databases that survive log
// wiping (package rpmdb): the rpm database, whose headers record each
// installed package's install time, and dnf's transaction history (yum's
// on CentOS/RHEL ≤ 7, /var/lib/yum/history/history-*.sqlite), which
// records who (login uid) ran which command when and what it changed.
// A removed package leaves the rpm database, so only the history and the
// logs tell of it.
//
// dpkg.log, history.log and yum.log write local time: it is converted with
// the guest's zone (artifacts.Env.Zone), which is recorded on the event.
// yum.log's stamps also lack the year; it is inferred as for syslog (see
// package syslog): anchored to the file's modification time, a new year
// started where the month goes backwards. dnf's logs carry a UTC offset.
//
// # Events
//
//   - Source is the manager: "dpkg", "apt", "yum" or "dnf", or "rpm"
//     for the rpm database. dnf's and yum's histories give Source "dnf"
//     and "yum" too, told apart from the logs by their Evidence.Path.
//   - TimestampDesc: "Package installed" (install, reinstall), "Package
//     upgraded", "Package downgraded", "Package removed" (remove, purge,
//     erase, obsoleted), and for dnf's command lines "Package command".
//     dpkg's configure, trigproc, status, startup and conffile lines,
//     dnf's "Upgraded"/"Cleanup" halves of an upgrade are counted as
//     records but give no event: they repeat what the events above tell.
//   - rpm database: one "Package installed" per package, at its
//     INSTALLTIME (the package's current version: upgrades replace the
//     header).
//   - dnf/yum history: per transaction a "Package command" at its begin
//     time, message "dnf transaction N (state): command line — counts"
//     (state "unknown": yum recorded no end, the transaction was cut), then one
//     event per package installed, upgraded, downgraded, reinstalled or
//     removed by it at the same time (the replaced halves of upgrades give
//     their version as old_version, not an event of their own).
//   - Message: the log line after its stamp (dpkg, yum, dnf); for apt
//     "Install: name:arch (version)" and the command line; rpm
//     "Installed: NEVRA".
//   - User: apt's Requested-By name; for dnf/yum history the login uid's name
//     in the guest's /etc/passwd. Zone: the zone local times were read
//     in (dpkg, apt, yum); empty for dnf and rpm.
//   - Evidence.Path is the rotated file read, Evidence.Line the 1-based
//     line (apt: the transaction's Start-Date line). For the databases,
//     Evidence.Path is the database file and Evidence.Offset the byte
//     offset of the package's record (sqlite cell or Berkeley DB item) or
//     of the transaction's row.
//   - Attrs (lower_snake, only those present): "package", "version",
//     "old_version", "arch", "epoch", "action", "automatic" ("true"),
//     "command", "uid", "manager"; rpm adds "hnum" (the record number),
//     "vendor", "packager", "source_rpm", "build_time"; histories add
//     "transaction", "state", "reason", "repo", "items", "releasever",
//     "end".
package packages

import (
	"context"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/artifacts/syslog"
	"github.com/coldcase-dfir/coldcase/timeline"
)

func init() {
	artifacts.Register(artifacts.Extractor{Name: "packages", Order: 20, Run: Run})
}

// Logs maps each log read (under the guest root) to its format.
var Logs = []struct{ Path, Format string }{
	{"var/log/dpkg.log", "dpkg"},
	{"var/log/apt/history.log", "apt"},
	{"var/log/yum.log", "yum"},
	{"var/log/dnf.rpm.log", "dnf"},
	{"var/log/dnf.log", "dnf"},
	{"var/log/dnf5.log", "dnf"},
}

// FileSummary is what was read from one file.
type FileSummary struct {
	Path   string    `json:"path"`
	Format string    `json:"format"`
	Stats  Stats     `json:"stats"`
	Events int64     `json:"events"`
	First  time.Time `json:"first,omitzero"`
	Last   time.Time `json:"last,omitzero"`
	Error  string    `json:"error,omitempty"`
}

// Summary is the extractor's result.
type Summary struct {
	Files []FileSummary `json:"files"`
	// Databases: the rpm database and dnf's history, when present.
	Databases []DBSummary    `json:"databases,omitempty"`
	Counts    map[string]int `json:"counts"` // events per TimestampDesc
}

// Run reads the guest's package logs.
func Run(ctx context.Context, env *artifacts.Env) (any, error) {
	sum := &Summary{Counts: map[string]int{}}
	for _, l := range Logs {
		for _, p := range artifacts.Rotated(env.FS, l.Path) {
			if err := ctx.Err(); err != nil {
				return sum, err
			}
			sum.Files = append(sum.Files, readFile(ctx, env, p, l.Format, sum))
		}
	}
	readRPMDB(ctx, env, sum)
	readHistory(ctx, env, sum)
	return sum, ctx.Err()
}

func readFile(ctx context.Context, env *artifacts.Env, name, format string, sum *Summary) FileSummary {
	fsum := FileSummary{Path: "/" + name, Format: format}
	lf, err := env.OpenLogFile(format, name)
	if err != nil {
		fsum.Error = err.Error()
		return fsum
	}
	defer lf.Close()
	loc := env.Zone
	if loc == nil {
		loc = time.UTC
	}
	var yc *syslog.YearContext
	if format == "yum" {
		span, err := syslog.ScanFileYears(env.FS, name)
		if err != nil {
			fsum.Error = lf.Fail(err)
			return fsum
		}
		mtime := lf.Info.ModTime()
		if mtime.Year() < 1971 {
			env.Warn(artifacts.Warning{Source: format, Path: fsum.Path,
				Msg: "no usable modification time to infer the year of its time stamps; the current year is used"})
			mtime = time.Now()
		}
		yc = syslog.NewYearContext(span.StartYear(mtime, loc), loc)
	}
	ev := env.Evidence(fsum.Path)
	problem := func(p syslog.Problem) { lf.Warn(p.Line, p.Offset, p.Msg) }
	emit := func(r *Record) error {
		if err := lf.Cancelled(ctx); err != nil {
			return err
		}
		te, ok := Event(r, env.ZoneName)
		if !ok {
			return nil
		}
		te.Evidence = ev
		te.Evidence.Line = r.Line
		artifacts.Widen(&fsum.First, &fsum.Last, te.Time)
		fsum.Events++
		sum.Counts[te.TimestampDesc]++
		return env.Emit(te)
	}
	switch format {
	case "dpkg":
		fsum.Stats, err = ParseDpkg(lf, loc, emit, problem)
	case "apt":
		fsum.Stats, err = ParseAptHistory(lf, loc, emit, problem)
	case "yum":
		fsum.Stats, err = ParseYum(lf, yc, emit, problem)
	default:
		fsum.Stats, err = ParseDnf(lf, emit, problem)
	}
	lf.Flush()
	fsum.Error = lf.Stopped(err)
	return fsum
}

// descs maps a record's action to its event's TimestampDesc; actions not
// listed give no event.
var descs = map[string]string{
	"install":   "Package installed",
	"reinstall": "Package installed",
	"upgrade":   "Package upgraded",
	"downgrade": "Package downgraded",
	"remove":    "Package removed",
	"purge":     "Package removed",
	"obsolete":  "Package removed",
	"command":   "Package command",
}

// Event turns a record into a timeline event following the package's
// conventions; ok is false for records that give no event. zone is
// recorded on events read in local time. The evidence is left for the
// caller.
func Event(r *Record, zone string) (te timeline.Event, ok bool) {
	desc, ok := descs[r.Action]
	if !ok {
		return te, false
	}
	te = timeline.Event{
		Time:          r.Time,
		TimestampDesc: desc,
		Source:        r.Manager,
		Message:       r.Body,
		User:          r.User,
		Attrs:         map[string]string{},
	}
	if r.Local {
		te.Zone = zone
	}
	if r.Manager == "apt" && r.Command != "" {
		te.Message += " — " + r.Command
	}
	set := func(k, v string) {
		if v != "" {
			te.Attrs[k] = v
		}
	}
	set("package", r.Package)
	set("version", r.Version)
	set("old_version", r.OldVersion)
	set("arch", r.Arch)
	set("epoch", r.Epoch)
	set("action", r.Action)
	set("command", r.Command)
	set("uid", r.UID)
	set("manager", r.Manager)
	if r.Automatic {
		set("automatic", "true")
	}
	return te, true
}
