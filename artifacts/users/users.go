// Package users extracts accounts and access from a guest: /etc/passwd,
// shadow, group, gshadow, sudoers with its includes, each home's SSH
// authorized_keys and known_hosts, shell histories (bash, zsh, fish),
// .lesshst and .viminfo. It flags what an investigator checks first (a
// second UID 0, duplicate UIDs, login shells on system accounts, empty
// passwords, recently changed authorized_keys) and emits timeline events
// for password changes, key files and commands.
//
// Events (source / timestamp_desc): accounts / "Modification Time" for
// passwd, shadow, group, gshadow and each sudoers file; shadow / "Password
// changed" (day precision); ssh / "Authorized key file modified" and
// "Authorized key file created"; shell_history / "Shell command" (time the
// shell recorded) or "Shell history (before)" (no recorded time: the next
// recorded time or the file's mtime bounds it); viminfo / "Vim file
// opened". Every event's evidence names the file, its inode when known and
// the line.
package users

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/timeline"
)

func init() {
	artifacts.Register(artifacts.Extractor{
		Name:  "users",
		Order: 10,
		Run: func(ctx context.Context, env *artifacts.Env) (any, error) {
			return Extract(ctx, env, DefaultOptions())
		},
	})
}

// Options tune the extractor.
type Options struct {
	// RecentWindow: an authorized_keys file modified within this time
	// before the reference time is flagged.
	RecentWindow time.Duration
	// Reference is the time "recent" is measured back from. Zero: the
	// newest modification time among /var/log's files, else the newest
	// time of the files this extractor read.
	Reference time.Time
}

// DefaultOptions flags keys added in the 30 days before the newest log.
func DefaultOptions() Options { return Options{RecentWindow: 30 * 24 * time.Hour} }

// Flags set on User.Flags.
const (
	FlagUID0            = "uid0_not_root"        // UID 0 on an account other than root
	FlagDuplicateUID    = "duplicate_uid"        // another account has the same UID
	FlagSystemShell     = "system_account_shell" // UID below UID_MIN (not root) with a login shell
	FlagEmptyPassword   = "empty_password"       // passwd or shadow password field empty: login without password
	FlagRecentKey       = "recent_authorized_keys"
	FlagNoAccount       = "home_without_account" // a /home folder with no passwd entry (deleted user?)
	FlagShadowOnly      = "shadow_without_passwd"
	FlagSudoNoPasswd    = "sudo_nopasswd"  // a sudoers spec names the user (or a group of theirs) with NOPASSWD
	FlagPasswordInPassw = "hash_in_passwd" // passwd's password field holds a hash instead of "x"
)

// User is one account with everything known about it.
type User struct {
	PasswdEntry
	// Source: "passwd"; "shadow" (a shadow line without passwd line) or
	// "home" (a /home folder without account), whose UID and GID are
	// unknown and set to 4294967295, (uid_t)-1.
	Source string       `json:"source"`
	Shadow *ShadowEntry `json:"shadow,omitempty"`
	// PrimaryGroup is the name of GID's group; Groups lists every group
	// naming the user as member (group and gshadow).
	PrimaryGroup string   `json:"primary_group,omitempty"`
	Groups       []string `json:"groups,omitempty"`
	LoginShell   bool     `json:"login_shell"` // Shell is not nologin/false/sync/…
	// Sudo: a sudoers user specification names the account, one of its
	// groups, a User_Alias holding it, or ALL.
	Sudo       bool     `json:"sudo"`
	System     bool     `json:"system"` // UID below UID_MIN (other than 0) or nobody
	HomeExists bool     `json:"home_exists"`
	Flags      []string `json:"flags,omitempty"`
	// Evidence is the passwd line (or shadow line, or home folder).
	Evidence timeline.Evidence `json:"evidence"`
}

// History is one shell history file.
type History struct {
	File     string            `json:"file"`
	User     string            `json:"user,omitempty"`
	Shell    string            `json:"shell"` // "bash", "zsh", "fish"
	FileMeta FileMeta          `json:"file_meta"`
	Entries  []HistoryEntry    `json:"entries"`
	Evidence timeline.Evidence `json:"evidence"`
}

// LessHistory is one .lesshst.
type LessHistory struct {
	File     string            `json:"file"`
	User     string            `json:"user,omitempty"`
	FileMeta FileMeta          `json:"file_meta"`
	Entries  []LessEntry       `json:"entries"`
	Evidence timeline.Evidence `json:"evidence"`
}

// Viminfo is one .viminfo.
type Viminfo struct {
	File     string            `json:"file"`
	User     string            `json:"user,omitempty"`
	FileMeta FileMeta          `json:"file_meta"`
	Entries  []ViminfoEntry    `json:"entries"`
	Evidence timeline.Evidence `json:"evidence"`
}

// SessionUser is an account seen only in a desktop session's environment
// logged to syslog (gdm's dbus-update-activation-environment lines):
// directory users (sssd, LDAP) have no passwd line.
type SessionUser struct {
	Name  string `json:"name"`
	Home  string `json:"home,omitempty"`
	Shell string `json:"shell,omitempty"`
	File  string `json:"file"`
	Line  int64  `json:"line"` // the USER= line
}

// Report is the users extractor's record set.
type Report struct {
	Users          []User          `json:"users"`
	Groups         []GroupEntry    `json:"groups"`
	Sudoers        []SudoRule      `json:"sudoers"`
	AuthorizedKeys []AuthorizedKey `json:"authorized_keys"`
	KnownHosts     []KnownHost     `json:"known_hosts"`
	Histories      []History       `json:"histories"`
	Less           []LessHistory   `json:"less,omitempty"`
	Viminfo        []Viminfo       `json:"viminfo,omitempty"`
	SessionUsers   []SessionUser   `json:"session_users,omitempty"`
	SSHD           *SSHDConfig     `json:"sshd,omitempty"`
	// Files are the account files read, with their times.
	Files []FileMeta `json:"files"`
	// Reference and RecentWindow are what FlagRecentKey was measured with.
	Reference    time.Time     `json:"reference_time"`
	RecentWindow time.Duration `json:"recent_window_ns"`
}

// Event sources and descriptions this extractor emits.
const (
	SourceAccounts = "accounts" // account files' own times
	SourceShadow   = "shadow"
	SourceSSH      = "ssh"
	SourceHistory  = "shell_history"
	SourceViminfo  = "viminfo"

	DescPasswordChanged = "Password changed"
	DescKeyFileModified = "Authorized key file modified"
	DescKeyFileCreated  = "Authorized key file created"
	DescFileModified    = "Modification Time"
	DescShell           = "Shell command"
	DescShellBefore     = "Shell history (before)"
	DescVimFile         = "Vim file opened"
)

func readSmall(fsys iofs.FS, p string) ([]byte, error) { return artifacts.ReadSmall(fsys, Rel(p)) }

func isNotExist(err error) bool { return errors.Is(err, iofs.ErrNotExist) }

type extraction struct {
	ctx    context.Context
	env    *artifacts.Env
	opts   Options
	rep    *Report
	newest time.Time
}

func (x *extraction) warn(p string, line int64, msg string) {
	x.env.Warn(artifacts.Warning{Source: "users", Path: Abs(p), Line: line, Msg: msg})
}

func (x *extraction) lineErrs(p string, errs []LineError) {
	for _, e := range errs {
		x.warn(p, e.Line, e.Msg)
	}
}

func (x *extraction) evidence(p string, line int64) timeline.Evidence {
	ev := x.env.Evidence(p)
	ev.Line = line
	return ev
}

func (x *extraction) emit(ev timeline.Event, p string, line int64) {
	ev.Evidence = x.env.Evidence(p)
	ev.Evidence.Line = line
	if ev.Path == "" {
		ev.Path = Abs(p)
	}
	if err := x.env.Emit(ev); err != nil {
		x.warn(p, line, "event sink: "+err.Error())
	}
}

// read reads an account-sized file, noting its metadata; missing files are
// silent.
func (x *extraction) read(p string) ([]byte, FileMeta, bool) {
	data, err := readSmall(x.env.FS, p)
	if err != nil {
		if !isNotExist(err) {
			x.warn(p, 0, err.Error())
		}
		return nil, FileMeta{}, false
	}
	m, _ := MetaOf(x.env.FS, p)
	if m.Mtime.After(x.newest) {
		x.newest = m.Mtime
	}
	return data, m, true
}

// Extract runs the users extractor.
func Extract(ctx context.Context, env *artifacts.Env, opts Options) (*Report, error) {
	x := &extraction{ctx: ctx, env: env, opts: opts, rep: &Report{RecentWindow: opts.RecentWindow}}
	rep := x.rep
	fsys := env.FS

	var pw []PasswdEntry
	if data, m, ok := x.read("/etc/passwd"); ok {
		var errs []LineError
		pw, errs = ParsePasswd(data)
		x.lineErrs("/etc/passwd", errs)
		rep.Files = append(rep.Files, m)
	}
	shadow := map[string]*ShadowEntry{}
	var shadowOrder []string
	if data, m, ok := x.read("/etc/shadow"); ok {
		sh, errs := ParseShadow(data)
		x.lineErrs("/etc/shadow", errs)
		rep.Files = append(rep.Files, m)
		for i := range sh {
			if _, dup := shadow[sh[i].Name]; !dup {
				shadow[sh[i].Name] = &sh[i]
				shadowOrder = append(shadowOrder, sh[i].Name)
			}
		}
	}
	if data, m, ok := x.read("/etc/group"); ok {
		var errs []LineError
		rep.Groups, errs = ParseGroup(data)
		x.lineErrs("/etc/group", errs)
		for i := range rep.Groups {
			rep.Groups[i].Evidence = x.evidence("/etc/group", rep.Groups[i].Line)
		}
		rep.Files = append(rep.Files, m)
	}
	if data, m, ok := x.read("/etc/gshadow"); ok {
		gs, errs := ParseGshadow(data)
		x.lineErrs("/etc/gshadow", errs)
		rep.Files = append(rep.Files, m)
		byName := map[string]GshadowEntry{}
		for _, g := range gs {
			byName[g.Name] = g
		}
		for i := range rep.Groups {
			if g, ok := byName[rep.Groups[i].Name]; ok {
				rep.Groups[i].Admins, rep.Groups[i].ShadowMembers, rep.Groups[i].ShadowPassword = g.Admins, g.Members, g.Password
			}
		}
	}
	rep.Sudoers = ReadSudoers(fsys, func(p, msg string) { x.warn(p, 0, msg) })
	for i := range rep.Sudoers {
		rep.Sudoers[i].Evidence = x.evidence(rep.Sudoers[i].File, rep.Sudoers[i].Line)
	}
	seenSudo := map[string]bool{}
	for _, r := range rep.Sudoers {
		if !seenSudo[r.File] {
			seenSudo[r.File] = true
			if m, ok := MetaOf(fsys, r.File); ok {
				rep.Files = append(rep.Files, m)
			}
		}
	}
	for _, m := range rep.Files {
		x.emit(timeline.Event{Time: m.Mtime, TimestampDesc: DescFileModified, Source: SourceAccounts,
			Message: "Account file " + m.Path + " modified"}, m.Path, 0)
	}

	uidMin := loginDefsUIDMin(fsys)
	for _, p := range pw {
		u := User{PasswdEntry: p, Source: "passwd", Shadow: shadow[p.Name]}
		rep.Users = append(rep.Users, u)
	}
	known := map[string]bool{}
	for _, u := range rep.Users {
		known[u.Name] = true
	}
	for _, n := range shadowOrder {
		if !known[n] {
			known[n] = true
			rep.Users = append(rep.Users, User{PasswdEntry: PasswdEntry{Name: n, UID: ^uint32(0), GID: ^uint32(0)}, Source: "shadow", Shadow: shadow[n], Flags: []string{FlagShadowOnly}})
		}
	}
	// Folders under /home with no account: often a deleted user.
	if ents, err := iofs.ReadDir(fsys, "home"); err == nil {
		homes := map[string]bool{}
		for _, u := range rep.Users {
			homes[Abs(u.Home)] = true
		}
		for _, e := range ents {
			h := "/home/" + e.Name()
			if e.IsDir() && !homes[h] {
				rep.Users = append(rep.Users, User{PasswdEntry: PasswdEntry{Name: e.Name(), Home: h, UID: ^uint32(0), GID: ^uint32(0)}, Source: "home", Flags: []string{FlagNoAccount}})
			}
		}
	}
	x.groupsAndFlags(uidMin)
	for i := range rep.Users {
		u := &rep.Users[i]
		switch u.Source {
		case "passwd":
			u.Evidence = x.evidence("/etc/passwd", u.Line)
		case "shadow":
			u.Evidence = x.evidence("/etc/shadow", u.Shadow.Line)
		case "home":
			u.Evidence = x.evidence(u.Home, 0)
		}
	}
	rep.SessionUsers = x.sessionUsers()

	// Per-home artifacts, each home once.
	seenHome := map[string]bool{}
	for i := range rep.Users {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		u := &rep.Users[i]
		h := Abs(u.Home)
		if u.Home == "" || seenHome[h] {
			continue
		}
		seenHome[h] = true
		if fi, err := iofs.Stat(fsys, Rel(h)); err == nil && fi.IsDir() {
			u.HomeExists = true
		} else {
			continue
		}
		x.home(u, h)
	}
	x.rep.SSHD = ReadSSHDConfig(fsys, func(p, msg string) { x.warn(p, 0, msg) })
	if len(x.rep.SSHD.Files) > 0 {
		x.rep.SSHD.Evidence = x.evidence(x.rep.SSHD.File, 0)
	} else {
		x.rep.SSHD = nil
	}
	patterns := defaultKeyFiles
	if x.rep.SSHD != nil {
		patterns = x.rep.SSHD.AuthorizedKeysFile
	}
	x.authorizedKeys(patterns)
	x.flagRecentKeys()
	x.history()
	return rep, nil
}

// loginDefsUIDMin reads UID_MIN from /etc/login.defs (default 1000).
func loginDefsUIDMin(fsys iofs.FS) uint32 {
	data, err := readSmall(fsys, "/etc/login.defs")
	if err != nil {
		return 1000
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "UID_MIN" {
			if v, err := strconv.ParseUint(f[1], 0, 32); err == nil && v > 0 {
				return uint32(v)
			}
		}
	}
	return 1000
}

var noLoginShells = map[string]bool{"nologin": true, "false": true, "sync": true, "shutdown": true, "halt": true, "true": true}

// IsLoginShell reports whether a passwd shell field lets the account log
// in interactively. An empty field means /bin/sh.
func IsLoginShell(shell string) bool {
	s := strings.TrimSpace(shell)
	if s == "" {
		return true
	}
	return !noLoginShells[path.Base(s)]
}

func (x *extraction) groupsAndFlags(uidMin uint32) {
	rep := x.rep
	gidName := map[uint32]string{}
	memberOf := map[string][]string{}
	for _, g := range rep.Groups {
		if _, ok := gidName[g.GID]; !ok {
			gidName[g.GID] = g.Name
		}
		seen := map[string]bool{}
		for _, m := range append(append([]string{}, g.Members...), g.ShadowMembers...) {
			if !seen[m] {
				seen[m] = true
				memberOf[m] = append(memberOf[m], g.Name)
			}
		}
	}
	byUID := map[uint32][]string{}
	for _, u := range rep.Users {
		if u.Source == "passwd" {
			byUID[u.UID] = append(byUID[u.UID], u.Name)
		}
	}
	// Who sudo rules name: "alice", "%wheel", "ALL", with User_Alias
	// names expanded one level (aliases of aliases are rare).
	alias := map[string][]string{}
	for _, r := range rep.Sudoers {
		if r.Kind == "alias" && strings.HasPrefix(r.Who, "User_Alias ") {
			alias[strings.TrimPrefix(r.Who, "User_Alias ")] = strings.Split(r.Commands, ",")
		}
	}
	anySudo, nopw := map[string]bool{}, map[string]bool{}
	for _, r := range rep.Sudoers {
		if r.Kind != "spec" {
			continue
		}
		for _, w := range strings.Split(r.Who, ",") {
			w = strings.TrimSpace(w)
			names := []string{w}
			if members, ok := alias[w]; ok {
				names = names[:0]
				for _, m := range members {
					names = append(names, strings.TrimSpace(m))
				}
			}
			for _, n := range names {
				anySudo[n] = true
				if r.NoPasswd {
					nopw[n] = true
				}
			}
		}
	}
	named := func(m map[string]bool, u *User) bool {
		ok := m[u.Name] || m["ALL"] || m["%"+u.PrimaryGroup] || m["#"+strconv.FormatUint(uint64(u.UID), 10)]
		for _, g := range u.Groups {
			ok = ok || m["%"+g]
		}
		return ok
	}
	for i := range rep.Users {
		u := &rep.Users[i]
		u.Groups = memberOf[u.Name]
		if u.Source != "passwd" {
			continue
		}
		u.PrimaryGroup = gidName[u.GID]
		u.LoginShell = IsLoginShell(u.Shell)
		u.System = (u.UID != 0 && u.UID < uidMin) || u.UID >= 65534
		if u.UID == 0 && u.Name != "root" {
			u.Flags = append(u.Flags, FlagUID0)
		}
		if len(byUID[u.UID]) > 1 {
			u.Flags = append(u.Flags, FlagDuplicateUID)
		}
		if u.System && u.LoginShell {
			u.Flags = append(u.Flags, FlagSystemShell)
		}
		if u.Password == "" || (u.Password == "x" && u.Shadow != nil && u.Shadow.HashType == HashEmpty) {
			u.Flags = append(u.Flags, FlagEmptyPassword)
		}
		if u.Password != "x" && u.Password != "*" && u.Password != "" && !strings.HasPrefix(u.Password, "!") {
			u.Flags = append(u.Flags, FlagPasswordInPassw)
		}
		u.Sudo = named(anySudo, u)
		if named(nopw, u) {
			u.Flags = append(u.Flags, FlagSudoNoPasswd)
		}
		if s := u.Shadow; s != nil {
			if t, ok := s.LastChangeTime(); ok {
				x.emit(timeline.Event{Time: t, TimestampDesc: DescPasswordChanged, Source: SourceShadow, User: u.Name,
					Message: fmt.Sprintf("Password of %s last changed on %s (shadow keeps the day only)", u.Name, s.LastChange),
					Attrs:   map[string]string{"hash_type": s.HashType, "precision": "day"}}, "/etc/shadow", s.Line)
			}
		}
	}
}

// home reads one home folder's SSH files, histories, .lesshst, .viminfo.
func (x *extraction) home(u *User, h string) {
	fsys := x.env.FS
	p := path.Join(h, ".ssh/known_hosts")
	if data, _, ok := x.read(p); ok {
		kh, errs := ParseKnownHosts(p, data)
		x.lineErrs(p, errs)
		for i := range kh {
			kh[i].User = u.Name
			kh[i].Evidence = x.evidence(p, kh[i].Line)
		}
		x.rep.KnownHosts = append(x.rep.KnownHosts, kh...)
	}
	for _, hf := range []struct{ name, shell string }{
		{".bash_history", "bash"}, {".sh_history", "bash"}, {".ash_history", "bash"},
		{".zsh_history", "zsh"}, {".zhistory", "zsh"}, {".histfile", "zsh"},
		{".local/share/fish/fish_history", "fish"}, {".config/fish/fish_history", "fish"},
	} {
		p := path.Join(h, hf.name)
		fi, err := iofs.Stat(fsys, Rel(p))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		m := MetaFromInfo(p, fi)
		f, err := fsys.Open(Rel(p))
		if err != nil {
			x.warn(p, 0, err.Error())
			continue
		}
		var es []HistoryEntry
		var errs []LineError
		switch hf.shell {
		case "bash":
			es, errs = ParseBashHistory(f, m.Mtime)
		case "zsh":
			es, errs = ParseZshHistory(f, m.Mtime)
		default:
			es, errs = ParseFishHistory(f, m.Mtime)
		}
		f.Close()
		x.lineErrs(p, errs)
		x.rep.Histories = append(x.rep.Histories, History{File: Abs(p), User: u.Name, Shell: hf.shell, FileMeta: m, Entries: es, Evidence: x.evidence(p, 0)})
	}
	p = path.Join(h, ".lesshst")
	if data, m, ok := x.read(p); ok {
		x.rep.Less = append(x.rep.Less, LessHistory{File: Abs(p), User: u.Name, FileMeta: m, Entries: ParseLesshst(data), Evidence: x.evidence(p, 0)})
	}
	p = path.Join(h, ".viminfo")
	if data, m, ok := x.read(p); ok {
		v := Viminfo{File: Abs(p), User: u.Name, FileMeta: m, Entries: ParseViminfo(data), Evidence: x.evidence(p, 0)}
		x.rep.Viminfo = append(x.rep.Viminfo, v)
		for _, e := range v.Entries {
			if e.Kind == "file" && e.Time != nil {
				x.emit(timeline.Event{Time: *e.Time, TimestampDesc: DescVimFile, Source: SourceViminfo, User: u.Name,
					Message: u.Name + " opened " + e.Value + " in vim", Attrs: map[string]string{"file": e.Value}}, p, e.Line)
			}
		}
	}
}

// authorizedKeys reads every account's key files as sshd_config's
// AuthorizedKeysFile names them; a file shared by accounts is read once.
func (x *extraction) authorizedKeys(patterns []string) {
	done := map[string]bool{}
	for _, u := range x.rep.Users {
		if u.Source != "passwd" && u.Source != "home" {
			continue
		}
		for _, p := range KeyFilePaths(patterns, u.PasswdEntry) {
			if done[p] {
				continue
			}
			done[p] = true
			data, m, ok := x.read(p)
			if !ok {
				continue
			}
			keys, errs := ParseAuthorizedKeys(p, data)
			x.lineErrs(p, errs)
			for i := range keys {
				keys[i].User, keys[i].FileMeta = u.Name, m
				keys[i].Evidence = x.evidence(p, keys[i].Line)
			}
			x.rep.AuthorizedKeys = append(x.rep.AuthorizedKeys, keys...)
			msg := fmt.Sprintf("authorized_keys of %s modified (%d keys now)", u.Name, len(keys))
			x.emit(timeline.Event{Time: m.Mtime, TimestampDesc: DescKeyFileModified, Source: SourceSSH, User: u.Name, Message: msg}, p, 0)
			if m.Btime != nil {
				x.emit(timeline.Event{Time: *m.Btime, TimestampDesc: DescKeyFileCreated, Source: SourceSSH, User: u.Name,
					Message: "authorized_keys of " + u.Name + " created"}, p, 0)
			}
		}
	}
}

// history emits one event per command with a time.
func (x *extraction) history() {
	for _, h := range x.rep.Histories {
		for _, e := range h.Entries {
			if e.Time == nil {
				continue
			}
			desc, msg := DescShell, h.User+" ran: "+e.Command
			if e.TimeKind == TimeBefore {
				desc, msg = DescShellBefore, h.User+" ran, at or before this time (no time recorded; bounded by the next stamp or the file's mtime): "+e.Command
			}
			x.emit(timeline.Event{Time: *e.Time, TimestampDesc: desc, Source: SourceHistory, User: h.User, Message: msg,
				Attrs: map[string]string{"shell": h.Shell, "command": e.Command, "time_kind": e.TimeKind}}, h.File, e.Line)
		}
	}
}

// flagRecentKeys sets FlagRecentKey on users whose authorized_keys file
// changed within the window before the reference time.
func (x *extraction) flagRecentKeys() {
	ref := x.opts.Reference
	if ref.IsZero() {
		ref = newestLog(x.env.FS)
	}
	if ref.IsZero() {
		ref = x.newest
	}
	x.rep.Reference = ref
	if ref.IsZero() || x.opts.RecentWindow <= 0 {
		return
	}
	recent := map[string]bool{}
	for _, k := range x.rep.AuthorizedKeys {
		if !k.FileMeta.Mtime.Before(ref.Add(-x.opts.RecentWindow)) {
			recent[k.User] = true
		}
	}
	for i := range x.rep.Users {
		if u := &x.rep.Users[i]; recent[u.Name] {
			u.Flags = append(u.Flags, FlagRecentKey)
		}
	}
}

// newestLog is the newest mtime of the files directly in /var/log and its
// sub-folders (one level): when the guest last wrote a log.
func newestLog(fsys iofs.FS) time.Time {
	var newest time.Time
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		ents, err := iofs.ReadDir(fsys, dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			if e.IsDir() {
				if depth < 1 {
					walk(dir+"/"+e.Name(), depth+1)
				}
				continue
			}
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.ModTime().After(newest) {
				newest = fi.ModTime()
			}
		}
	}
	walk("var/log", 0)
	return newest.UTC()
}
