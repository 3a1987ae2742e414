package inflate

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"io"
	"testing"
)

func seeds(f *testing.F) {
	for _, name := range []string{"small", "period3", "mixed"} {
		data := corpus()[name]
		for _, level := range []int{flate.HuffmanOnly, 0, 1, 9} {
			f.Add(deflate(f, data, level), uint16(len(data)))
		}
	}
	f.Add([]byte{0x4b, 0x04, 0x42, 0x00}, uint16(3))
	f.Add([]byte{0x01, 0x05, 0x00, 0xfa, 0xff, 'h', 'e', 'l', 'l', 'o'}, uint16(5))
}

// FuzzDecode checks Decode against compress/flate on any input and output
// size: what compress/flate decodes we decode the same, and nothing
// panics or reads past the input.
func FuzzDecode(f *testing.F) {
	seeds(f)
	d := NewDecoder()
	f.Fuzz(func(t *testing.T, src []byte, size uint16) {
		differential(t, d, src, int(size))
	})
}

// FuzzDecodeZlib runs the zlib wrapper on any input: a stream it decodes to
// its end (trailer checked) compress/zlib decodes the same.
func FuzzDecodeZlib(f *testing.F) {
	for _, name := range []string{"small", "mixed"} {
		data := corpus()[name]
		f.Add(zlibStream(f, data, 6), uint16(len(data)))
	}
	d := NewDecoder()
	f.Fuzz(func(t *testing.T, src []byte, size uint16) {
		dst := make([]byte, size)
		n, err := d.DecodeZlib(dst, src)
		if n > len(dst) {
			t.Fatalf("n=%d > %d", n, len(dst))
		}
		if err != nil || !d.ended {
			return
		}
		zr, zerr := zlib.NewReader(bytes.NewReader(src))
		if zerr != nil {
			t.Fatalf("we decoded a stream compress/zlib refuses: %v", zerr)
		}
		ref, zerr := io.ReadAll(zr)
		if zerr != nil || !bytes.Equal(ref, dst[:n]) {
			t.Fatalf("compress/zlib: %d bytes, %v; we: %d bytes", len(ref), zerr, n)
		}
	})
}
