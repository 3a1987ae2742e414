package testenv

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
)

// maxPeerImage bounds a decompressed peer image; the util-linux ones are
// a few tens of MiB.
const maxPeerImage = 256 << 20

// PeerXZ returns the decompressed bytes of an .xz file under the peer
// data (see PeerData), skipping or failing as PeerData does.
func PeerXZ(t testing.TB, rel string) []byte {
	t.Helper()
	f, err := os.Open(PeerData(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := xz.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, maxPeerImage+1))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if len(b) > maxPeerImage {
		t.Fatalf("%s: more than %d bytes decompressed", rel, maxPeerImage)
	}
	return b
}

// BodyLine is one line of a TSK 3 bodyfile, as `fls -m` prints it.
type BodyLine struct {
	Name  string // as printed, mount prefix and " (deleted)" included
	Inode string // "addr" or "addr-type-id"
	Mode  string // "r/rrwxrwxrwx"
	UID   int64
	GID   int64
	Size  int64
	// Atime, Mtime, Ctime, Crtime in Unix seconds (0: unset).
	Atime, Mtime, Ctime, Crtime int64
}

// Fls runs `fls -r -p -m / [extra…] image` with TZ=UTC (TSK renders
// zone-less FAT times through the C library's local time) and parses its
// bodyfile. It needs fls (NeedTool).
func Fls(t testing.TB, image string, extra ...string) []BodyLine {
	t.Helper()
	NeedTool(t, "fls")
	p, _ := LookPath("fls")
	cmd := exec.Command(p, append(append([]string{"-r", "-p", "-m", "/"}, extra...), image)...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fls %s: %v", image, err)
	}
	var lines []BodyLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) != 11 {
			t.Fatalf("fls line %q: %d fields, want 11", sc.Text(), len(f))
		}
		var n [7]int64
		for i, s := range append(f[4:6:6], f[6:]...) {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("fls line %q: field %q: %v", sc.Text(), s, err)
			}
			n[i] = v
		}
		lines = append(lines, BodyLine{Name: f[1], Inode: f[2], Mode: f[3], UID: n[0], GID: n[1],
			Size: n[2], Atime: n[3], Mtime: n[4], Ctime: n[5], Crtime: n[6]})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("fls: %v", err)
	}
	return lines
}

// OpenImage opens an image file for reading, closed when the test ends,
// and returns it with its size.
func OpenImage(t testing.TB, path string) (*os.File, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return f, fi.Size()
}

// Versus times ours and then the independent tool on the same input in
// each of b.N iterations, and reports ours' time over the tool's as
// metric (below 1: we are faster).
func Versus(b *testing.B, metric string, ours func(), tool string, args ...string) {
	b.Helper()
	NeedTool(b, tool)
	p, _ := LookPath(tool)
	var us, them time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		ours()
		us += time.Since(t0)
		t1 := time.Now()
		if out, err := exec.Command(p, args...).CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v\n%s", tool, args, err, out)
		}
		them += time.Since(t1)
	}
	b.ReportMetric(float64(us)/float64(them), metric)
}

// ImageSet builds test images with one of the repository's scripts, once
// per test binary and argument list. The script is run as
// `Shell Script OUT ARGS…` with /usr/sbin and /sbin on PATH; OUT is a
// fresh path inside a temporary folder that Remove deletes (call it from
// TestMain after m.Run). Tests must not modify what Build returns.
type ImageSet struct {
	Script string // relative to the repository root
	Shell  string // "sh" or "bash" (the default), as the script's #! says
	Name   string // OUT's base name; "" names it after the arguments

	mu    sync.Mutex
	dir   string
	built map[string]string
}

// Build returns OUT for args, running the script the first time.
func (s *ImageSet) Build(t testing.TB, args ...string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.Join(args, "\x00")
	if out, ok := s.built[key]; ok {
		return out
	}
	if s.dir == "" {
		d, err := os.MkdirTemp("", "coldcase-images-")
		if err != nil {
			t.Fatal(err)
		}
		s.dir, s.built = d, map[string]string{}
	}
	sub := filepath.Join(s.dir, strconv.Itoa(len(s.built)))
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	name := s.Name
	if name == "" {
		name = strings.Join(append([]string{"out"}, args...), "-")
	}
	out := filepath.Join(sub, name)
	shell := s.Shell
	if shell == "" {
		shell = "bash"
	}
	cmd := exec.Command(shell, append([]string{filepath.Join(RepoRoot(t), s.Script), out}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", s.Script, args, err, b)
	}
	s.built[key] = out
	return out
}

// Remove deletes every image built.
func (s *ImageSet) Remove() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir != "" {
		os.RemoveAll(s.dir)
		s.dir, s.built = "", nil
	}
}
