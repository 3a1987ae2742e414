package users

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// fox-it/dissect.target@28082eb0:tests/plugins/os/unix/test_users.py#L14-27
func TestPeerDissectPasswd(t *testing.T) {
	pw, errs := ParsePasswd(testenv.PeerFile(t, "artifacts/dissect/passwd"))
	if len(errs) != 0 {
		t.Fatalf("warnings: %v", errs)
	}
	if len(pw) != 5 {
		t.Fatalf("%d users, peer asserts 5", len(pw))
	}
	r := pw[0]
	if r.Name != "root" || r.Password != "x" || r.UID != 0 || r.GID != 0 || r.Home != "/root" || r.Shell != "/bin/bash" {
		t.Errorf("#0 = %+v", r)
	}
}

// Velocidex/velociraptor@cd02ac66:artifacts/testdata/server/testcases/linux_passwd.out.yaml#L1-192
func TestPeerVelociraptorPasswd(t *testing.T) {
	pw, errs := ParsePasswd(testenv.PeerFile(t, "artifacts/velociraptor/passwd"))
	if len(errs) != 0 {
		t.Fatalf("warnings: %v", errs)
	}
	if len(pw) != 21 {
		t.Fatalf("%d users, peer asserts 21", len(pw))
	}
	if pw[0].Name != "root" || pw[18].Name != "_apt" || pw[19].Name != "testuser1" || pw[20].Name != "testuser2" {
		t.Errorf("order: %s … %s %s %s", pw[0].Name, pw[18].Name, pw[19].Name, pw[20].Name)
	}
	u1, u2 := pw[19], pw[20]
	if u1.UID != 1000 || u1.GID != 1000 || u1.GECOS != "Test User 1,Room number 1,12345678,23456789,Misc" || u1.Home != "/home/testuser1" || u1.Shell != "/bin/bash" {
		t.Errorf("testuser1 = %+v", u1)
	}
	if u2.UID != 1001 || u2.GID != 1001 || u2.GECOS != "Test User 2,,34567890,45678901,Other" {
		t.Errorf("testuser2 = %+v", u2)
	}
}

// Velocidex/velociraptor@cd02ac66:artifacts/testdata/server/testcases/linux_passwd.out.yaml#L194-470
func TestPeerVelociraptorGroup(t *testing.T) {
	gs, errs := ParseGroup(testenv.PeerFile(t, "artifacts/velociraptor/group"))
	if len(errs) != 0 {
		t.Fatalf("warnings: %v", errs)
	}
	if len(gs) != 44 {
		t.Fatalf("%d groups, peer asserts 44", len(gs))
	}
	by := map[string]GroupEntry{}
	for _, g := range gs {
		by[g.Name] = g
	}
	check := func(name string, gid uint32, members ...string) {
		g, ok := by[name]
		if !ok || g.GID != gid || strings.Join(g.Members, ",") != strings.Join(members, ",") {
			t.Errorf("%s = %+v, want gid %d members %v", name, g, gid, members)
		}
	}
	check("root", 0)
	check("sudo", 27)
	check("group1", 1002, "testuser1")
	check("group3", 1004, "testuser1", "testuser2")
}

// fox-it/dissect.target@28082eb0:tests/plugins/os/unix/test_shadow.py#L18-40
func TestPeerDissectShadow(t *testing.T) {
	sh, errs := ParseShadow(testenv.PeerFile(t, "artifacts/dissect/shadow"))
	if len(errs) != 0 {
		t.Fatalf("warnings: %v", errs)
	}
	// dissect yields only records with a hash; the other 3 are "*".
	var hashed []ShadowEntry
	for _, s := range sh {
		if s.HashType != HashLocked {
			hashed = append(hashed, s)
		}
	}
	if len(sh) != 4 || len(hashed) != 1 {
		t.Fatalf("%d entries, %d hashed; peer asserts 1 password record (+3 locked)", len(sh), len(hashed))
	}
	s := hashed[0]
	if s.Name != "test" || s.HashType != HashSHA512 || s.Salt != "oLHns1qc.C3DoQ8c" ||
		s.Hash != "temOg6X.UF5Ly3gM03cGnBLib30mv8J49dUI.w9.EHTnO4R467zyKbfBnmTa5IIvDr5mRXFoJVBGKF6QuFDpo1" {
		t.Errorf("record = %+v", s)
	}
	if s.LastChange != "2021-12-02" || *s.LastChangeDays != 18963 {
		t.Errorf("last change %q", s.LastChange)
	}
	// dissect shows min age 0 as empty; the field holds "0".
	if s.MinDays == nil || *s.MinDays != 0 || *s.MaxDays != 99999 || *s.WarnDays != 7 || s.InactiveDays != nil || s.ExpireDays != nil {
		t.Errorf("ages = %v %v %v %v %v", s.MinDays, s.MaxDays, s.WarnDays, s.InactiveDays, s.ExpireDays)
	}
	// dissect renders max age 99999 as 2295-09-16: the same day arithmetic.
	if got := dayToTime(*s.LastChangeDays + *s.MaxDays).Format("2006-01-02"); got != "2295-09-16" {
		t.Errorf("last change + max = %s", got)
	}
	for _, l := range sh[1:] {
		if !l.Locked {
			t.Errorf("%s not locked", l.Name)
		}
	}
}

// fox-it/dissect.target@28082eb0:tests/plugins/os/unix/test_users.py#L30-55
func TestPeerDissectPasswdSyslog(t *testing.T) {
	f, err := os.Open(testenv.PeerData(t, "artifacts/dissect/passwd-syslog"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	su, _ := ParseSessionUsers("/var/log/syslog", f)
	want := [][3]string{
		{"john.doe", "/home/local/john.doe", "/bin/bash"},
		{"john.doe", "/root", "/bin/sh"},
		{"jane.doe", "/home/local/jane.doe", "/bin/zsh"},
	}
	if len(su) != len(want) {
		t.Fatalf("%d sessions %+v, peer asserts 3", len(su), su)
	}
	for i, w := range want {
		if g := su[i]; g.Name != w[0] || g.Home != w[1] || g.Shell != w[2] {
			t.Errorf("#%d = %+v, want %v", i, g, w)
		}
	}
}

// log2timeline/plaso@4ea03ef9:tests/parsers/text_plugins/bash_history.py#L46-85
func TestPeerPlasoBashHistory(t *testing.T) {
	f, err := os.Open(testenv.PeerData(t, "artifacts/plaso/bash_history"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	es, errs := ParseBashHistory(f, time.Time{})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if len(es) != 4 {
		t.Fatalf("%d entries, peer asserts 4", len(es))
	}
	if es[0].Command != "/usr/lib/plaso" || es[0].Time.Format(time.RFC3339) != "2013-10-01T12:36:17Z" || es[0].TimeKind != TimeRecorded {
		t.Errorf("#0 = %+v", es[0])
	}
	// plaso joins the lines with spaces; we keep the newlines.
	if got := strings.ReplaceAll(es[3].Command, "\n", " "); got != `binary argument1 "--params=\ param1=foo, param2=bar " argument2` {
		t.Errorf("#3 command %q", es[3].Command)
	}
	if es[3].Time.Format(time.RFC3339) != "2021-06-10T22:30:36Z" {
		t.Errorf("#3 time %v", es[3].Time)
	}
}

// log2timeline/plaso@4ea03ef9:tests/parsers/text_plugins/zsh_extended_history.py#L48-78
func TestPeerPlasoZshHistory(t *testing.T) {
	f, err := os.Open(testenv.PeerData(t, "artifacts/plaso/zsh_extended_history.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	es, errs := ParseZshHistory(f, time.Time{})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if len(es) != 4 {
		t.Fatalf("%d entries %+v, peer asserts 4", len(es), es)
	}
	if es[0].Command != "cd plaso" || *es[0].Elapsed != 0 || es[0].Time.Format(time.RFC3339) != "2016-03-12T08:26:50Z" {
		t.Errorf("#0 = %+v", es[0])
	}
	if es[2].Command != "echo dfgdfg \\\n& touch /tmp/afile" {
		t.Errorf("#2 continued command = %q", es[2].Command)
	}
}
