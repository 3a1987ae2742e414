// Package testenv finds what tests need outside the repository: the shared
// peer data beside the checkout and the independent tools (qemu-img, TSK,
// mkfs.*, …) that CI installs. A test skips with a clear message when run
// somewhere without them; CI installs everything (.ci/install-deps), so
// there nothing skips.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// RepoRoot is the folder holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testenv: no go.mod above the test's folder")
		}
		dir = parent
	}
}

// Shared is ../shared beside the checkout, or $COLDCASE_SHARED.
func Shared(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("COLDCASE_SHARED"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(t), "..", "shared")
}

// PeerData returns the path of a file under shared/peerdata, skipping the
// test when it is absent.
func PeerData(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Shared(t), "peerdata", rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("peer data %s missing in CI: %v", rel, err)
		}
		t.Skipf("peer data %s not present (expected ../shared/peerdata beside the checkout): %v", rel, err)
	}
	return p
}

// PeerFile returns the bytes of a file under the peer data, skipping or
// failing as PeerData does.
func PeerFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(PeerData(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SeedPeer adds the files under the peer data that are present to a fuzz
// target's seed corpus; the target still runs, on its other seeds, where
// the peer data is absent.
func SeedPeer(f *testing.F, rels ...string) {
	f.Helper()
	for _, rel := range rels {
		if b, err := os.ReadFile(filepath.Join(Shared(f), "peerdata", rel)); err == nil {
			f.Add(b)
		}
	}
}

// NeedTool skips the test when one of the named commands is not on PATH
// (sbin folders included). In CI (CI=true) a missing tool fails instead,
// because .ci/install-deps should have installed it.
func NeedTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := LookPath(n); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not installed in CI; add its package to .ci/install-deps", n)
			}
			t.Skipf("%s not installed (Debian: see .ci/install-deps)", n)
		}
	}
}

// LookPath is exec.LookPath that also searches /usr/sbin and /sbin, where
// mkfs.*, debugfs and lvm live but which a non-root PATH may lack.
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

// Run runs a command, failing the test with its output on error.
func Run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	p, err := LookPath(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out, err := exec.Command(p, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// Fsck runs e2fsck -fy on an image, accepting exit status 1 ("errors
// corrected", which replaying a journal is).
func Fsck(t testing.TB, img string) []byte {
	t.Helper()
	p, err := LookPath("e2fsck")
	if err != nil {
		t.Fatalf("e2fsck: %v", err)
	}
	cmd := exec.Command(p, "-fy", img)
	out, err := cmd.CombinedOutput()
	if err != nil && cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("e2fsck -fy %s: %v\n%s", img, err, out)
	}
	return out
}

// Output runs a command and returns its stdout only, failing on error.
func Output(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	p, err := LookPath(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	cmd := exec.Command(p, args...)
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr)
	}
	return out
}

// TrackHeap samples the Go heap every few milliseconds until the returned
// function is called, which reports the peak bytes in use. Benchmarks use it
// to show that memory does not grow with input size.
func TrackHeap() (stop func() uint64) {
	var peak uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak {
				peak = ms.HeapInuse
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak
	}
}

// Bench skips an expensive benchmark unless COLDCASE_BENCH=1 (make bench).
func Bench(b *testing.B) {
	b.Helper()
	if os.Getenv("COLDCASE_BENCH") == "" {
		b.Skip("set COLDCASE_BENCH=1 (make bench) to run this benchmark")
	}
}

// LoopLock serialises tests that set up loop devices and run lvm2 (they
// run in parallel test binaries, one per package, and losetup -f and
// lvm2's own locking do not always survive the race). It is released when
// the test ends.
func LoopLock(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "coldcase-loop.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}
