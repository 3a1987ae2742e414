// Package persistence lists what a guest runs without anyone typing it:
// cron (crontab, cron.d, cron.{hourly,daily,weekly,monthly}, user spools,
// anacrontab), at jobs, systemd units and timers (system and per user,
// enabled through *.wants links, drop-ins, generators), SysV init scripts
// and their rc?.d links, rc.local, /etc/ld.so.preload, shell profile lines
// that fetch or run code, udev RUN+= rules, kernel modules configured to
// load, desktop autostart, update-motd.d scripts, apt hooks and pam_exec.
// Each entry says what runs, when or on what trigger, as whom, from which
// file, with the file's times; events mark when those files changed.
//
// Events, one per file read (not per entry): cron / "Cron job file
// modified" and "Cron job file created" (crontabs, cron.d, spools,
// anacrontab, cron scripts, at jobs), cron / "At job scheduled run" (the
// time an at job is set for); systemd / "Systemd unit file modified",
// "Systemd unit file created", "Systemd unit enabled (link modified)" (the
// mtime of a .wants link, when the FS can Lstat); persistence /
// "Persistence file modified" and "Persistence file created" for the rest.
//
// It registers as "persistence"; the CLI maps "--only cron" to it too.
package persistence

import (
	"context"
	"errors"
	iofs "io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/artifacts/users"
	"github.com/coldcase-dfir/coldcase/timeline"
)

func init() {
	artifacts.Register(artifacts.Extractor{
		Name:  "persistence",
		Order: 10,
		Run: func(ctx context.Context, env *artifacts.Env) (any, error) {
			return Extract(ctx, env)
		},
	})
}

// Entry kinds.
const (
	KindCron        = "cron"        // a line of /etc/crontab, cron.d or a user spool
	KindCronScript  = "cron_script" // a script in /etc/cron.{hourly,daily,weekly,monthly}
	KindAnacron     = "anacron"
	KindAt          = "at"
	KindService     = "systemd_service"
	KindTimer       = "systemd_timer"
	KindSocket      = "systemd_socket"
	KindPath        = "systemd_path"
	KindDropIn      = "systemd_dropin" // X.service.d/*.conf overriding a unit
	KindSysV        = "sysv_init"
	KindRcLocal     = "rc_local"
	KindPreload     = "ld_preload"
	KindProfile     = "shell_profile" // a profile/rc line with an indicator
	KindUdev        = "udev_run"
	KindModule      = "kernel_module"    // /etc/modules, modules-load.d
	KindModprobeRun = "modprobe_install" // modprobe.d "install" command
)

// Entry flags.
const (
	FlagAdminAdded     = "admin_added"      // unit/rule file outside /usr/lib and /lib: written by an admin or an attacker
	FlagExecOutsideUsr = "exec_outside_usr" // runs an absolute path outside /usr and the merged /bin, /sbin, /lib*
	FlagMasked         = "masked"           // unit linked to /dev/null
	FlagUnknownOwner   = "unknown_owner"    // a cron spool named after no account
	// FlagRunPartsIgnored: Debian's cron and run-parts skip files in
	// cron.d and cron.{hourly,…} whose names are not [A-Za-z0-9_-]+
	// ("x.sh"); cronie (RHEL) runs them.
	FlagRunPartsIgnored = "name_ignored_by_debian_cron"
)

func runPartsName(n string) bool {
	if n == "" {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Entry is one thing the guest runs by itself.
type Entry struct {
	Kind string `json:"kind"`
	File string `json:"file"`
	Line int64  `json:"line,omitempty"`
	// Schedule is when or on what it runs: a cron schedule, "@reboot",
	// "hourly", an at time, OnCalendar=…, "boot", "login", "udev: …".
	Schedule string `json:"schedule,omitempty"`
	Command  string `json:"command,omitempty"`
	// Owner is the account it runs as (cron user field, spool name,
	// User=, at's uid), or the file's owner when nothing else says.
	Owner string `json:"owner,omitempty"`
	// systemd: the unit's name, whether a *.wants/*.requires link enables
	// it, and the targets or units that pull it in.
	Unit     string   `json:"unit,omitempty"`
	Enabled  *bool    `json:"enabled,omitempty"`
	WantedBy []string `json:"wanted_by,omitempty"`
	// Details are kind-specific fields (Description, Type, OnCalendar,
	// runlevels, module name, …).
	Details    map[string]string `json:"details,omitempty"`
	UnitFile   *Unit             `json:"unit_file,omitempty"`
	Flags      []string          `json:"flags,omitempty"`
	Indicators []string          `json:"indicators,omitempty"` // see Indicators
	FileMeta   users.FileMeta    `json:"file_meta"`
	// Evidence points at the file and line (image, volume, inode).
	Evidence timeline.Evidence `json:"evidence"`
}

// Report is the persistence extractor's record set.
type Report struct {
	Entries []Entry `json:"entries"`
	// Files are every file read, with their times.
	Files []users.FileMeta `json:"files"`
}

// Event sources and descriptions.
const (
	SourceCron        = "cron"
	SourceSystemd     = "systemd"
	SourcePersistence = "persistence"

	DescCronModified    = "Cron job file modified"
	DescCronCreated     = "Cron job file created"
	DescUnitModified    = "Systemd unit file modified"
	DescUnitCreated     = "Systemd unit file created"
	DescFileModified    = "Persistence file modified"
	DescFileCreated     = "Persistence file created"
	DescAtRun           = "At job scheduled run"
	DescAutostartLinked = "Systemd unit enabled (link modified)"
)

type extraction struct {
	ctx   context.Context
	env   *artifacts.Env
	rep   *Report
	names map[uint32]string
	seen  map[string]bool // files already reported
	homes []homeDir
}

type homeDir struct{ user, path string }

func (x *extraction) warn(p string, line int64, msg string) {
	x.env.Warn(artifacts.Warning{Source: "persistence", Path: users.Abs(p), Line: line, Msg: msg})
}

func isNotExist(err error) bool { return errors.Is(err, iofs.ErrNotExist) }

// Extract runs the persistence extractor.
func Extract(ctx context.Context, env *artifacts.Env) (*Report, error) {
	x := &extraction{ctx: ctx, env: env, rep: &Report{}, names: map[uint32]string{}, seen: map[string]bool{}}
	x.accounts()
	for _, step := range []func(){x.cron, x.at, x.systemd, x.sysv, x.rcLocal, x.preload, x.profiles, x.udev, x.modules, x.more} {
		if err := ctx.Err(); err != nil {
			return x.rep, err
		}
		step()
	}
	return x.rep, nil
}

func (x *extraction) accounts() {
	data, err := artifacts.ReadSmall(x.env.FS, "etc/passwd")
	seen := map[string]bool{}
	if err == nil {
		pw, _ := users.ParsePasswd(data)
		for _, u := range pw {
			if _, ok := x.names[u.UID]; !ok {
				x.names[u.UID] = u.Name
			}
			h := users.Abs(u.Home)
			if u.Home != "" && h != "/" && !seen[h] {
				seen[h] = true
				x.homes = append(x.homes, homeDir{u.Name, h})
			}
		}
	}
	if ents, err := iofs.ReadDir(x.env.FS, "home"); err == nil {
		for _, e := range ents {
			if h := "/home/" + e.Name(); e.IsDir() && !seen[h] {
				seen[h] = true
				x.homes = append(x.homes, homeDir{e.Name(), h})
			}
		}
	}
}

func (x *extraction) hasUser(name string) bool {
	for _, n := range x.names {
		if n == name {
			return true
		}
	}
	return false
}

// read reads a small file and records it (once) with an event of the
// given group; missing files are silent.
func (x *extraction) read(p, source, descMod, descNew string) ([]byte, users.FileMeta, bool) {
	p = x.resolve(users.Abs(p))
	data, err := artifacts.ReadSmall(x.env.FS, p)
	if err != nil {
		if !isNotExist(err) {
			x.warn(p, 0, err.Error())
		}
		return nil, users.FileMeta{}, false
	}
	m, _ := users.MetaOf(x.env.FS, p)
	if !x.seen[p] {
		x.seen[p] = true
		x.rep.Files = append(x.rep.Files, m)
		ev := x.env.Evidence(p)
		x.emit(timeline.Event{Time: m.Mtime, TimestampDesc: descMod, Source: source, Path: p, Evidence: ev, Message: descMod + ": " + p})
		if m.Btime != nil {
			x.emit(timeline.Event{Time: *m.Btime, TimestampDesc: descNew, Source: source, Path: p, Evidence: ev, Message: descNew + ": " + p})
		}
	}
	return data, m, true
}

// configLines reads a configuration file of the persistence group (see
// read) and calls fn with each of its lines trimmed of white space, passing
// over blank lines and those that start with one of the comment bytes;
// lines too long to read are warned about.
func (x *extraction) configLines(p, comment string, fn func(n int64, t string, m users.FileMeta)) {
	data, m, ok := x.read(p, SourcePersistence, DescFileModified, DescFileCreated)
	if !ok {
		return
	}
	var errs []LineError
	eachLine(data, func(n int64, l string) {
		t := strings.TrimSpace(l)
		if t == "" || strings.IndexByte(comment, t[0]) >= 0 {
			return
		}
		fn(n, t, m)
	}, &errs)
	x.lineErrs(p, errs)
}

func (x *extraction) emit(ev timeline.Event) {
	if ev.Time.IsZero() {
		return
	}
	if err := x.env.Emit(ev); err != nil {
		x.warn(ev.Path, 0, "event sink: "+err.Error())
	}
}

func (x *extraction) add(e Entry) {
	if e.Indicators == nil {
		e.Indicators = Indicators(e.Command)
	}
	if e.Owner == "" && e.FileMeta.UID != nil {
		e.Owner = x.names[*e.FileMeta.UID]
	}
	e.Evidence = x.env.Evidence(e.File)
	e.Evidence.Line = e.Line
	x.rep.Entries = append(x.rep.Entries, e)
}

func (x *extraction) lineErrs(p string, errs []LineError) {
	for _, e := range errs {
		x.warn(p, e.Line, e.Msg)
	}
}

// files lists the regular files (or symlinks) of a folder, sorted.
func (x *extraction) files(dir string) []string {
	out, err := artifacts.FilesIn(x.env.FS, dir)
	if err != nil && !isNotExist(err) {
		x.warn(dir, 0, err.Error())
	}
	return out
}

func (x *extraction) cron() {
	crontab := func(p string, system bool, owner string) {
		data, m, ok := x.read(p, SourceCron, DescCronModified, DescCronCreated)
		if !ok {
			return
		}
		lines, errs := ParseCrontab(data, system)
		x.lineErrs(p, errs)
		for _, c := range lines {
			e := Entry{Kind: KindCron, File: users.Abs(p), Line: c.Line, Schedule: c.Schedule, Command: c.Command, Owner: c.User, FileMeta: m}
			if strings.HasPrefix(p, "/etc/cron.d/") && !runPartsName(path.Base(p)) {
				e.Flags = append(e.Flags, FlagRunPartsIgnored)
			}
			if !system {
				e.Owner = owner
				if len(x.names) > 0 && !x.hasUser(owner) {
					e.Flags = append(e.Flags, FlagUnknownOwner)
				}
			}
			x.add(e)
		}
	}
	crontab("/etc/crontab", true, "")
	for _, p := range x.files("/etc/cron.d") {
		crontab(p, true, "")
	}
	for _, dir := range []string{"/var/spool/cron/crontabs", "/var/spool/cron"} {
		for _, p := range x.files(dir) {
			crontab(p, false, path.Base(p))
		}
	}
	if data, m, ok := x.read("/etc/anacrontab", SourceCron, DescCronModified, DescCronCreated); ok {
		lines, errs := ParseAnacrontab(data)
		x.lineErrs("/etc/anacrontab", errs)
		for _, c := range lines {
			x.add(Entry{Kind: KindAnacron, File: "/etc/anacrontab", Line: c.Line, Schedule: "period " + c.Schedule, Command: c.Command, Owner: c.User,
				Details: map[string]string{"job_id": c.JobID}, FileMeta: m})
		}
	}
	for _, period := range []string{"hourly", "daily", "weekly", "monthly"} {
		for _, p := range x.files("/etc/cron." + period) {
			data, m, ok := x.read(p, SourceCron, DescCronModified, DescCronCreated)
			if !ok {
				continue
			}
			e := Entry{Kind: KindCronScript, File: p, Schedule: period, Command: p, Owner: "root", FileMeta: m, Indicators: scriptIndicators(data)}
			if !runPartsName(path.Base(p)) {
				e.Flags = append(e.Flags, FlagRunPartsIgnored)
			}
			x.add(e)
		}
	}
}

// scriptIndicators collects the indicators of every non-comment line of a
// script; compiled programs (anything not starting with "#!") have none.
func scriptIndicators(data []byte) []string {
	if !strings.HasPrefix(string(data[:min(len(data), 2)]), "#!") {
		return []string{}
	}
	seen := map[string]bool{}
	var out []string
	var errs []LineError
	eachLine(data, func(n int64, l string) {
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' {
			return
		}
		for _, i := range Indicators(t) {
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
	}, &errs)
	return out
}

func (x *extraction) at() {
	for _, dir := range []string{"/var/spool/cron/atjobs", "/var/spool/at"} {
		for _, p := range x.files(dir) {
			base := path.Base(p)
			if strings.HasPrefix(base, ".") {
				continue // .SEQ
			}
			data, m, ok := x.read(p, SourceCron, DescCronModified, DescCronCreated)
			if !ok {
				continue
			}
			j := ParseAtJob(base, data)
			e := Entry{Kind: KindAt, File: p, Line: j.Line, Command: j.Command, FileMeta: m,
				Details: map[string]string{"queue": j.Queue, "job": strconv.FormatInt(j.Number, 10)}}
			if j.UID != nil {
				e.Owner = x.names[*j.UID]
				e.Details["uid"] = strconv.FormatUint(uint64(*j.UID), 10)
			}
			if j.RunAt != nil {
				e.Schedule = j.RunAt.Format("2006-01-02T15:04Z")
				x.emit(timeline.Event{Time: *j.RunAt, TimestampDesc: DescAtRun, Source: SourceCron, Path: p, User: e.Owner,
					Evidence: x.env.Evidence(p), Message: "at job " + base + " set to run: " + j.Command})
			}
			x.add(e)
		}
	}
}

func (x *extraction) rcLocal() {
	for _, p := range []string{"/etc/rc.local", "/etc/rc.d/rc.local"} {
		x.configLines(p, "#", func(n int64, t string, m users.FileMeta) {
			if t != "exit 0" {
				x.add(Entry{Kind: KindRcLocal, File: p, Line: n, Schedule: "boot", Command: t, Owner: "root", FileMeta: m})
			}
		})
	}
}

func (x *extraction) preload() {
	p := "/etc/ld.so.preload"
	data, m, ok := x.read(p, SourcePersistence, DescFileModified, DescFileCreated)
	if !ok {
		return
	}
	var errs []LineError
	eachLine(data, func(n int64, l string) {
		for _, lib := range strings.FieldsFunc(l, func(r rune) bool { return r == ' ' || r == '\t' || r == ':' }) {
			if strings.HasPrefix(lib, "#") {
				break
			}
			x.add(Entry{Kind: KindPreload, File: p, Line: n, Schedule: "every dynamically linked program", Command: lib, FileMeta: m,
				Indicators: append([]string{"ld_preload"}, Indicators(lib)...)})
		}
	}, &errs)
	x.lineErrs(p, errs)
}

func (x *extraction) profiles() {
	scan := func(p, owner, when string) {
		x.configLines(p, "#", func(n int64, t string, m users.FileMeta) {
			if ind := Indicators(t); len(ind) > 0 {
				x.add(Entry{Kind: KindProfile, File: p, Line: n, Schedule: when, Command: t, Owner: owner, FileMeta: m, Indicators: ind})
			}
		})
	}
	for _, p := range []string{"/etc/profile", "/etc/bash.bashrc", "/etc/bashrc", "/etc/zsh/zshrc", "/etc/zshrc", "/etc/zsh/zprofile", "/etc/environment"} {
		scan(p, "", "login")
	}
	for _, p := range x.files("/etc/profile.d") {
		scan(p, "", "login")
	}
	for _, h := range x.homes {
		for _, n := range []string{".bashrc", ".profile", ".bash_profile", ".bash_login", ".bash_logout", ".zshrc", ".zprofile", ".zlogin"} {
			when := "login"
			if n == ".bash_logout" {
				when = "logout"
			} else if n == ".bashrc" || n == ".zshrc" {
				when = "interactive shell"
			}
			scan(path.Join(h.path, n), h.user, when)
		}
	}
}

func (x *extraction) udev() {
	for _, dir := range []string{"/etc/udev/rules.d", "/lib/udev/rules.d", "/usr/lib/udev/rules.d"} {
		if dir == "/lib/udev/rules.d" && x.isLink("lib") {
			continue
		}
		for _, p := range x.files(dir) {
			if !strings.HasSuffix(p, ".rules") {
				continue
			}
			x.configLines(p, "#", func(n int64, t string, m users.FileMeta) {
				var runs, match []string
				for _, kv := range splitUdev(t) {
					if strings.HasPrefix(kv, "RUN") {
						if _, v, ok := strings.Cut(kv, "="); ok {
							runs = append(runs, strings.Trim(strings.TrimSpace(v), `"`))
						}
					} else if strings.Contains(kv, "==") {
						match = append(match, kv)
					}
				}
				for _, r := range runs {
					e := Entry{Kind: KindUdev, File: p, Line: n, Schedule: "udev: " + strings.Join(match, ", "), Command: r, Owner: "root", FileMeta: m}
					if strings.HasPrefix(p, "/etc/") {
						e.Flags = append(e.Flags, FlagAdminAdded)
					}
					x.add(e)
				}
			})
		}
	}
}

// splitUdev splits a rule line at commas outside double quotes.
func splitUdev(l string) []string {
	var out []string
	inQ := false
	start := 0
	for i := 0; i < len(l); i++ {
		switch l[i] {
		case '"':
			inQ = !inQ
		case ',':
			if !inQ {
				out = append(out, strings.TrimSpace(l[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(l[start:]))
}

func (x *extraction) modules() {
	list := func(p string) {
		x.configLines(p, "#;", func(n int64, t string, m users.FileMeta) {
			f := strings.Fields(t)
			x.add(Entry{Kind: KindModule, File: p, Line: n, Schedule: "boot", Command: t, Owner: "root", FileMeta: m,
				Details: map[string]string{"module": f[0]}, Indicators: []string{}})
		})
	}
	list("/etc/modules")
	for _, dir := range []string{"/etc/modules-load.d", "/usr/lib/modules-load.d", "/lib/modules-load.d"} {
		if dir == "/lib/modules-load.d" && x.isLink("lib") {
			continue
		}
		for _, p := range x.files(dir) {
			if strings.HasSuffix(p, ".conf") {
				list(p)
			}
		}
	}
	for _, dir := range []string{"/etc/modprobe.d", "/usr/lib/modprobe.d", "/lib/modprobe.d"} {
		if dir == "/lib/modprobe.d" && x.isLink("lib") {
			continue
		}
		for _, p := range x.files(dir) {
			x.configLines(p, "#", func(n int64, t string, m users.FileMeta) {
				f := strings.Fields(t)
				if len(f) >= 3 && f[0] == "install" {
					cmd := strings.TrimSpace(strings.SplitN(t, f[1], 2)[1])
					e := Entry{Kind: KindModprobeRun, File: p, Line: n, Schedule: "modprobe " + f[1], Command: cmd, Owner: "root", FileMeta: m,
						Details: map[string]string{"module": f[1]}}
					if strings.HasPrefix(p, "/etc/") {
						e.Flags = append(e.Flags, FlagAdminAdded)
					}
					x.add(e)
				}
			})
		}
	}
}

// isLink reports whether a top-level guest path is a symlink (merged /usr:
// /lib → usr/lib), so the same folder is not read twice.
func (x *extraction) isLink(name string) bool {
	if rl, ok := x.env.FS.(iofs.ReadLinkFS); ok {
		if fi, err := rl.Lstat(name); err == nil {
			return fi.Mode()&iofs.ModeSymlink != 0
		}
		return false
	}
	// MapFS and other FSes without Lstat: ReadDir of the parent tells.
	ents, err := iofs.ReadDir(x.env.FS, ".")
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name() == name {
			return e.Type()&iofs.ModeSymlink != 0
		}
	}
	return false
}

func (x *extraction) sysv() {
	runlevels := map[string][]string{} // script → "2", "3", …
	for _, rl := range []string{"0", "1", "2", "3", "4", "5", "6", "S"} {
		for _, dir := range []string{"/etc/rc" + rl + ".d", "/etc/rc.d/rc" + rl + ".d"} {
			for _, p := range x.files(dir) {
				b := path.Base(p)
				if len(b) > 3 && b[0] == 'S' {
					name := strings.TrimLeft(b[1:], "0123456789")
					if target := x.linkTarget(p); target != "" {
						name = path.Base(target)
					}
					runlevels[name] = append(runlevels[name], rl)
				}
			}
		}
	}
	for _, dir := range []string{"/etc/init.d", "/etc/rc.d/init.d"} {
		for _, p := range x.files(dir) {
			b := path.Base(p)
			if b == "README" || b == "skeleton" || b == "functions" {
				continue
			}
			data, m, ok := x.read(p, SourcePersistence, DescFileModified, DescFileCreated)
			if !ok {
				continue
			}
			rls := runlevels[b]
			e := Entry{Kind: KindSysV, File: p, Schedule: "boot", Command: p, Owner: "root", FileMeta: m, Indicators: scriptIndicators(data)}
			enabled := len(rls) > 0
			e.Enabled = &enabled
			if enabled {
				e.Details = map[string]string{"runlevels": strings.Join(rls, ",")}
				e.Schedule = "boot, runlevels " + strings.Join(rls, ",")
			}
			x.add(e)
		}
	}
}

// resolve follows symlinks in the last element of p itself, resolving
// absolute targets against the guest's root: os.DirFS and fstest.MapFS
// would otherwise fail on them (or, for os.DirFS, read the host's file).
// At most 40 links are followed, as the kernel does.
func (x *extraction) resolve(p string) string {
	for i := 0; i < 40; i++ {
		t := x.linkTarget(p)
		if t == "" {
			return p
		}
		if strings.HasPrefix(t, "/") {
			p = users.Abs(t)
		} else {
			p = users.Abs(path.Join(path.Dir(p), t))
		}
	}
	return p
}

// linkTarget returns a symlink's target, or "" when p is not a symlink or
// the FS cannot tell.
func (x *extraction) linkTarget(p string) string {
	if rl, ok := x.env.FS.(iofs.ReadLinkFS); ok {
		if t, err := rl.ReadLink(users.Rel(p)); err == nil {
			return t
		}
	}
	return ""
}
