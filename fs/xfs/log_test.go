package xfs

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// logprintState asks xfs_logprint whether the log is clean or dirty.
func logprintState(t *testing.T, img string) string {
	t.Helper()
	p, err := testenv.LookPath("xfs_logprint")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(p, "-t", img).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if i := strings.Index(l, "state: <"); i >= 0 {
			return strings.TrimSuffix(l[i+len("state: <"):], ">")
		}
	}
	t.Fatalf("xfs_logprint printed no state:\n%s", out)
	return ""
}

// TestLogState compares the Dirty flag with xfs_logprint on a freshly made
// (clean) image and on a copy whose unmount record is forged away.
func TestLogState(t *testing.T) {
	testenv.NeedTool(t, "xfs_logprint")
	for _, v := range []string{"v5", "v4"} {
		img := buildImage(t, v) + "/xfs.img"
		x := openImage(t, img)
		if got, want := x.Info().Dirty, logprintState(t, img) == "DIRTY"; got != want {
			t.Errorf("%s: Dirty = %v, xfs_logprint says %s", v, got, logprintState(t, img))
		}
		_, last, err := x.logState()
		if err != nil {
			t.Fatal(err)
		}
		lin, _ := x.sb.linear(x.sb.logStart, 1)
		op := int64(lin)<<x.sb.blockLog + int64(last+1)*logBB + 9

		dirty := t.TempDir() + "/dirty.img"
		if b, err := exec.Command("cp", "--sparse=always", img, dirty).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, b)
		}
		f, err := os.OpenFile(dirty, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteAt([]byte{0}, op) // clear XLOG_UNMOUNT_TRANS
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if s := logprintState(t, dirty); s != "DIRTY" {
			t.Fatalf("%s: forged log is %s to xfs_logprint", v, s)
		}
		if !openImage(t, dirty).Info().Dirty {
			t.Errorf("%s: forged dirty log not reported", v)
		}
	}
}
