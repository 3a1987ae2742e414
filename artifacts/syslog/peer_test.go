package syslog

import (
	"context"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
	"github.com/coldcase-dfir/coldcase/timeline"
)

// parsePeer runs Parse over a peer file with an arbitrary start year (plaso
// asserts year-less stamps as relative year 0000, so the tests compare
// month-day-time and the relative year only).
func parsePeer(t *testing.T, rel string) ([]Entry, []Problem) {
	t.Helper()
	f, err := os.Open(testenv.PeerData(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var es []Entry
	var ps []Problem
	_, err = Parse(f, NewYearContext(2000, time.UTC), func(e *Entry) error {
		es = append(es, *e)
		return nil
	}, func(p Problem) { ps = append(ps, p) })
	if err != nil {
		t.Fatal(err)
	}
	return es, ps
}

func mdt(tm time.Time) string { return tm.Format("01-02T15:04:05") }

func wantCount(t *testing.T, es []Entry, ps []Problem, events, warnings int) {
	t.Helper()
	if len(es) != events || len(ps) != warnings {
		t.Fatalf("%d records, %d problems %v; peer asserts %d and %d", len(es), len(ps), ps, events, warnings)
	}
}

func TestPeerPlasoSyslog(t *testing.T) {
	es, ps := parsePeer(t, "artifacts/plaso/syslog/syslog")
	// plaso tests/parsers/text_plugins/syslog.py#L398-441: 16 events, 1 extraction warning.
	wantCount(t, es, ps, 16, 1)
	e := es[0]
	// #0 host myhostname.myhost.com, reporter client, pid 30840, body "INFO No new content in ímynd.dd.", 0000-01-22T07:52:33.
	if e.Host != "myhostname.myhost.com" || e.Program != "client" || e.PID != "30840" ||
		e.Message != "INFO No new content in ímynd.dd." || mdt(e.Time) != "01-22T07:52:33" {
		t.Errorf("#0 = %+v", e)
	}
	// #9 reporter somrandomexe, body "This syslog message has a fractional value for seconds.", 0001-03-23T23:01:18:
	// one year after #0 (Dec → Mar wrap).
	e = es[9]
	if e.Program != "somrandomexe" || e.Message != "This syslog message has a fractional value for seconds." ||
		mdt(e.Time) != "03-23T23:01:18" || e.Time.Year()-es[0].Time.Year() != 1 {
		t.Errorf("#9 = %+v (year %d, first %d)", e, e.Time.Year(), es[0].Time.Year())
	}
	// The warning is the "MMM 22 …" line (line 8).
	if ps[0].Line != 8 {
		t.Errorf("problem at line %d, want 8: %v", ps[0].Line, ps[0])
	}
}

func TestPeerPlasoSyslogCron(t *testing.T) {
	es, ps := parsePeer(t, "artifacts/plaso/syslog/syslog_cron.log")
	// plaso syslog.py#L443-471: 9 events, 0 warnings; #1 syslog:cron:task_run, user root,
	// command "sleep $(( 1 * 60 )); touch /tmp/afile.txt", 0000-03-11T19:26:39.
	wantCount(t, es, ps, 9, 0)
	ev := Event(&es[1], "UTC")
	if ev.TimestampDesc != "Cron command" || ev.User != "root" || ev.Attrs["command"] != "sleep $(( 1 * 60 )); touch /tmp/afile.txt" ||
		mdt(ev.Time) != "03-11T19:26:39" {
		t.Errorf("#1 = %+v", ev)
	}
}

func TestPeerPlasoRsyslog(t *testing.T) {
	es, ps := parsePeer(t, "artifacts/plaso/syslog/syslog_rsyslog")
	// plaso syslog.py#L194-223: 5 events, 0 warnings; #0 host localhost, reporter rsyslogd,
	// 2020-05-31T00:00:45.698463+00:00.
	wantCount(t, es, ps, 5, 0)
	e := es[0]
	want := time.Date(2020, 5, 31, 0, 0, 45, 698463000, time.UTC)
	if e.Host != "localhost" || e.Program != "rsyslogd" || !e.Time.Equal(want) || e.Format != RFC3339 || e.Local {
		t.Errorf("#0 = %+v", e)
	}
}

func TestPeerPlasoSysklogdFileFormat(t *testing.T) {
	es, ps := parsePeer(t, "artifacts/plaso/syslog/syslog_rsyslog_SysklogdFileFormat")
	// plaso syslog.py#L504-533: 9 events, 0 warnings; #0 host hostname, reporter log_tag, 0000-03-06T04:07:28.
	wantCount(t, es, ps, 9, 0)
	e := es[0]
	if e.Host != "hostname" || e.Program != "log_tag" || mdt(e.Time) != "03-06T04:07:28" {
		t.Errorf("#0 = %+v", e)
	}
	// The continuation line belongs to #1.
	if es[1].Message != "this is info\nwith another line" || es[1].Lines != 2 {
		t.Errorf("#1 = %+v", es[1])
	}
}

func TestPeerPlasoProtocol23(t *testing.T) {
	es, ps := parsePeer(t, "artifacts/plaso/syslog/syslog_rsyslog_SyslogProtocol23Format")
	// plaso syslog.py#L225-256: 9 events, 0 warnings; #0 facility "user-level message", severity DEBUG,
	// host hostname, reporter log_tag, msgid 123, 2021-03-06T04:07:38.251122+00:00.
	wantCount(t, es, ps, 9, 0)
	e := es[0]
	want := time.Date(2021, 3, 6, 4, 7, 38, 251122000, time.UTC)
	facility, severity := e.Priority>>3, e.Priority&7
	if e.Format != RFC5424 || facility != 1 || severity != 7 || e.Host != "hostname" || e.Program != "log_tag" ||
		e.MsgID != "123" || !e.Time.Equal(want) || e.Message != "this is debug" {
		t.Errorf("#0 = %+v", e)
	}
}

func TestPeerPlasoSSH(t *testing.T) {
	es, ps := parsePeer(t, "artifacts/plaso/syslog/syslog_ssh.log")
	// plaso syslog.py#L567-623: 9 events, 0 warnings.
	wantCount(t, es, ps, 9, 0)
	var evs []timeline.Event
	for i := range es {
		evs = append(evs, Event(&es[i], "UTC"))
	}
	// #0 at 0000-03-11T00:00:00.
	if mdt(evs[0].Time) != "03-11T00:00:00" {
		t.Errorf("#0 = %+v", evs[0])
	}
	// #1 syslog:ssh:login, "Accepted publickey for plaso from 192.168.0.1 port 59229 ssh2: RSA 00:aa:…",
	// ip 192.168.0.1, 0000-03-11T19:26:39.
	e := evs[1]
	if e.TimestampDesc != "SSH login accepted" || e.User != "plaso" || e.IP != "192.168.0.1" || e.Attrs["port"] != "59229" ||
		e.Attrs["method"] != "publickey" || e.Attrs["key_type"] != "RSA" ||
		e.Attrs["fingerprint"] != "00:aa:bb:cc:dd:ee:ff:11:22:33:44:55:66:77:88:99" || mdt(e.Time) != "03-11T19:26:39" ||
		e.Message != "sshd[3]: Accepted publickey for plaso from 192.168.0.1 port 59229 ssh2: RSA 00:aa:bb:cc:dd:ee:ff:11:22:33:44:55:66:77:88:99" {
		t.Errorf("#1 = %+v", e)
	}
	// #3 failed connection from 001:db8:a0b:12f0::1 port 8759 at 0000-03-11T22:55:30.
	e = evs[3]
	if e.TimestampDesc != "SSH login failed" || e.IP != "001:db8:a0b:12f0::1" || e.Attrs["port"] != "8759" || mdt(e.Time) != "03-11T22:55:30" {
		t.Errorf("#3 = %+v", e)
	}
	// #4 opened connection from 188.124.3.41 at 0000-03-11T22:55:31.
	e = evs[4]
	if e.TimestampDesc != "SSH connection" || e.IP != "188.124.3.41" || mdt(e.Time) != "03-11T22:55:31" {
		t.Errorf("#4 = %+v", e)
	}
	// #8 carries a SHA256 fingerprint.
	if f := evs[8].Attrs["fingerprint"]; f != "SHA256:5xyQ+PG1Z3CIiShclJ2iNya5TOdKDgE/HrOXr21IdOo" {
		t.Errorf("#8 fingerprint %q", f)
	}
}

// TestPeerDissectSecure runs the whole extractor over dissect's RHEL secure
// file placed at /var/log/secure with the mtime the peer test gives it.
func TestPeerDissectSecure(t *testing.T) {
	b := testenv.PeerFile(t, "artifacts/dissect/secure")
	fsys := fstest.MapFS{
		"var/log/secure": {Data: b, Mode: 0o600, ModTime: time.Date(2022, 6, 1, 0, 0, 0, 0, time.UTC)},
	}
	evs, sum := run(t, fsys)
	// dissect tests/plugins/os/unix/log/test_auth.py#L88-106: 2 records, 2021-12-31 03:14:00 UTC then
	// 2022-01-01 13:37:00 UTC (year rollover inferred from mtime 2022-06-01).
	if len(evs) != 2 {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	if want := time.Date(2021, 12, 31, 3, 14, 0, 0, time.UTC); !evs[0].Time.Equal(want) {
		t.Errorf("#0 at %v, want %v", evs[0].Time, want)
	}
	if want := time.Date(2022, 1, 1, 13, 37, 0, 0, time.UTC); !evs[1].Time.Equal(want) {
		t.Errorf("#1 at %v, want %v", evs[1].Time, want)
	}
	// The sudo session line and the login session line are classified.
	if evs[0].Source != "auth" || evs[0].TimestampDesc != "Session opened" || evs[0].User != "root" || evs[0].Attrs["service"] != "sudo" {
		t.Errorf("#0 = %+v", evs[0])
	}
	if evs[1].TimestampDesc != "Session opened" || evs[1].User != "test" || evs[1].Attrs["by"] != "LOGIN" {
		t.Errorf("#1 = %+v", evs[1])
	}
	if len(sum.Files) != 1 || sum.Files[0].StartYear != 2021 || sum.Files[0].Events != 2 {
		t.Errorf("summary %+v", sum.Files)
	}
}

// run runs the extractor on fsys and returns its events and summary.
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
