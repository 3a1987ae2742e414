package ntfs

import (
	iofs "io/fs"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// BenchmarkWalkVsFls lists the test volume with metadata (as `coldcase
// ls -r` does) and runs `fls -r -m /` on the same image in the same run;
// fls_ratio is our time over fls's.
func BenchmarkWalkVsFls(b *testing.B) {
	img := buildImage(b)
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
			n++
			_, err = f.Streams(p)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		if n < 60 {
			b.Fatalf("walked %d entries", n)
		}
	}, "fls", "-r", "-m", "/", img)
}
