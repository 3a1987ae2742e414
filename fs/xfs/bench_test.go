package xfs

import (
	iofs "io/fs"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// BenchmarkWalkStat walks and stats every object of a 100k-file image and
// compares with independent listers on the same image in the same run.
// TSK's fls has no XFS support in this Debian (fls -f list), so the
// reference is xfs_ncheck (xfs_db's blockget+ncheck: every inode with its
// path, the fastest complete lister of an unmounted XFS here). It does
// less than we do — no stat of each inode — so the ratio is conservative.
func BenchmarkWalkStat(b *testing.B) {
	if os.Getenv("COLDCASE_BENCH") != "1" {
		b.Skip("set COLDCASE_BENCH=1 (builds a 1 GiB sparse image with 100k files)")
	}
	testenv.NeedTool(b, "xfs_ncheck")
	img := buildImage(b, "bench") + "/xfs.img"
	f, err := os.Open(img)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()

	walk := func() int {
		x, err := Open(f, fi.Size())
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		err = iofs.WalkDir(x, ".", func(p string, d iofs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if _, err := d.Info(); err != nil {
				return err
			}
			n++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	walk() // warm the OS page cache for every reader alike

	runtime.GC()
	stop := testenv.TrackHeap()
	b.ResetTimer()
	start := time.Now()
	var n int
	for i := 0; i < b.N; i++ {
		n = walk()
	}
	ours := time.Since(start) / time.Duration(b.N)
	b.StopTimer()
	peak := stop()

	t0 := time.Now()
	out, err := exec.Command("xfs_ncheck", img).Output()
	if err != nil {
		b.Fatal(err)
	}
	ncheck := time.Since(t0)
	lines := strings.Count(string(out), "\n")
	if n-1 != lines {
		b.Errorf("we walked %d objects below the root, xfs_ncheck lists %d", n-1, lines)
	}

	b.ReportMetric(float64(ours)/float64(ncheck), "x_xfs_ncheck")
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MiB")
	b.Logf("%d objects: coldcase walk+stat %v, xfs_ncheck %v (ratio %.2f); peak heap %.1f MiB",
		n, ours, ncheck, float64(ours)/float64(ncheck), float64(peak)/(1<<20))
}
