package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// testRawSize is not a multiple of any cluster or grain size, so the last
// partial unit is exercised too.
const testRawSize = 24<<20 + 3584

// writeTestRaw writes a disk with the kinds of content that take different
// paths through the formats: compressible text, incompressible bytes,
// all-zero runs, scattered sectors and a non-zero last sector.
func writeTestRaw(t testing.TB, path string, size int64) {
	t.Helper()
	buf := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"root ", "sshd[", "Accepted ", "publickey ", "for ", "from ", "10.0.", "port ", "\n", "cron ", "session ", "opened ", "uid=0 "}
	var text bytes.Buffer
	for text.Len() < 5<<20 {
		text.WriteString(words[rng.IntN(len(words))])
		fmt.Fprintf(&text, "%d ", rng.IntN(100000))
	}
	copy(buf, text.Bytes())                      // 0..5 MiB: text
	for i := int64(7 << 20); i < 8<<20; i += 8 { // 7..8 MiB: random
		v := rng.Uint64()
		for k := range 8 {
			buf[i+int64(k)] = byte(v >> (8 * k))
		}
	}
	// 8 MiB..end: holes with sectors and odd-sized runs here and there.
	for i := 0; i < 200; i++ {
		off := 8<<20 + rng.Int64N(size-8<<20-70000)
		n := 512 + rng.IntN(65536)
		for k := range n {
			buf[off+int64(k)] = byte(i + k%251)
		}
	}
	copy(buf[size-512:], bytes.Repeat([]byte("LAST"), 128))
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// qemuRaw converts img (of the given qemu format name) with qemu-img to a
// raw file and returns its bytes: the independent truth for every
// container test. The format is named because qemu-img probes a fixed VHD
// as raw (its only magic is in the footer).
func qemuRaw(t testing.TB, img, format string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "truth.raw")
	testenv.Run(t, "qemu-img", "convert", "-f", format, "-O", "raw", img, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkEqual opens img with our reader and compares it with want: the
// SHA-256 of a streaming Copy, and small reads at awkward offsets that go
// through the decompressed-unit cache.
func checkEqual(t *testing.T, img string, want []byte) *Image {
	t.Helper()
	im, err := Open(img)
	if err != nil {
		t.Fatalf("Open(%s): %v", img, err)
	}
	t.Cleanup(func() { im.Close() })
	if im.Size() != int64(len(want)) {
		t.Fatalf("%s: size %d, qemu-img says %d", img, im.Size(), len(want))
	}
	h := sha256.New()
	n, err := im.WriteTo(h)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("%s: WriteTo = %d, %v", img, n, err)
	}
	if got, w := hex.EncodeToString(h.Sum(nil)), sha(want); got != w {
		t.Fatalf("%s: sha256 %s, qemu-img convert gives %s", img, got, w)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		off := rng.Int64N(int64(len(want)))
		l := 1 + rng.IntN(200000)
		p := make([]byte, l)
		m, err := im.ReadAt(p, off)
		wantN := min(int64(l), int64(len(want))-off)
		if int64(m) != wantN || (err != nil && err != io.EOF) || (int64(l) > wantN && err != io.EOF) {
			t.Fatalf("%s: ReadAt(%d, %d) = %d, %v", img, l, off, m, err)
		}
		if !bytes.Equal(p[:m], want[off:off+int64(m)]) {
			t.Fatalf("%s: ReadAt(%d, %#x) differs from qemu-img", img, l, off)
		}
	}
	return im
}
