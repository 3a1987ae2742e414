package utmp

import (
	"bytes"
	"compress/gzip"
	"context"
	"os/exec"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
	"github.com/coldcase-dfir/coldcase/timeline"
)

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func run(t *testing.T, fsys fstest.MapFS) (*Summary, []timeline.Event, []artifacts.Warning) {
	t.Helper()
	env := &artifacts.Env{FS: fsys, Host: "guest"}
	var c timeline.Collect
	env.Events = &c
	res, err := Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	return res.(*Summary), c.Events, env.Warnings()
}

func TestRunRotationsAndWarnings(t *testing.T) {
	fsys := fstest.MapFS{
		// The current wtmp is the x86-64 sample, wtmp.1 plaso's, wtmp.2.gz
		// the corrupted one compressed: three files, oldest first.
		"var/log/wtmp":      {Data: testenv.PeerFile(t, "artifacts/plaso/utmp/utmp_x86_64")},
		"var/log/wtmp.1":    {Data: testenv.PeerFile(t, "artifacts/plaso/utmp/wtmp.1")},
		"var/log/wtmp.2.gz": {Data: gz(t, testenv.PeerFile(t, "artifacts/plaso/utmp/utmp_corrupted"))},
		"var/log/btmp":      {Data: testenv.PeerFile(t, "artifacts/dissect/btmp-ipv6")},
		"var/run/utmp":      {Data: testenv.PeerFile(t, "artifacts/plaso/utmp/utmp_aarch64")},
	}
	sum, evs, warns := run(t, fsys)
	var paths []string
	for _, f := range sum.Files {
		paths = append(paths, f.Path)
	}
	if got := strings.Join(paths, " "); got != "/var/log/wtmp.2.gz /var/log/wtmp.1 /var/log/wtmp /var/log/btmp /var/run/utmp" {
		t.Errorf("files read: %s", got)
	}
	// The corrupted file's two warnings name the file and their offsets.
	if len(warns) != 2 || warns[0].Offset != 0x180 || warns[1].Offset != 0x300 || warns[0].Path != "/var/log/wtmp.2.gz" {
		t.Errorf("warnings %+v", warns)
	}
	if sum.Files[0].Records != 2 || sum.Files[0].Corrupt != 2 || sum.Files[0].Trailing != 50 {
		t.Errorf("corrupted summary %+v", sum.Files[0])
	}
	if sum.Files[4].Layout != "glibc-400-le" {
		t.Errorf("utmp layout %s", sum.Files[4].Layout)
	}
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.Source+"/"+ev.TimestampDesc]++
		if ev.Host != "guest" || ev.Evidence.Path == "" {
			t.Errorf("event without host or evidence: %+v", ev)
		}
	}
	// wtmp.2.gz: alice, bob (logins); wtmp.1: userA login and a logout;
	// wtmp: logout, boot, shutdown, two clock changes (the EMPTY record has
	// no event); btmp: 6 failed logins; utmp likewise.
	wantCount := map[string]int{
		"wtmp/Login": 3, "wtmp/Logout": 2, "wtmp/Boot": 1, "wtmp/Shutdown": 1, "wtmp/Clock change": 2,
		"btmp/Failed login": 6,
		"utmp/Logout":       1, "utmp/Boot": 1, "utmp/Shutdown": 1, "utmp/Clock change": 2,
	}
	for k, v := range wantCount {
		if count[k] != v {
			t.Errorf("%s: %d events, want %d (all: %v)", k, count[k], v, count)
		}
	}
	for _, ev := range evs {
		if ev.Source == "wtmp" && ev.User == "bob" {
			if ev.Evidence.Path != "/var/log/wtmp.2.gz" || ev.Evidence.Offset != 1152 || ev.IP != "10.0.0.5" ||
				ev.Attrs["tty"] != "pts/0" || ev.Attrs["pid"] != "3003" || ev.Attrs["type"] != "USER_PROCESS" {
				t.Errorf("bob's login: %+v", ev)
			}
		}
		if ev.Source == "btmp" && ev.Evidence.Offset == 1920 && ev.IP != "1337:1::" {
			t.Errorf("btmp record 5 ip %s", ev.IP)
		}
	}
}

func TestRunLastlogNames(t *testing.T) {
	fsys := fstest.MapFS{
		"var/log/lastlog": {Data: testenv.PeerFile(t, "artifacts/dissect/lastlog")},
		"etc/passwd": {Data: []byte("root:x:0:0:root:/root:/bin/bash\n" +
			"# a comment\nbroken line\nuser:x:1000:1000::/home/user:/bin/bash\n")},
	}
	sum, evs, warns := run(t, fsys)
	if len(warns) != 0 || len(sum.Files) != 1 || sum.Files[0].Records != 3 || sum.Files[0].Layout != "lastlog-292" {
		t.Fatalf("summary %+v warnings %v", sum, warns)
	}
	users := map[string]timeline.Event{}
	for _, ev := range evs {
		users[ev.User] = ev
		if ev.Source != "lastlog" || ev.TimestampDesc != "Last login" {
			t.Errorf("event %+v", ev)
		}
	}
	// UID 1001 has no passwd line: the UID stands in for the name.
	if users["root"].Attrs["tty"] != "tty1" || users["user"].Attrs["uid"] != "1000" ||
		users["1001"].IP != "127.0.0.1" || users["1001"].Evidence.Offset != 1001*292 {
		t.Errorf("events %+v", users)
	}
}

func TestRunEmptyTree(t *testing.T) {
	sum, evs, warns := run(t, fstest.MapFS{"etc/hostname": {Data: []byte("x\n")}})
	if len(sum.Files) != 0 || len(evs) != 0 || len(warns) != 0 {
		t.Errorf("%+v %v %v", sum, evs, warns)
	}
}

func TestLastlogLimit(t *testing.T) {
	b := testenv.PeerFile(t, "artifacts/dissect/lastlog")
	old := MaxLastlogBytes
	MaxLastlogBytes = 292 * 500 // between UID 0 and UID 1000
	defer func() { MaxLastlogBytes = old }()
	lr, _ := NewLastlogReader(bytesReaderAt(b), int64(len(b)))
	e, err := lr.Next()
	if err != nil || e.UID != 0 {
		t.Fatalf("%+v %v", e, err)
	}
	if _, err := lr.Next(); err == nil || !strings.Contains(err.Error(), "read limit") {
		t.Errorf("err %v, want the read limit", err)
	}
}

func TestRunGarbageWarningsBounded(t *testing.T) {
	// 2000 records of garbage: one warning each would be 2000.
	junk := bytes.Repeat([]byte{0x63}, 2000*384)
	sum, _, warns := run(t, fstest.MapFS{"var/log/wtmp": {Data: junk}})
	if sum.Files[0].Corrupt != 2000 || len(warns) != artifacts.MaxFileWarnings+1 || !strings.Contains(warns[artifacts.MaxFileWarnings].Msg, "1900 more") {
		t.Errorf("corrupt %d, %d warnings, last %+v", sum.Files[0].Corrupt, len(warns), warns[len(warns)-1])
	}
}

func TestRunBzip2Rotation(t *testing.T) {
	testenv.NeedTool(t, "bzip2")
	p, _ := testenv.LookPath("bzip2")
	cmd := exec.Command(p, "-c")
	cmd.Stdin = bytes.NewReader(testenv.PeerFile(t, "artifacts/dissect/btmp-ipv6"))
	bz, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	sum, evs, warns := run(t, fstest.MapFS{"var/log/btmp.1.bz2": {Data: bz}})
	if len(warns) != 0 || len(sum.Files) != 1 || sum.Files[0].Records != 6 || len(evs) != 6 {
		t.Errorf("summary %+v, %d events, warnings %v", sum, len(evs), warns)
	}
}
