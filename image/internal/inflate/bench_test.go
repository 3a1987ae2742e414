package inflate

import (
	"bytes"
	"compress/flate"
	"io"
	"testing"

	kflate "github.com/klauspost/compress/flate"
)

// clusters is 8 MiB of log-like text cut into 64 KiB qcow2 clusters, each
// compressed on its own as qemu-img does.
func clusters(b *testing.B) (plain []byte, comp [][]byte) {
	plain = corpus()["text2m"]
	plain = bytes.Repeat(plain, 4) // 8 MiB; repeats lie 2 MiB apart, beyond any window
	for i := 0; i < len(plain); i += 64 << 10 {
		comp = append(comp, deflate(b, plain[i:i+64<<10], 6))
	}
	return plain, comp
}

func benchInflate(b *testing.B, decode func(dst, src []byte) error) {
	plain, comp := clusters(b)
	dst := make([]byte, 64<<10)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		for i, c := range comp {
			if err := decode(dst, c); err != nil {
				b.Fatal(err)
			}
			if i == 1 && !bytes.Equal(dst, plain[64<<10:128<<10]) {
				b.Fatal("wrong bytes")
			}
		}
	}
}

// BenchmarkCluster compares this decoder with compress/flate and
// klauspost's flate (what the qcow2 reader used before) on the same
// clusters; the ns/op ratio is the speedup.
func BenchmarkCluster(b *testing.B) {
	b.Run("inflate", func(b *testing.B) {
		d := NewDecoder()
		benchInflate(b, func(dst, src []byte) error { _, err := d.Decode(dst, src); return err })
	})
	b.Run("compress-flate", func(b *testing.B) {
		r := flate.NewReader(nil)
		benchInflate(b, func(dst, src []byte) error {
			r.(flate.Resetter).Reset(bytes.NewReader(src), nil)
			_, err := io.ReadFull(r, dst)
			return err
		})
	})
	b.Run("klauspost-flate", func(b *testing.B) {
		r := kflate.NewReader(nil)
		benchInflate(b, func(dst, src []byte) error {
			r.(kflate.Resetter).Reset(bytes.NewReader(src), nil)
			_, err := io.ReadFull(r, dst)
			return err
		})
	})
}
