package packages

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/artifacts/rpmdb"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
	"github.com/coldcase-dfir/coldcase/timeline"
)

// TestRPMGuest runs the extractor on an installroot where dnf (offline,
// from a createrepo_c repository of rpmbuild packages) installed two
// packages, then one, then removed one (testdata/artifacts/rpm), and
// checks the rpm and dnf-history events against rpm -qa and sqlite3.
func TestRPMGuest(t *testing.T) {
	for _, tool := range []string{"rpm", "rpmbuild", "sqlite3", "db5.3_load", "dnf", "createrepo_c"} {
		testenv.NeedTool(t, tool)
	}
	dir := t.TempDir()
	for _, s := range []string{"build.sh", "dnf.sh"} {
		script := filepath.Join(testenv.RepoRoot(t), "testdata/artifacts/rpm", s)
		if out, err := exec.Command(script, dir).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", s, err, out)
		}
	}
	root := filepath.Join(dir, "dnfroot")
	env := artifacts.NewEnv(os.DirFS(root))
	var c timeline.Collect
	env.Events = &c
	res, err := Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	sum := res.(*Summary)
	if len(sum.Databases) != 2 || sum.Databases[0].Path != "/var/lib/rpm/rpmdb.sqlite" || sum.Databases[1].Path != "/var/lib/dnf/history.sqlite" {
		t.Fatalf("databases %+v", sum.Databases)
	}
	for _, d := range sum.Databases {
		if d.Error != "" {
			t.Errorf("%s: %s", d.Path, d.Error)
		}
	}
	var rpmEv, cmdEv, itemEv []timeline.Event
	for _, e := range c.Events {
		switch {
		case e.Source == "rpm":
			rpmEv = append(rpmEv, e)
		case e.Source == "dnf" && e.Evidence.Path == "/var/lib/dnf/history.sqlite" && e.TimestampDesc == "Package command":
			cmdEv = append(cmdEv, e)
		case e.Source == "dnf" && e.Evidence.Path == "/var/lib/dnf/history.sqlite":
			itemEv = append(itemEv, e)
		}
	}

	// rpm's view of the database dnf wrote.
	out, err := exec.Command("rpm", "--dbpath", filepath.Join(root, "var/lib/rpm"), "-qa", "--qf", "%{NAME} %{INSTALLTIME} %{VERSION}-%{RELEASE}\n").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(rpmEv) != len(want) || len(want) != 2 {
		t.Fatalf("%d rpm events, rpm lists %d packages (want 2)", len(rpmEv), len(want))
	}
	for _, w := range want {
		f := strings.Fields(w)
		sec, _ := strconv.ParseInt(f[1], 10, 64)
		found := false
		for _, e := range rpmEv {
			if e.Attrs["package"] == f[0] {
				found = true
				if !e.Time.Equal(time.Unix(sec, 0)) || e.TimestampDesc != "Package installed" || e.Attrs["version"] != f[2] || e.Evidence.Offset <= 0 {
					t.Errorf("%s: event %+v, rpm says %s", f[0], e, w)
				}
			}
		}
		if !found {
			t.Errorf("no event for %s", w)
		}
	}

	// sqlite3's view of dnf's history.
	q := `select t.id, t.dt_begin, t.cmdline, (select count(*) from trans_item i where i.trans_id = t.id) from trans t order by t.id`
	out, err = exec.Command("sqlite3", "-readonly", "-separator", "\t", filepath.Join(root, "var/lib/dnf/history.sqlite"), q).Output()
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(cmdEv) != len(rows) || len(rows) != 3 {
		t.Fatalf("%d transaction events, sqlite3 lists %d transactions (want 3)", len(cmdEv), len(rows))
	}
	items := 0
	for i, r := range rows {
		f := strings.Split(r, "\t")
		sec, _ := strconv.ParseInt(f[1], 10, 64)
		e := cmdEv[i]
		if e.Attrs["transaction"] != f[0] || !e.Time.Equal(time.Unix(sec, 0)) || e.Attrs["command"] != f[2] || e.Attrs["items"] != f[3] {
			t.Errorf("transaction %s: event %+v, sqlite3 says %q", f[0], e, r)
		}
		n, _ := strconv.Atoi(f[3])
		items += n
	}
	if len(itemEv) != items {
		t.Errorf("%d item events, sqlite3 counts %d items", len(itemEv), items)
	}
	last := itemEv[len(itemEv)-1]
	if last.TimestampDesc != "Package removed" || last.Attrs["package"] != "cc-alpha" || last.Attrs["transaction"] != "3" {
		t.Errorf("last item event %+v: dnf.sh removed cc-alpha in transaction 3", last)
	}
}

func TestHistoryEventsUserAndUpgrade(t *testing.T) {
	uid := uint32(1000)
	tx := &rpmdb.Transaction{ID: 7, Begin: time.Unix(1700000000, 0).UTC(), LoginUID: &uid, Cmdline: "upgrade openssh", State: "done",
		Items: []rpmdb.TransItem{
			{Name: "openssh", Version: "8.7p1", Release: "38.el9", Arch: "x86_64", Action: "upgrade", Reason: "user", State: "done"},
			{Name: "openssh", Version: "8.7p1", Release: "34.el9", Arch: "x86_64", Action: "upgraded", Reason: "user", State: "done"},
			{Name: "nc", Epoch: 2, Version: "7.92", Release: "1", Arch: "x86_64", Action: "install", Reason: "dependency", State: "done"},
		}}
	evs := HistoryEvents("dnf", tx, map[uint32]string{1000: "alice"})
	if len(evs) != 3 {
		t.Fatalf("%d events: the upgraded half gives none", len(evs))
	}
	if evs[0].User != "alice" || evs[0].Attrs["uid"] != "1000" || !strings.Contains(evs[0].Message, "upgrade openssh") ||
		!strings.Contains(evs[0].Message, "1 upgrade, 1 upgraded, 1 install") {
		t.Errorf("command event %+v", evs[0])
	}
	if e := evs[1]; e.TimestampDesc != "Package upgraded" || e.Attrs["old_version"] != "8.7p1-34.el9" || e.Attrs["version"] != "8.7p1-38.el9" || e.User != "alice" {
		t.Errorf("upgrade event %+v", e)
	}
	if e := evs[2]; e.TimestampDesc != "Package installed" || e.Attrs["epoch"] != "2" || e.Attrs["reason"] != "dependency" {
		t.Errorf("install event %+v", e)
	}
	tx.LoginUID = nil
	if evs := HistoryEvents("dnf", tx, nil); evs[0].User != "" || evs[0].Attrs["uid"] != "" {
		t.Errorf("unset login uid: %+v", evs[0])
	}
}

// TestYumHistoryGuest: a CentOS 7 style guest with only yum's history
// (built by sqlite3 from yum's schema and libdnf's test rows) and an
// /etc/passwd naming uid 1000.
func TestYumHistoryGuest(t *testing.T) {
	testenv.NeedTool(t, "sqlite3")
	root := t.TempDir()
	dir := filepath.Join(root, rpmdb.YumHistoryDir)
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n"), 0o644)
	sql, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "testdata/artifacts/rpm/yum-history.sql"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sqlite3", filepath.Join(dir, "history-2017-12-14.sqlite"))
	cmd.Stdin = strings.NewReader(string(sql))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v %s", err, out)
	}
	env := artifacts.NewEnv(os.DirFS(root))
	var c timeline.Collect
	env.Events = &c
	res, err := Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	sum := res.(*Summary)
	if len(sum.Databases) != 1 || sum.Databases[0].Format != "yum-history" || sum.Databases[0].Records != 3 {
		t.Fatalf("databases %+v", sum.Databases)
	}
	if len(c.Events) != 6 {
		t.Fatalf("%d events, want 3 commands and 3 packages", len(c.Events))
	}
	e := c.Events[0]
	if e.Source != "yum" || e.TimestampDesc != "Package command" || e.User != "alice" || e.Attrs["command"] != "upgrade -y" ||
		!e.Time.Equal(time.Unix(1513267401, 0)) || e.Evidence.Path != "/var/lib/yum/history/history-2017-12-14.sqlite" {
		t.Errorf("first event %+v", e)
	}
	if e := c.Events[1]; e.TimestampDesc != "Package upgraded" || e.Attrs["package"] != "chrony" || e.Attrs["epoch"] != "1" || e.User != "alice" {
		t.Errorf("second event %+v", e)
	}
	if e := c.Events[4]; e.Attrs["state"] != "unknown" || e.User != "" {
		t.Errorf("interrupted transaction %+v", e)
	}
}
