package rpmdb

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

var (
	dnfOnce sync.Once
	dnfErr  error
)

// dnfRoot runs testdata/artifacts/rpm/dnf.sh once and returns a fresh
// copy of its installroot, so the tools a test runs (which checkpoint
// and delete -wal files) do not change what the next test reads.
func dnfRoot(t *testing.T) string {
	t.Helper()
	dir := testDB(t)
	testenv.NeedTool(t, "dnf")
	testenv.NeedTool(t, "createrepo_c")
	dnfOnce.Do(func() {
		script := filepath.Join(testenv.RepoRoot(t), "testdata/artifacts/rpm/dnf.sh")
		if out, err := exec.Command(script, dir).CombinedOutput(); err != nil {
			dnfErr = fmt.Errorf("%s: %v\n%s", script, err, out)
		}
	})
	if dnfErr != nil {
		t.Fatal(dnfErr)
	}
	cp := t.TempDir()
	if out, err := exec.Command("cp", "-a", filepath.Join(dir, "dnfroot"), cp).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return filepath.Join(cp, "dnfroot")
}

func inverse(m map[int64]string) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		out[v] = k
	}
	return out
}

func TestHistoryAgainstSQLite3(t *testing.T) {
	testenv.NeedTool(t, "sqlite3")
	root := dnfRoot(t)
	tools := dnfRoot(t) // sqlite3 and dnf read this copy
	var warns []string
	txs, dropped, err := ReadHistory(os.DirFS(root), HistoryLocations[0], func(s string) { warns = append(warns, s) })
	if err != nil {
		t.Fatal(err)
	}
	if dropped != 0 || len(txs) != 3 {
		t.Fatalf("%d transactions (%d items dropped), dnf.sh ran 3", len(txs), dropped)
	}
	t.Logf("warnings: %q", warns)
	// dnf leaves history.sqlite in WAL mode: the reader must say so.
	if fi, err := os.Stat(filepath.Join(root, "var/lib/dnf/history.sqlite-wal")); err == nil && fi.Size() > 0 {
		if len(warns) != 1 || !strings.Contains(warns[0], "history.sqlite-wal present") || !strings.Contains(warns[0], "applied") {
			t.Errorf("warnings %q: want one telling the WAL was applied", warns)
		}
	}
	act, rsn, st := inverse(dnfActions), inverse(dnfReasons), inverse(dnfStates)
	var got []string
	for _, tx := range txs {
		uid := "4294967295"
		if tx.LoginUID != nil {
			uid = strconv.FormatUint(uint64(*tx.LoginUID), 10)
		}
		for _, it := range tx.Items {
			got = append(got, strings.Join([]string{strconv.FormatInt(tx.ID, 10), strconv.FormatInt(tx.Begin.Unix(), 10),
				strconv.FormatInt(tx.End.Unix(), 10), uid, tx.Cmdline, tx.ReleaseVer, strconv.FormatInt(st[tx.State], 10),
				it.Name, strconv.FormatInt(it.Epoch, 10), it.Version, it.Release, it.Arch,
				strconv.FormatInt(act[it.Action], 10), strconv.FormatInt(rsn[it.Reason], 10), strconv.FormatInt(st[it.State], 10), it.Repo}, "|"))
		}
	}
	q := `select t.id, t.dt_begin, t.dt_end, case when t.user_id < 0 then 4294967295 else t.user_id end, t.cmdline, t.releasever, t.state,
		r.name, r.epoch, r.version, r.release, r.arch, ti.action, ti.reason, ti.state, coalesce(repo.repoid, '')
		from trans t join trans_item ti on ti.trans_id = t.id join rpm r on r.item_id = ti.item_id
		left join repo on repo.id = ti.repo_id order by t.id, ti.id`
	out, err := exec.Command("sqlite3", "-readonly", filepath.Join(tools, "var/lib/dnf/history.sqlite"), q).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(out)), "\n")
	compareLines(t, "history", want, got)

	// dnf's own view: command line and altered packages per transaction.
	for _, tx := range txs {
		out, err := exec.Command("dnf", "-q", "--installroot", tools, "--releasever", "9", "history", "info", strconv.FormatInt(tx.ID, 10)).Output()
		if err != nil {
			t.Fatalf("dnf history info %d: %v", tx.ID, err)
		}
		s := string(out)
		if !strings.Contains(s, "Command Line   : "+tx.Cmdline+"\n") {
			t.Errorf("transaction %d: command line %q not in dnf's\n%s", tx.ID, tx.Cmdline, s)
		}
		for _, it := range tx.Items {
			word := map[string]string{"install": "Install", "remove": "Removed"}[it.Action]
			if !strings.Contains(s, word+" "+it.NEVRA()) {
				t.Errorf("transaction %d: %q %s not in dnf's\n%s", tx.ID, word, it.NEVRA(), s)
			}
		}
	}
	if txs[2].Items[0].Action != "remove" || txs[2].Items[0].Name != "cc-alpha" {
		t.Errorf("third transaction = %+v, dnf.sh removed cc-alpha", txs[2].Items)
	}
}

// TestDnfRPMDB reads the rpm database dnf wrote (in WAL mode) and
// compares it with rpm's view.
func TestDnfRPMDB(t *testing.T) {
	root := dnfRoot(t)
	d, ok := Find(os.DirFS(root))
	if !ok {
		t.Fatal("no rpm database found")
	}
	pkgs, files, _ := ours(t, d, root)
	tools := dnfRoot(t)
	compareLines(t, "packages", rpmQuery(t, filepath.Join(tools, "var/lib/rpm"), "", pkgQF), pkgs)
	compareLines(t, "files", rpmQuery(t, filepath.Join(tools, "var/lib/rpm"), "", fileQF), files)
	if len(pkgs) != 2 {
		t.Errorf("%d packages, want 2 (cc-alpha was removed)", len(pkgs))
	}
}

// TestHistoryCorrupt damages dnf's real history database (WAL folded in
// by copying sqlite3's checkpointed file) at random places: ReadHistory
// must return an error or transactions, never panic or hang.
func TestHistoryCorrupt(t *testing.T) {
	testenv.NeedTool(t, "sqlite3")
	root := dnfRoot(t)
	p := filepath.Join(root, "var/lib/dnf/history.sqlite")
	if out, err := exec.Command("sqlite3", p, "PRAGMA wal_checkpoint(TRUNCATE);").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v %s", err, out)
	}
	os.Remove(p + "-wal")
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	errs := 0
	for i := 0; i < 300; i++ {
		b := append([]byte(nil), orig...)
		for k := 0; k < 1+rng.Intn(8); k++ {
			b[rng.Intn(len(b))] = byte(rng.Intn(256))
		}
		fsys := fstest.MapFS{"var/lib/dnf/history.sqlite": {Data: b}}
		if _, _, err := ReadHistory(fsys, HistoryLocations[0], func(string) {}); err != nil {
			errs++
		}
	}
	t.Logf("%d of 300 damaged copies gave an error", errs)
	if txs, _, err := ReadHistory(fstest.MapFS{"var/lib/dnf/history.sqlite": {Data: orig}}, HistoryLocations[0], func(string) {}); err != nil || len(txs) != 3 {
		t.Errorf("checkpointed copy: %d transactions, %v", len(txs), err)
	}
}

// TestHistoryDnf5 reads a database laid out as dnf 5 keeps it (enum,
// name and arch tables; table-level primary keys), written by sqlite3.
func TestHistoryDnf5(t *testing.T) {
	testenv.NeedTool(t, "sqlite3")
	root := t.TempDir()
	p := filepath.Join(root, HistoryLocations[1])
	os.MkdirAll(filepath.Dir(p), 0o755)
	cmd := exec.Command("sqlite3", p)
	cmd.Stdin = strings.NewReader(`
CREATE TABLE "trans_state" ("id" INTEGER, "name" TEXT, PRIMARY KEY("id"));
INSERT INTO "trans_state" VALUES (1, 'Started'), (2, 'Ok'), (3, 'Error');
CREATE TABLE "trans" ("id" INTEGER, "dt_begin" INTEGER NOT NULL, "dt_end" INTEGER, "rpmdb_version_begin" TEXT,
	"rpmdb_version_end" TEXT, "releasever" TEXT NOT NULL, "user_id" INTEGER NOT NULL, "description" TEXT,
	"comment" TEXT, "state_id" INTEGER, PRIMARY KEY("id" AUTOINCREMENT));
CREATE TABLE "repo" ("id" INTEGER, "repoid" TEXT NOT NULL, PRIMARY KEY("id"));
CREATE TABLE "pkg_names" ("id" INTEGER, "name" TEXT NOT NULL UNIQUE, PRIMARY KEY("id"));
CREATE TABLE "archs" ("id" INTEGER, "name" TEXT NOT NULL UNIQUE, PRIMARY KEY("id"));
CREATE TABLE "item" ("id" INTEGER, PRIMARY KEY("id"));
CREATE TABLE "trans_item_action" ("id" INTEGER, "name" TEXT, PRIMARY KEY("id"));
INSERT INTO "trans_item_action" VALUES (1, 'Install'), (2, 'Upgrade'), (3, 'Downgrade'), (4, 'Reinstall'), (5, 'Remove'), (6, 'Replaced'), (7, 'Reason Change');
CREATE TABLE "trans_item_reason" ("id" INTEGER, "name" TEXT, PRIMARY KEY("id"));
INSERT INTO "trans_item_reason" VALUES (0, 'None'), (1, 'Dependency'), (2, 'User'), (3, 'Clean'), (4, 'Weak Dependency'), (5, 'Group'), (6, 'External User');
CREATE TABLE "trans_item_state" ("id" INTEGER, "name" TEXT, PRIMARY KEY("id"));
INSERT INTO "trans_item_state" VALUES (1, 'Started'), (2, 'Ok'), (3, 'Error');
CREATE TABLE "trans_item" ("id" INTEGER, "trans_id" INTEGER, "item_id" INTEGER, "repo_id" INTEGER,
	"action_id" INTEGER NOT NULL, "reason_id" INTEGER NOT NULL, "state_id" INTEGER NOT NULL, PRIMARY KEY("id" AUTOINCREMENT));
CREATE TABLE "rpm" ("item_id" INTEGER NOT NULL UNIQUE, "name_id" INTEGER NOT NULL, "epoch" INTEGER NOT NULL,
	"version" TEXT NOT NULL, "release" TEXT NOT NULL, "arch_id" INTEGER NOT NULL);
INSERT INTO repo VALUES (1, 'fedora');
INSERT INTO pkg_names VALUES (1, 'htop'), (2, 'bash');
INSERT INTO archs VALUES (1, 'x86_64');
INSERT INTO item VALUES (1), (2), (3);
INSERT INTO rpm VALUES (1, 1, 0, '3.3.0', '1.fc41', 1), (2, 2, 0, '5.2.32', '1.fc41', 1), (3, 2, 0, '5.2.26', '3.fc41', 1);
INSERT INTO trans VALUES (1, 1730000000, 1730000042, '', '', '41', 1000, 'dnf5 upgrade bash htop', '', 2);
INSERT INTO trans_item VALUES (1, 1, 1, 1, 1, 2, 2), (2, 1, 2, 1, 2, 2, 2), (3, 1, 3, NULL, 6, 2, 2);
`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v %s", err, out)
	}
	txs, _, err := ReadHistory(os.DirFS(root), HistoryLocations[1], func(s string) { t.Error(s) })
	if err != nil || len(txs) != 1 {
		t.Fatalf("%d transactions, %v", len(txs), err)
	}
	tx := txs[0]
	if tx.ID != 1 || tx.State != "done" || tx.Cmdline != "dnf5 upgrade bash htop" || tx.LoginUID == nil || *tx.LoginUID != 1000 || len(tx.Items) != 3 {
		t.Fatalf("transaction %+v", tx)
	}
	want := []string{"install htop-3.3.0-1.fc41.x86_64 user done fedora", "upgrade bash-5.2.32-1.fc41.x86_64 user done fedora",
		"replaced bash-5.2.26-3.fc41.x86_64 user done "}
	for i, it := range tx.Items {
		if got := strings.Join([]string{it.Action, it.NEVRA(), it.Reason, it.State, it.Repo}, " "); got != want[i] {
			t.Errorf("item %d: %q, want %q", i, got, want[i])
		}
	}
}
