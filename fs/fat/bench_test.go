package fat

import (
	iofs "io/fs"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// BenchmarkWalkVsFls lists the FAT32 test tree with metadata (as
// `coldcase ls -r` does) and runs `fls -r -m /` on the same image in the
// same run; the metric fls_ratio is our time over fls's (< 1: faster).
func BenchmarkWalkVsFls(b *testing.B) {
	img := buildImage(b, 32)
	fh, size := testenv.OpenImage(b, img)
	testenv.Versus(b, "fls_ratio", func() {
		f, err := Open(fh, size)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		if err := iofs.WalkDir(f, ".", func(p string, d iofs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			_, err = d.Info()
			n++
			return err
		}); err != nil {
			b.Fatal(err)
		}
		if n < 300 {
			b.Fatalf("walked %d entries", n)
		}
	}, "fls", "-r", "-m", "/", img)
}
