package fat

import (
	"fmt"
	iofs "io/fs"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// BenchmarkWalkVsFls lists the FAT32 test tree with metadata (as
// `coldcase ls -r` does) and runs `fls -r -m /` on the same image in the
// same run; the metric fls_ratio is our time over fls's (< 1: faster).
func BenchmarkWalkVsFls(b *testing.B) {
	testenv.NeedTool(b, "fls")
	img := buildImage(b, 32)
	fls, _ := testenv.LookPath("fls")
	var ours, theirs time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		fh, err := os.Open(img)
		if err != nil {
			b.Fatal(err)
		}
		fi, _ := fh.Stat()
		f, err := Open(fh, fi.Size())
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
		fh.Close()
		ours += time.Since(t0)
		t1 := time.Now()
		if err := exec.Command(fls, "-r", "-m", "/", img).Run(); err != nil {
			b.Fatal(err)
		}
		theirs += time.Since(t1)
		if n < 300 {
			b.Fatal(fmt.Sprintf("walked %d entries", n))
		}
	}
	b.ReportMetric(float64(ours)/float64(theirs), "fls_ratio")
}
