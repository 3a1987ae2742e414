package ext4

import (
	"bufio"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

var bigImage struct {
	once sync.Once
	dir  string
	err  error
}

// walkBodyfile walks the whole tree and writes one TSK bodyfile line per
// object, as `fls -r -m /` does.
func walkBodyfile(f *FS, w io.Writer) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	err := iofs.WalkDir(f, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := cfs.StatOf(fi)
		n++
		_, err = fmt.Fprintf(bw, "0|/%s|%d|%s|%d|%d|%d|%d|%d|%d|%d\n", p, st.Inode, st.Mode, st.UID, st.GID, st.Size,
			st.Atime.Unix(), st.Mtime.Unix(), st.Ctime.Unix(), st.Btime.Unix())
		return err
	})
	if err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// peakHeap samples the heap while fn runs.
func peakHeap(fn func()) uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	return peak.Load()
}

// BenchmarkWalk walks and stats every object of an ext4 with 100k files
// and compares the time with `fls -r -m /` on the same image
// (COLDCASE_BENCH=1; the image is built with testdata/ext4/mkimage.sh).
func BenchmarkWalk(b *testing.B) {
	if os.Getenv("COLDCASE_BENCH") != "1" {
		b.Skip("set COLDCASE_BENCH=1")
	}
	testenv.NeedTool(b, "mkfs.ext4", "fls")
	bigImage.once.Do(func() {
		bigImage.dir, bigImage.err = scratchDir("coldcase-ext4-bench-")
		if bigImage.err != nil {
			return
		}
		cmd := exec.Command("bash", filepath.Join(testenv.RepoRoot(b), "testdata", "ext4", "mkimage.sh"), bigImage.dir)
		cmd.Env = append(os.Environ(), "BIG=100000", "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
		if out, err := cmd.CombinedOutput(); err != nil {
			bigImage.err = fmt.Errorf("mkimage.sh: %v\n%s", err, out)
		}
	})
	if bigImage.err != nil {
		b.Fatal(bigImage.err)
	}
	b.Cleanup(func() { os.RemoveAll(bigImage.dir) })
	img := filepath.Join(bigImage.dir, "big.img")
	fls, err := testenv.LookPath("fls")
	if err != nil {
		b.Fatal(err)
	}

	// fls: best of three runs, after one to warm the page cache.
	var flsBest time.Duration
	var flsLines int
	for i := 0; i < 4; i++ {
		start := time.Now()
		out, err := exec.Command(fls, "-r", "-m", "/", img).Output()
		if err != nil {
			b.Fatal(err)
		}
		if d := time.Since(start); i > 0 && (flsBest == 0 || d < flsBest) {
			flsBest = d
		}
		flsLines = 0
		for _, c := range out {
			if c == '\n' {
				flsLines++
			}
		}
	}

	fh, err := os.Open(img)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	fi, _ := fh.Stat()
	var n int
	var peak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		peak = max(peak, peakHeap(func() {
			f, err := Open(fh, fi.Size())
			if err != nil {
				b.Fatal(err)
			}
			if n, err = walkBodyfile(f, io.Discard); err != nil {
				b.Fatal(err)
			}
		}))
	}
	b.StopTimer()
	per := b.Elapsed() / time.Duration(b.N)
	if n < 100000 {
		b.Fatalf("walked %d objects, want ≥ 100000", n)
	}
	ratio := float64(per) / float64(flsBest)
	b.ReportMetric(float64(n), "files")
	b.ReportMetric(ratio, "ratio-vs-fls")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.Logf("walk+stat of %d objects: %v; fls -r -m / (%d lines): %v; ratio %.2f (goal ≤ 0.5); peak heap %.1f MiB",
		n, per, flsLines, flsBest, ratio, float64(peak)/(1<<20))
}
