package packages

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/artifacts/syslog"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
	"github.com/coldcase-dfir/coldcase/timeline"
)

func collect(t *testing.T, parse func(fn func(*Record) error, problem func(syslog.Problem)) (Stats, error)) ([]Record, []syslog.Problem) {
	t.Helper()
	var rs []Record
	var ps []syslog.Problem
	if _, err := parse(func(r *Record) error { rs = append(rs, *r); return nil }, func(p syslog.Problem) { ps = append(ps, p) }); err != nil {
		t.Fatal(err)
	}
	return rs, ps
}

func open(t *testing.T, rel string) *os.File {
	f, err := os.Open(testenv.PeerData(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestPeerPlasoDpkg(t *testing.T) {
	f := open(t, "artifacts/plaso/dpkg.log")
	rs, ps := collect(t, func(fn func(*Record) error, p func(syslog.Problem)) (Stats, error) {
		return ParseDpkg(f, time.UTC, fn, p)
	})
	// plaso tests/parsers/text_plugins/dpkg.py#L40-66: 4 entries, 0 warnings; #0 2009-02-25T11:45:23 (local),
	// body "conffile /etc/X11/Xsession keep".
	if len(rs) != 4 || len(ps) != 0 {
		t.Fatalf("%d records, problems %v", len(rs), ps)
	}
	if !rs[0].Time.Equal(time.Date(2009, 2, 25, 11, 45, 23, 0, time.UTC)) || rs[0].Body != "conffile /etc/X11/Xsession keep" || !rs[0].Local {
		t.Errorf("#0 = %+v", rs[0])
	}
	// The last line has no newline and is still read.
	r := rs[2]
	if r.Action != "install" || r.Package != "base-passwd" || r.Arch != "amd64" || r.Version != "3.5.33" || r.OldVersion != "" {
		t.Errorf("#2 = %+v", r)
	}
	if r := rs[3]; r.Action != "status" || r.Status != "half-installed" || r.Package != "base-passwd" || r.Line != 4 {
		t.Errorf("#3 = %+v", r)
	}
}

func TestPeerDissectApt(t *testing.T) {
	f := open(t, "artifacts/dissect/apt_history.log")
	rs, ps := collect(t, func(fn func(*Record) error, p func(syslog.Problem)) (Stats, error) {
		return ParseAptHistory(f, time.UTC, fn, p)
	})
	// dissect tests/plugins/os/unix/linux/debian/test_apt.py#L16-46: 18 package records; first
	// 2022-09-02 06:36:31 UTC update libcurl4:amd64 (7.68.0-1ubuntu2.12, 7.68.0-1ubuntu2.13),
	// command /usr/bin/unattended-upgrade, no requester; last 2022-09-07 07:48:28 UTC update
	// linux-generic:amd64 (5.4.0.125.126, 5.4.0.126.127) requested by "user (1000)".
	if len(rs) != 18 || len(ps) != 0 {
		t.Fatalf("%d records, problems %v", len(rs), ps)
	}
	r := rs[0]
	if !r.Time.Equal(time.Date(2022, 9, 2, 6, 36, 31, 0, time.UTC)) || r.Action != "upgrade" || r.Package != "libcurl4" || r.Arch != "amd64" ||
		r.OldVersion != "7.68.0-1ubuntu2.12" || r.Version != "7.68.0-1ubuntu2.13" || r.Command != "/usr/bin/unattended-upgrade" || r.User != "" {
		t.Errorf("first = %+v", r)
	}
	r = rs[17]
	if !r.Time.Equal(time.Date(2022, 9, 7, 7, 48, 28, 0, time.UTC)) || r.Action != "upgrade" || r.Package != "linux-generic" ||
		r.OldVersion != "5.4.0.125.126" || r.Version != "5.4.0.126.127" || r.User != "user" || r.UID != "1000" {
		t.Errorf("last = %+v", r)
	}
	// The python3.9-dev transaction: 7 installs, one of them not automatic.
	var auto, manual int
	for _, r := range rs {
		if r.Command == "apt-get install python3.9-dev" {
			if r.Automatic {
				auto++
			} else {
				manual++
				if r.Package != "python3.9-dev" || r.Version != "3.9.5-3ubuntu0~20.04.1" || r.User != "root" || r.UID != "0" {
					t.Errorf("manual install %+v", r)
				}
			}
		}
	}
	if auto != 6 || manual != 1 {
		t.Errorf("%d automatic, %d manual", auto, manual)
	}
}

func TestPeerDissectYum(t *testing.T) {
	b := testenv.PeerFile(t, "artifacts/dissect/yum.log")
	// dissect tests/plugins/os/unix/linux/redhat/test_yum.py#L17-58: 5 records, year from mtime 1704067199;
	// newest-first results[0] = 2023-12-16 04:41:34 UTC install unzip-6.0-24.el7_9.x86_64 (the last line),
	// results[-1] = 2023-12-16 04:41:22 UTC install unzip-6.0-24.el7_9.x86_64 (the first line).
	fsys := fstest.MapFS{"var/log/yum.log": {Data: b, ModTime: time.Unix(1704067199, 0)}}
	evs, sum := run(t, fsys)
	if len(evs) != 5 || sum.Files[0].Stats.Records != 5 {
		t.Fatalf("%d events, %+v", len(evs), sum.Files)
	}
	first, last := evs[0], evs[4]
	for _, c := range []struct {
		e    timeline.Event
		want time.Time
	}{{first, time.Date(2023, 12, 16, 4, 41, 22, 0, time.UTC)}, {last, time.Date(2023, 12, 16, 4, 41, 34, 0, time.UTC)}} {
		e := c.e
		if !e.Time.Equal(c.want) || e.TimestampDesc != "Package installed" || e.Source != "yum" || e.Attrs["package"] != "unzip" ||
			e.Attrs["version"] != "6.0-24.el7_9" || e.Attrs["arch"] != "x86_64" || e.Message != "Installed: unzip-6.0-24.el7_9.x86_64" {
			t.Errorf("event %+v, want at %v", e, c.want)
		}
	}
	if evs[2].TimestampDesc != "Package upgraded" || evs[3].TimestampDesc != "Package removed" {
		t.Errorf("actions %q %q", evs[2].TimestampDesc, evs[3].TimestampDesc)
	}
}

func run(t *testing.T, fsys fstest.MapFS) ([]timeline.Event, *Summary) {
	t.Helper()
	env := artifacts.NewEnv(fsys)
	var c timeline.Collect
	env.Events = &c
	res, err := Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	return c.Events, res.(*Summary)
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// TestExtractor: rotations oldest first, local time in the guest's zone,
// yum across a new year, dnf with offsets, and events only for package
// changes.
func TestExtractor(t *testing.T) {
	tz, err := os.ReadFile("/usr/share/zoneinfo/Europe/Berlin")
	if err != nil {
		t.Skipf("host has no zoneinfo: %v", err)
	}
	fsys := fstest.MapFS{
		"etc/localtime": {Data: tz},
		"etc/timezone":  {Data: []byte("Europe/Berlin\n")},
		"var/log/dpkg.log.2.gz": {Data: gz("2026-01-10 10:00:00 startup archives unpack\n" +
			"2026-01-10 10:00:01 install nmap:amd64 <none> 7.93+dfsg1-1\n" +
			"2026-01-10 10:00:02 status unpacked nmap:amd64 7.93+dfsg1-1\n")},
		"var/log/dpkg.log.1": {Data: []byte("2026-07-10 10:00:00 upgrade bash:amd64 5.2.15-2 5.2.15-2+b2\n")},
		"var/log/dpkg.log":   {Data: []byte("2026-07-11 10:00:00 remove nmap:amd64 7.93+dfsg1-1 <none>\n2026-07-11 10:00:01 purge nmap:amd64 7.93+dfsg1-1 <none>\nnot a dpkg line\n")},
		"var/log/apt/history.log": {Data: []byte("\nStart-Date: 2026-07-12  09:00:00\nCommandline: apt install socat\nRequested-By: alice (1000)\n" +
			"Install: socat:amd64 (1.7.4.4-2)\nEnd-Date: 2026-07-12  09:00:02\n")},
		"var/log/yum.log": {Data: []byte("Dec 31 23:00:00 Installed: 1:nc-7.92-1.el9.x86_64\nJan  1 01:00:00 Erased: nc\n"),
			ModTime: time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)},
		"var/log/dnf.rpm.log": {Data: []byte("2026-03-01T10:00:00+0000 SUBDEBUG Upgrade: curl-8.2.1-1.fc39.x86_64\n" +
			"2026-03-01T10:00:00+0000 SUBDEBUG Upgraded: curl-8.0.1-1.fc39.x86_64\n2026-03-01T10:00:01+0000 INFO --- logging initialized ---\n")},
		"var/log/dnf.log": {Data: []byte("2026-03-01T09:59:00+0100 DDEBUG Command: dnf upgrade curl \n  continuation of a table\n")},
	}
	evs, sum := run(t, fsys)
	type want struct {
		path string
		line int64
		desc string
		at   time.Time
		zone string
	}
	ws := []want{
		{"/var/log/dpkg.log.2.gz", 2, "Package installed", time.Date(2026, 1, 10, 9, 0, 1, 0, time.UTC), "Europe/Berlin"},
		{"/var/log/dpkg.log.1", 1, "Package upgraded", time.Date(2026, 7, 10, 8, 0, 0, 0, time.UTC), "Europe/Berlin"},
		{"/var/log/dpkg.log", 1, "Package removed", time.Date(2026, 7, 11, 8, 0, 0, 0, time.UTC), "Europe/Berlin"},
		{"/var/log/dpkg.log", 2, "Package removed", time.Date(2026, 7, 11, 8, 0, 1, 0, time.UTC), "Europe/Berlin"},
		{"/var/log/apt/history.log", 2, "Package installed", time.Date(2026, 7, 12, 7, 0, 0, 0, time.UTC), "Europe/Berlin"},
		{"/var/log/yum.log", 1, "Package installed", time.Date(2026, 12, 31, 22, 0, 0, 0, time.UTC), "Europe/Berlin"},
		{"/var/log/yum.log", 2, "Package removed", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "Europe/Berlin"},
		{"/var/log/dnf.rpm.log", 1, "Package upgraded", time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), ""},
		{"/var/log/dnf.log", 1, "Package command", time.Date(2026, 3, 1, 8, 59, 0, 0, time.UTC), ""},
	}
	if len(evs) != len(ws) {
		for _, e := range evs {
			t.Log(e.Evidence.Path, e.TimestampDesc, e.Message)
		}
		t.Fatalf("%d events, want %d", len(evs), len(ws))
	}
	for i, w := range ws {
		e := evs[i]
		if e.Evidence.Path != w.path || e.Evidence.Line != w.line || e.TimestampDesc != w.desc || !e.Time.Equal(w.at) || e.Zone != w.zone {
			t.Errorf("event %d: %s:%d %q %v %q; want %+v", i, e.Evidence.Path, e.Evidence.Line, e.TimestampDesc, e.Time, e.Zone, w)
		}
	}
	if e := evs[4]; e.User != "alice" || e.Attrs["uid"] != "1000" || e.Attrs["package"] != "socat" || e.Attrs["command"] != "apt install socat" {
		t.Errorf("apt event %+v", e)
	}
	if e := evs[5]; e.Attrs["epoch"] != "1" || e.Attrs["package"] != "nc" || e.Attrs["version"] != "7.92-1.el9" {
		t.Errorf("yum event %+v", e)
	}
	if e := evs[6]; e.Attrs["package"] != "nc" || e.Attrs["version"] != "" {
		t.Errorf("yum erase %+v", e)
	}
	if e := evs[8]; e.Attrs["command"] != "dnf upgrade curl" {
		t.Errorf("dnf command %+v", e)
	}
	if sum.Counts["Package removed"] != 3 || sum.Counts["Package installed"] != 3 {
		t.Errorf("counts %v", sum.Counts)
	}
	var warned []string
	for _, w := range artifactsWarnings(fsys, t) {
		warned = append(warned, w)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "/var/log/dpkg.log:3") {
		t.Errorf("warnings %q", warned)
	}
}

// artifactsWarnings reruns the extractor and lists its package warnings.
func artifactsWarnings(fsys fstest.MapFS, t *testing.T) []string {
	env := artifacts.NewEnv(fsys)
	if _, err := Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, w := range env.Warnings() {
		if w.Source != "" {
			out = append(out, w.String())
		}
	}
	return out
}

func TestParseLines(t *testing.T) {
	r, err := ParseDnfLine([]byte(`2024-11-05T11:30:45+0000 [1234] INFO --- DNF5 launched with arguments: "dnf5 install htop" ---`))
	if err != nil || r.Action != "command" || r.Command != "dnf5 install htop" || !r.Time.Equal(time.Date(2024, 11, 5, 11, 30, 45, 0, time.UTC)) {
		t.Errorf("dnf5: %+v %v", r, err)
	}
	r, err = ParseDnfLine([]byte("2019-05-09T07:53:20Z SUBDEBUG Erase: tmux-2.7-1.fc29.x86_64"))
	if err != nil || r.Action != "remove" || r.Package != "tmux" || r.Version != "2.7-1.fc29" {
		t.Errorf("dnf erase: %+v %v", r, err)
	}
	for _, bad := range []string{"", "2026-01-01 10:00:00", "2026-13-01 10:00:00 install a b c", "2026-01-01 10:00:00 install a b"} {
		if _, err := ParseDpkgLine([]byte(bad), nil); err == nil {
			t.Errorf("dpkg %q parsed", bad)
		}
	}
	if got := splitAptList("a:amd64 (1, automatic), b (2, 3), c (4)"); len(got) != 3 || got[1] != "b (2, 3)" {
		t.Errorf("split %q", got)
	}
}
