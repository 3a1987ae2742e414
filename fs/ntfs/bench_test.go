package ntfs

import (
	iofs "io/fs"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// BenchmarkWalkVsFls lists the test volume with metadata (as `coldcase
// ls -r` does) and runs `fls -r -m /` on the same image in the same run;
// fls_ratio is our time over fls's.
func BenchmarkWalkVsFls(b *testing.B) {
	testenv.NeedTool(b, "fls")
	img := buildImage(b)
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
			n++
			_, err = f.Streams(p)
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
		if n < 60 {
			b.Fatalf("walked %d entries", n)
		}
	}
	b.ReportMetric(float64(ours)/float64(theirs), "fls_ratio")
}
