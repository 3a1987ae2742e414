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
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
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
	var line []byte
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
		line = append(line[:0], "0|/"...)
		line = append(line, p...)
		line = append(line, '|')
		line = strconv.AppendUint(line, st.Inode, 10)
		line = append(line, '|')
		line = append(line, st.Mode.String()...)
		for _, v := range []int64{int64(st.UID), int64(st.GID), st.Size, st.Atime.Unix(), st.Mtime.Unix(), st.Ctime.Unix(), st.Btime.Unix()} {
			line = append(line, '|')
			line = strconv.AppendInt(line, v, 10)
		}
		line = append(line, '\n')
		_, err = bw.Write(line)
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
	img := os.Getenv("COLDCASE_EXT4_BENCH_IMAGE") // reuse an image built with BIG=… mkimage.sh
	bigImage.once.Do(func() {
		if img != "" {
			return
		}
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
	if img == "" {
		img = filepath.Join(bigImage.dir, "big.img") // removed by TestMain: the benchmark runs more than once
	}
	fls, err := testenv.LookPath("fls")
	if err != nil {
		b.Fatal(err)
	}

	// fls: best of three runs, after one to warm the page cache. On a
	// shared machine wall time is noisy, so CPU time is compared as well.
	var flsBest, flsCPU time.Duration
	var flsLines int
	for i := 0; i < 4; i++ {
		start := time.Now()
		cmd := exec.Command(fls, "-r", "-m", "/", img)
		out, err := cmd.Output()
		if err != nil {
			b.Fatal(err)
		}
		if d := time.Since(start); i > 0 && (flsBest == 0 || d < flsBest) {
			flsBest = d
		}
		if c := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(); i > 0 && (flsCPU == 0 || c < flsCPU) {
			flsCPU = c
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
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Each walk starts from a collected heap, as one `ls -r` run
		// does; the previous walk's garbage is not charged to it.
		b.StopTimer()
		runtime.GC()
		b.StartTimer()
		c0 := cpuTime()
		f, err := Open(fh, fi.Size())
		if err != nil {
			b.Fatal(err)
		}
		if n, err = walkBodyfile(f, io.Discard); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - c0
	}
	b.StopTimer()
	// Peak heap in one more walk: the sampler stops the world, so it is
	// kept out of the timed runs.
	peak = peakHeap(func() {
		f, err := Open(fh, fi.Size())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := walkBodyfile(f, io.Discard); err != nil {
			b.Fatal(err)
		}
	})
	per := b.Elapsed() / time.Duration(b.N)
	if n < 100000 {
		b.Fatalf("walked %d objects, want ≥ 100000", n)
	}
	cpuPer := cpu / time.Duration(b.N)
	ratio := float64(per) / float64(flsBest)
	cpuRatio := float64(cpuPer) / float64(flsCPU)
	b.ReportMetric(float64(n), "files")
	b.ReportMetric(ratio, "ratio-vs-fls")
	b.ReportMetric(cpuRatio, "cpu-ratio-vs-fls")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.Logf("walk+stat of %d objects: %v (CPU %v); fls -r -m / (%d lines): %v (CPU %v); ratio %.2f, CPU ratio %.2f (goal ≤ 0.5); peak heap %.1f MiB",
		n, per, cpuPer, flsLines, flsBest, flsCPU, ratio, cpuRatio, float64(peak)/(1<<20))
}

// cpuTime is the user+system CPU time this process has used. The heap
// sampler's share is included, which only disfavours us.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
