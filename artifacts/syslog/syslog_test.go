package syslog

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/coldcase-dfir/coldcase/artifacts"
)

func utc(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

// TestYearAcrossNewYear: a log spanning Dec → Jan gets two years, anchored
// so that its last line is not after the file's mtime.
func TestYearAcrossNewYear(t *testing.T) {
	log := "Dec 30 23:59:00 web sshd[10]: Accepted password for alice from 10.0.0.1 port 2222 ssh2\n" +
		"Dec 31 23:59:59 web sshd[11]: Failed password for invalid user bob from 10.0.0.2 port 2223 ssh2\n" +
		"Jan  1 00:00:05 web CRON[12]: (root) CMD (run-parts /etc/cron.hourly)\n" +
		"Jan  2 08:00:00 web sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/id\n"
	cases := []struct {
		name  string
		mtime time.Time
		want  []time.Time
	}{
		{"mtime just after the last line", utc(2027, 1, 2, 8, 0, 1),
			[]time.Time{utc(2026, 12, 30, 23, 59, 0), utc(2026, 12, 31, 23, 59, 59), utc(2027, 1, 1, 0, 0, 5), utc(2027, 1, 2, 8, 0, 0)}},
		{"mtime months later", utc(2027, 6, 30, 0, 0, 0),
			[]time.Time{utc(2026, 12, 30, 23, 59, 0), utc(2026, 12, 31, 23, 59, 59), utc(2027, 1, 1, 0, 0, 5), utc(2027, 1, 2, 8, 0, 0)}},
		// A file touched in Dec 2027: its "Jan 2" can only be Jan 2 2027.
		{"mtime at the end of the next year", utc(2027, 12, 31, 0, 0, 0),
			[]time.Time{utc(2026, 12, 30, 23, 59, 0), utc(2026, 12, 31, 23, 59, 59), utc(2027, 1, 1, 0, 0, 5), utc(2027, 1, 2, 8, 0, 0)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{"var/log/auth.log": {Data: []byte(log), ModTime: c.mtime}}
			evs, sum := run(t, fsys)
			if len(evs) != len(c.want) {
				t.Fatalf("%d events", len(evs))
			}
			for i, e := range evs {
				if !e.Time.Equal(c.want[i]) {
					t.Errorf("event %d at %v, want %v", i, e.Time, c.want[i])
				}
				if e.Zone != "UTC" {
					t.Errorf("event %d zone %q", i, e.Zone)
				}
			}
			if sum.Files[0].StartYear != 2026 {
				t.Errorf("start year %d", sum.Files[0].StartYear)
			}
		})
	}
	// Anchoring: a last line (Dec 20) later in the calendar than the mtime
	// (Jan 3) belongs to the year before the mtime's.
	fsys := fstest.MapFS{"var/log/syslog": {Data: []byte("Nov  5 10:00:00 h a: x\nDec 20 10:00:00 h a: y\n"), ModTime: utc(2027, 1, 3, 0, 0, 0)}}
	evs, _ := run(t, fsys)
	if len(evs) != 2 || !evs[0].Time.Equal(utc(2026, 11, 5, 10, 0, 0)) || !evs[1].Time.Equal(utc(2026, 12, 20, 10, 0, 0)) {
		t.Errorf("anchored events %v", evs)
	}
}

// TestYearContextRules: rollovers and rsyslog's one-month step back.
func TestYearContextRules(t *testing.T) {
	c := NewYearContext(2020, nil)
	for _, m := range []time.Month{11, 12, 1, 12, 1, 2, 4, 3, 4, 1} {
		c.observe(m)
	}
	// Nov Dec | Jan (2021) Dec (back to 2020: out of order) Jan (2021) Feb Apr Mar (no wrap) Apr | Jan (2022).
	if c.Year != 2022 || c.Wraps != 2 {
		t.Errorf("year %d wraps %d, want 2022 and 2", c.Year, c.Wraps)
	}
}

// TestZoneBerlin converts local stamps with the guest's own TZif data, on
// both sides of a DST change, and records the zone.
func TestZoneBerlin(t *testing.T) {
	tz, err := os.ReadFile("/usr/share/zoneinfo/Europe/Berlin")
	if err != nil {
		t.Skipf("host has no zoneinfo: %v", err)
	}
	log := "Mar 28 12:00:00 h sshd[1]: Accepted publickey for root from 192.0.2.7 port 50000 ssh2: ED25519 SHA256:abc\n" + // CET, UTC+1
		"Mar 30 12:00:00 h sshd[1]: Accepted publickey for root from 192.0.2.7 port 50001 ssh2\n" + // CEST, UTC+2 (DST began Mar 29 2026)
		"Oct 26 12:00:00 h sshd[1]: Connection from 192.0.2.8 port 1\n" + // CET again (DST ended Oct 25 2026)
		"2026-10-27T12:00:00.5+01:00 h rsyslogd: an RFC 3339 line keeps its own offset\n"
	fsys := fstest.MapFS{
		"etc/localtime":  {Data: tz},
		"etc/timezone":   {Data: []byte("Europe/Berlin\n")},
		"etc/hostname":   {Data: []byte("guest1\n")},
		"var/log/syslog": {Data: []byte(log), ModTime: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
	}
	evs, sum := run(t, fsys)
	if len(sum.Logins) != 2 || sum.Logins[1].Port != "50001" || sum.Logins[0].Method != "publickey" || sum.Logins[0].User != "root" ||
		sum.Logins[0].IP != "192.0.2.7" || sum.Logins[0].Evidence.Line != 1 || !sum.Logins[1].Time.Equal(utc(2026, 3, 30, 10, 0, 0)) ||
		sum.Counts["SSH login accepted"] != 2 || sum.Counts["Log entry"] != 1 {
		t.Errorf("summary logins %+v counts %v", sum.Logins, sum.Counts)
	}
	want := []time.Time{utc(2026, 3, 28, 11, 0, 0), utc(2026, 3, 30, 10, 0, 0), utc(2026, 10, 26, 11, 0, 0),
		time.Date(2026, 10, 27, 11, 0, 0, 5e8, time.UTC)}
	zones := []string{"Europe/Berlin", "Europe/Berlin", "Europe/Berlin", ""}
	if len(evs) != len(want) {
		t.Fatalf("%d events", len(evs))
	}
	for i, e := range evs {
		if !e.Time.Equal(want[i]) || e.Time.Location() != time.UTC || e.Zone != zones[i] {
			t.Errorf("event %d at %v zone %q, want %v zone %q", i, e.Time, e.Zone, want[i], zones[i])
		}
		if e.Host != "h" {
			t.Errorf("event %d host %q", i, e.Host)
		}
	}
	if evs[0].Attrs["key_type"] != "ED25519" || evs[0].Attrs["fingerprint"] != "SHA256:abc" {
		t.Errorf("key %v", evs[0].Attrs)
	}
}

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func xzb(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w, err := xz.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func zst(t *testing.T, s string) []byte {
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll([]byte(s), nil)
}

// TestRotated reads base, .1, .2.gz, .3.xz and .4.zst oldest first, each
// event pointing at the file and line it came from.
func TestRotated(t *testing.T) {
	mt := utc(2026, 9, 30, 0, 0, 0)
	line := func(day int, n int) string {
		return "Sep " + string(rune('0'+day/10)) + string(rune('0'+day%10)) + " 10:00:00 h app[1]: file day " + string(rune('0'+day%10)) + " n" + string(rune('0'+n)) + "\n"
	}
	two := func(day int) string {
		return "garbage-free preamble is not allowed\n"[:0] + line(day, 1) + line(day, 2)
	}
	fsys := fstest.MapFS{
		"var/log/messages":       {Data: []byte(two(15)), ModTime: mt},
		"var/log/messages.1":     {Data: []byte(two(14)), ModTime: mt},
		"var/log/messages.2.gz":  {Data: gz(t, two(13)), ModTime: mt},
		"var/log/messages.3.xz":  {Data: xzb(t, two(12)), ModTime: mt},
		"var/log/messages.4.zst": {Data: zst(t, two(11)), ModTime: mt},
		"var/log/messages.old":   {Data: []byte(two(10)), ModTime: mt}, // not a rotation
	}
	evs, sum := run(t, fsys)
	wantPaths := []string{"/var/log/messages.4.zst", "/var/log/messages.3.xz", "/var/log/messages.2.gz", "/var/log/messages.1", "/var/log/messages"}
	if len(evs) != 10 || len(sum.Files) != 5 {
		t.Fatalf("%d events from %d files", len(evs), len(sum.Files))
	}
	for i, e := range evs {
		if p := wantPaths[i/2]; e.Evidence.Path != p || e.Evidence.Line != int64(i%2+1) {
			t.Errorf("event %d from %s:%d, want %s:%d", i, e.Evidence.Path, e.Evidence.Line, p, i%2+1)
		}
		if want := utc(2026, 9, 11+i/2, 10, 0, 0); !e.Time.Equal(want) {
			t.Errorf("event %d at %v, want %v", i, e.Time, want)
		}
	}
}

func TestParseAuth(t *testing.T) {
	cases := []struct {
		prog, msg      string
		desc, user, ip string
		attrs          map[string]string
	}{
		{"sshd", "Accepted password for alice from 203.0.113.5 port 51122 ssh2", "SSH login accepted", "alice", "203.0.113.5",
			map[string]string{"method": "password", "port": "51122", "protocol": "ssh2"}},
		{"sshd-session", "Accepted publickey for root from 2001:db8::1 port 22 ssh2: RSA SHA256:Qx0", "SSH login accepted", "root", "2001:db8::1",
			map[string]string{"method": "publickey", "key_type": "RSA", "fingerprint": "SHA256:Qx0"}},
		{"sshd", "Failed password for invalid user admin from 198.51.100.9 port 40000 ssh2", "SSH login failed", "admin", "198.51.100.9",
			map[string]string{"invalid_user": "true", "method": "password"}},
		{"sshd", "Accepted publickey for bob from 192.0.2.1 port 1 ssh2: ED25519-CERT SHA256:f1 ID bob@corp (serial 7) CA ED25519 SHA256:ca", "SSH login accepted", "bob", "192.0.2.1",
			map[string]string{"key_type": "ED25519-CERT", "fingerprint": "SHA256:f1", "certificate": "ID bob@corp (serial 7) CA ED25519 SHA256:ca"}},
		{"sshd", "message repeated 5 times: [ Failed password for root from 198.51.100.9 port 40000 ssh2]", "SSH login failed", "root", "198.51.100.9",
			map[string]string{"repeated": "5", "port": "40000"}},
		{"sshd", "Invalid user oracle from 198.51.100.9 port 40001", "SSH invalid user", "oracle", "198.51.100.9", map[string]string{"port": "40001"}},
		{"sshd", "Disconnected from authenticating user root 198.51.100.9 port 40002 [preauth]", "SSH disconnect", "root", "198.51.100.9",
			map[string]string{"port": "40002", "stage": "preauth"}},
		{"sshd", "Connection closed by 198.51.100.9 port 40003", "SSH disconnect", "", "198.51.100.9", map[string]string{"port": "40003"}},
		{"sshd", "Received disconnect from 198.51.100.9 port 40004:11: disconnected by user", "SSH disconnect", "", "198.51.100.9", map[string]string{"port": "40004"}},
		{"sudo", "   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt install nmap ; echo", "sudo", "alice", "",
			map[string]string{"tty": "pts/0", "pwd": "/home/alice", "runas": "root", "command": "/usr/bin/apt install nmap ; echo"}},
		{"sudo", "mallory : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh", "sudo", "mallory", "",
			map[string]string{"result": "user NOT in sudoers", "command": "/bin/sh"}},
		{"su", "(to root) alice on pts/0", "su", "alice", "", map[string]string{"runas": "root", "tty": "pts/0"}},
		{"su", "FAILED SU (to root) bob on pts/2", "su", "bob", "", map[string]string{"runas": "root", "result": "failed"}},
		{"su", "pam_unix(su-l:session): session opened for user root(uid=0) by alice(uid=1000)", "su", "alice", "", map[string]string{"runas": "root"}},
		{"useradd", "new user: name=backdoor, UID=0, GID=0, home=/root, shell=/bin/bash, from=/dev/pts/0", "User added", "backdoor", "",
			map[string]string{"uid": "0", "gid": "0", "shell": "/bin/bash", "home": "/root"}},
		{"useradd", "new group: name=backdoor, GID=1005", "Group added", "", "", map[string]string{"group": "backdoor", "gid": "1005"}},
		{"groupadd", "group added to /etc/group: name=docker, GID=999", "Group added", "", "", map[string]string{"group": "docker"}},
		{"usermod", "add 'alice' to group 'sudo'", "User modified", "alice", "", map[string]string{"group": "sudo"}},
		{"usermod", "change user 'alice' password", "Password changed", "alice", "", nil},
		{"userdel", "delete user 'bob'", "User deleted", "bob", "", nil},
		{"passwd", "pam_unix(passwd:chauthtok): password changed for alice", "Password changed", "alice", "", map[string]string{"service": "passwd"}},
		{"chpasswd", "pam_unix(chpasswd:chauthtok): password changed for svc", "Password changed", "svc", "", nil},
		{"CRON", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)", "Cron session", "root", "", map[string]string{"uid": "0"}},
		{"CRON", "(www-data) CMD (php /var/www/cron.php)", "Cron command", "www-data", "", map[string]string{"command": "php /var/www/cron.php"}},
		{"systemd-logind", "New session 42 of user alice.", "Login session", "alice", "", map[string]string{"session": "42"}},
		{"sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.9  user=root", "Authentication failure", "root", "198.51.100.9", nil},
	}
	for _, c := range cases {
		a, ok := ParseAuth(c.prog, strings.TrimSpace(c.msg))
		if !ok || a.Desc != c.desc || a.User != c.user || a.IP != c.ip {
			t.Errorf("%s %q: got %v %+v", c.prog, c.msg, ok, a)
			continue
		}
		for k, v := range c.attrs {
			if a.Attrs[k] != v {
				t.Errorf("%s %q: %s = %q, want %q", c.prog, c.msg, k, a.Attrs[k], v)
			}
		}
	}
	for _, c := range [][2]string{{"sshd", "Server listening on 0.0.0.0 port 22."}, {"sshd", "Accepted"},
		{"sshd", "Failed password"}, {"CRON", "(root) CMD (unterminated"}, {"sudo", "a b : c"}} {
		if a, ok := ParseAuth(c[0], c[1]); ok {
			t.Errorf("%q classified as %+v", c[1], a)
		}
	}
}

func TestParseLineFormats(t *testing.T) {
	yc := NewYearContext(2026, nil)
	r, err := ParseLine([]byte("<38>Feb  3 04:05:06 host sshd[99]: hello"), yc)
	if err != nil || r.Priority != 38 || r.Host != "host" || r.Program != "sshd" || r.PID != "99" || r.Message != "hello" ||
		!r.Time.Equal(utc(2026, 2, 3, 4, 5, 6)) {
		t.Errorf("pri line: %+v %v", r, err)
	}
	r, err = ParseLine([]byte("Nov 18 08:30:20 kernel: [997.390602] sda2: rw=0"), yc)
	if err != nil || r.Host != "" || r.Program != "kernel" || r.Message != "[997.390602] sda2: rw=0" {
		t.Errorf("kernel line: %+v %v", r, err)
	}
	r, err = ParseLine([]byte("Nov 18 01:15:43: --- last message repeated 5 times ---"), yc)
	if err != nil || r.Format != Comment || r.Message != "last message repeated 5 times" {
		t.Errorf("comment: %+v %v", r, err)
	}
	r, err = ParseLine([]byte(`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App]lication"] An application event`), nil)
	if err != nil || r.StructuredData != `[exampleSDID@32473 iut="3" eventSource="App]lication"]` || r.Message != "An application event" ||
		r.Program != "evntslog" || r.PID != "" || r.MsgID != "ID47" {
		t.Errorf("rfc5424 (RFC 5424 §6.5 example 3): %+v %v", r, err)
	}
	for _, bad := range []string{"", "Jan", "Jan 32 00:00:00 h p: m", "Jan  1 24:00:00 h p: m", "2026-13-01T00:00:00Z h p: m", "<999>Jan  1 00:00:00 h"} {
		if _, err := ParseLine([]byte(bad), yc); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// repeat yields n bytes of c without holding them.
type repeat struct {
	c byte
	n int64
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	for i := range p {
		p[i] = r.c
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// TestHostileInput: a 100 MB line is cut, not read whole; binary garbage
// and NUL runs become problems.
func TestHostileInput(t *testing.T) {
	size := int64(100 << 20)
	if testing.Short() {
		size = 4 << 20
	}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	in := io.MultiReader(strings.NewReader("Jan  1 00:00:00 h p[1]: "), &repeat{'A', size},
		strings.NewReader("\n\x00\x00\x00Jan  2 00:00:00 h p[2]: after NULs\n\x01\x02\xff\xfe\x00garbage\nJan  3 00:00:00 h p[3]: end"))
	var es []Entry
	var ps []Problem
	st, err := Parse(in, NewYearContext(2026, nil), func(e *Entry) error { es = append(es, *e); return nil }, func(p Problem) { ps = append(ps, p) })
	runtime.ReadMemStats(&ms1)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || st.Lines != 4 {
		t.Fatalf("%d records, %d lines: %+v", len(es), st.Lines, ps)
	}
	if len(es[0].Message) != MaxLine-len("Jan  1 00:00:00 h p[1]: ") || es[1].Message != "after NULs" || es[2].Message != "end" || es[2].Line != 4 {
		t.Errorf("records %q… %q %q line %d", es[0].Message[:10], es[1].Message, es[2].Message, es[2].Line)
	}
	// Problems: the cut line, the NUL run, the garbage line (it holds NUL, so it is not a continuation).
	if len(ps) != 3 || ps[0].Line != 1 || ps[1].Line != 2 || ps[2].Line != 3 {
		t.Errorf("problems %+v", ps)
	}
	if grown := ms1.TotalAlloc - ms0.TotalAlloc; grown > 8<<20 {
		t.Errorf("parsing a %d-byte line allocated %d bytes", size, grown)
	}
}

// TestExtractorWarnings: a garbage file gives warnings (bounded), no error.
func TestExtractorWarnings(t *testing.T) {
	var b bytes.Buffer
	for i := 0; i < 1000; i++ {
		b.WriteString("Xyz 99 99:99:99 not a line\n")
	}
	fsys := fstest.MapFS{"var/log/kern.log": {Data: b.Bytes(), ModTime: utc(2026, 1, 1, 0, 0, 0)},
		"var/log/syslog": {Data: []byte("\x1f\x8bnot gzip")}}
	env := artifacts.NewEnv(fsys)
	if _, err := Run(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	ws := env.Warnings()
	var kern, sys int
	for _, w := range ws {
		switch w.Path {
		case "/var/log/kern.log":
			kern++
		case "/var/log/syslog":
			sys++
		}
	}
	if kern != artifacts.MaxFileWarnings+1 || sys != 1 {
		t.Errorf("%d warnings for kern.log, %d for syslog: %v", kern, sys, ws[len(ws)-1])
	}
}
