package inflate

import (
	"compress/flate"
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

// FuzzDecodeZlib runs the zlib wrapper on any input.
func FuzzDecodeZlib(f *testing.F) {
	for _, name := range []string{"small", "mixed"} {
		data := corpus()[name]
		f.Add(zlibStream(f, data, 6), uint16(len(data)))
	}
	d := NewDecoder()
	f.Fuzz(func(t *testing.T, src []byte, size uint16) {
		dst := make([]byte, size)
		n, err := d.DecodeZlib(dst, src)
		if n > len(dst) || (err == nil && d.ended && n == 0 && len(src) < 2+2+4) {
			t.Fatalf("n=%d err=%v", n, err)
		}
	})
}
