package inflate

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// corpus is data of the kinds disk clusters hold: log text, random bytes,
// zeros, short-period patterns (distances 1-7 take the byte-copy path),
// and a mix.
func corpus() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	text := func(n int) []byte {
		words := []string{"sshd", "Accepted", "publickey", "for", "root", "from", "port", "session", "cron", "CMD", "kernel:", "uid=0"}
		var b []byte
		for len(b) < n {
			b = fmt.Appendf(b, "Nov %2d %02d:%02d host%d %s[%d]: %s %s %d\n", 1+rng.IntN(30), rng.IntN(24), rng.IntN(60),
				rng.IntN(9), words[rng.IntN(len(words))], rng.IntN(65536), words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.Uint32())
		}
		return b[:n]
	}
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	pattern := func(period, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + i%period)
		}
		return b
	}
	mixed := append(append(append([]byte{}, text(20000)...), random[:9000]...), make([]byte, 30000)...)
	mixed = append(mixed, pattern(5, 6536)...)
	c := map[string][]byte{
		"empty": {}, "one": {'x'}, "text64k": text(64 << 10), "random64k": random, "zeros64k": make([]byte, 64<<10),
		"mixed": mixed, "text2m": text(2 << 20), "small": []byte("hello, hello, hello world\n"),
	}
	for p := 1; p <= 9; p++ {
		c[fmt.Sprintf("period%d", p)] = pattern(p, 5000)
	}
	return c
}

func deflate(t testing.TB, data []byte, level int) []byte {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()
	return buf.Bytes()
}

func zlibStream(t testing.TB, data []byte, level int) []byte {
	var buf bytes.Buffer
	w, err := zlib.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()
	return buf.Bytes()
}

// TestRoundTrip decodes what compress/flate wrote at every level (stored,
// Huffman-only, fixed and dynamic blocks) into an exact, a larger and a
// smaller buffer.
func TestRoundTrip(t *testing.T) {
	d := NewDecoder()
	for name, data := range corpus() {
		for _, level := range []int{flate.HuffmanOnly, 0, 1, 2, 5, 6, 9} {
			src := deflate(t, data, level)
			dst := make([]byte, len(data))
			n, err := d.Decode(dst, src)
			if err != nil || n != len(data) || !bytes.Equal(dst, data) {
				t.Fatalf("%s level %d exact: n=%d err=%v equal=%v", name, level, n, err, bytes.Equal(dst[:n], data))
			}
			big := make([]byte, len(data)+100)
			if n, err = d.Decode(big, src); err != nil || n != len(data) || !bytes.Equal(big[:n], data) {
				t.Fatalf("%s level %d larger: n=%d err=%v", name, level, n, err)
			}
			if len(data) > 1 {
				half := make([]byte, len(data)/2+1)
				if n, err = d.Decode(half, src); err != nil || n != len(half) || !bytes.Equal(half, data[:len(half)]) {
					t.Fatalf("%s level %d smaller: n=%d err=%v", name, level, n, err)
				}
			}
		}
	}
}

func TestZlib(t *testing.T) {
	d := NewDecoder()
	data := corpus()["mixed"]
	src := zlibStream(t, data, 6)
	dst := make([]byte, len(data))
	if n, err := d.DecodeZlib(dst, src); err != nil || n != len(data) || !bytes.Equal(dst, data) {
		t.Fatalf("n=%d err=%v", n, err)
	}
	bad := bytes.Clone(src)
	bad[len(bad)-1] ^= 1
	if _, err := d.DecodeZlib(dst, bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Adler-32 mismatch not detected: %v", err)
	}
	if _, err := d.DecodeZlib(dst, src[:len(src)-2]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("cut trailer not detected: %v", err)
	}
	for _, hdr := range [][]byte{{0x78, 0x9d}, {0x79, 0x9c}, {0x78, 0xbb}, {0x78}} {
		if _, err := d.DecodeZlib(dst, append(hdr, src[2:]...)); err == nil {
			t.Errorf("header % x accepted", hdr)
		}
	}
}

// TestTruncated cuts a stream at every length: each gives an error or
// fewer bytes than the stream holds, never wrong bytes or a panic.
func TestTruncated(t *testing.T) {
	d := NewDecoder()
	data := corpus()["mixed"][:20000]
	for _, level := range []int{0, 1, 6} {
		src := deflate(t, data, level)
		dst := make([]byte, len(data)+1) // a whole decode must reach the stream's end
		for cut := range len(src) {
			n, err := d.Decode(dst, src[:cut])
			if err == nil && n == len(data) {
				t.Fatalf("level %d cut at %d of %d: decoded everything", level, cut, len(src))
			}
			if err == nil && !bytes.Equal(dst[:n], data[:n]) {
				t.Fatalf("level %d cut at %d: wrong bytes", level, cut)
			}
			var e *Error
			if err != nil && !errors.As(err, &e) {
				t.Fatalf("level %d cut at %d: error %v is not an *Error", level, cut, err)
			}
		}
	}
}

// TestCorrupt names what is wrong and where.
func TestCorrupt(t *testing.T) {
	d := NewDecoder()
	dst := make([]byte, 1000)
	for _, c := range []struct {
		name string
		src  []byte
		want string
	}{
		{"reserved block type", []byte{0x07}, "reserved block type"},
		{"stored complement", []byte{0x01, 0x05, 0x00, 0x00, 0x00}, "does not match its complement"},
		{"stored cut", []byte{0x01, 0x05, 0x00, 0xfa, 0xff, 'a'}, "cut short"},
		{"too many codes", []byte{0xfd, 0xff, 0xff}, "literal/length and"},
		// Fixed block: literal 'a' then length 3 at distance 2 with one byte written.
		{"distance too far", []byte{0x4b, 0x04, 0x42, 0x00}, "before the start of the output"},
		{"empty", nil, "input ends"},
	} {
		_, err := d.Decode(dst, c.src)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

// TestAgainstCompressFlate decodes random mutations of real streams with
// both decoders: whatever compress/flate decodes in full, we decode the
// same.
func TestAgainstCompressFlate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	d := NewDecoder()
	base := [][]byte{}
	for _, data := range corpus() {
		if len(data) > 0 && len(data) <= 64<<10 {
			base = append(base, deflate(t, data, 6), deflate(t, data, 1), deflate(t, data, flate.HuffmanOnly))
		}
	}
	for i := range 3000 {
		src := bytes.Clone(base[i%len(base)])
		for range 1 + rng.IntN(3) {
			src[rng.IntN(len(src))] ^= byte(1 << rng.IntN(8))
		}
		differential(t, d, src, 64<<10)
	}
}

func differential(t *testing.T, d *Decoder, src []byte, size int) {
	ref, refErr := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(src)), int64(size)))
	dst := make([]byte, size)
	n, err := d.Decode(dst, src)
	var e *Error
	if errors.As(err, &e) && strings.HasSuffix(e.What, "no end-of-block code") {
		return // zlib (and so qemu) rejects such a block; compress/flate decodes it
	}
	if refErr == nil && len(ref) == size && (err != nil || n != size) {
		t.Fatalf("compress/flate filled %d bytes, we got n=%d err=%v on % x", size, n, err, src[:min(len(src), 64)])
	}
	if refErr == nil && len(ref) < size && err == nil && n != len(ref) {
		t.Fatalf("compress/flate ended the stream after %d bytes, we after %d", len(ref), n)
	}
	k := min(n, len(ref))
	if !bytes.Equal(dst[:k], ref[:k]) {
		t.Fatalf("bytes differ from compress/flate in the first %d", k)
	}
}
