package rpmdb

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// yumHistory builds a yum history database with the sqlite3 CLI from
// testdata/artifacts/rpm/yum-history.sql (yum's schema, libdnf's rows)
// and returns the guest root holding it.
func yumHistory(t testing.TB) string {
	t.Helper()
	testenv.NeedTool(t, "sqlite3")
	root := t.TempDir()
	dir := filepath.Join(root, YumHistoryDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sql, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "testdata/artifacts/rpm/yum-history.sql"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sqlite3", filepath.Join(dir, "history-2017-12-14.sqlite"))
	cmd.Stdin = bytesReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v %s", err, out)
	}
	return root
}

func TestYumHistory(t *testing.T) {
	root := yumHistory(t)
	txs, dropped, err := ReadYumHistory(os.DirFS(root), YumHistoryDir+"/history-2017-12-14.sqlite", func(s string) { t.Error(s) })
	if err != nil || dropped != 0 || len(txs) != 3 {
		t.Fatalf("%d transactions, %d dropped, %v", len(txs), dropped, err)
	}
	// libdnf TransformerTest's assertions.
	a, b := txs[0], txs[1]
	if a.ID != 1 || a.Begin.Unix() != 1513267401 || a.End.Unix() != 1513267509 || a.LoginUID == nil || *a.LoginUID != 1000 ||
		a.Cmdline != "upgrade -y" || a.State != "done" || len(a.Items) != 1 {
		t.Errorf("transaction 1 = %+v", a)
	}
	if it := a.Items[0]; it.Name != "chrony" || it.Epoch != 1 || it.Version != "3.1" || it.Release != "4.fc26" || it.Action != "upgrade" || it.State != "done" {
		t.Errorf("transaction 1 item = %+v", it)
	}
	if b.ID != 2 || b.Begin.Unix() != 1513267535 || b.End.Unix() != 1513267539 || b.Cmdline != "-y install Foo" || b.State != "done" ||
		len(b.Items) != 1 || b.Items[0].Name != "kernel" || b.Items[0].Action != "install" || b.Items[0].Epoch != 0 {
		t.Errorf("transaction 2 = %+v", b)
	}
	// Ours: interrupted (no trans_end), unset login uid, dependency.
	c := txs[2]
	if c.State != "unknown" || !c.End.IsZero() || c.LoginUID != nil || c.Begin != time.Unix(1513300000, 0).UTC() ||
		len(c.Items) != 1 || c.Items[0].Reason != "dependency" || c.Items[0].State != "error" || c.Items[0].NEVRA() != "nmap-ncat-2:6.40-19.el7.x86_64" {
		t.Errorf("transaction 3 = %+v", c)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
