package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// The make-bench comparison of issue 3: "coldcase ls IMG / -r -o bodyfile"
// in-process against "fls -r -m / IMG" on the same image with 100k files,
// as a time ratio (goal ≤ 0.5), with our peak heap. COLDCASE_BENCH=1 only:
// each image takes tens of seconds to build.

// BenchmarkLsBodyfileExt4 lists an ext4 with 100k files (testdata/ext4/mkimage.sh
// BIG=100000; COLDCASE_LS_BENCH_FILES=N for another count, e.g. to see that
// the peak heap does not follow it).
func BenchmarkLsBodyfileExt4(b *testing.B) {
	testenv.Bench(b)
	testenv.NeedTool(b, "mkfs.ext4", "fls")
	files := 100000
	if s := os.Getenv("COLDCASE_LS_BENCH_FILES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 || n > 10_000_000 {
			b.Fatalf("COLDCASE_LS_BENCH_FILES=%q: want a count from 1000 to 10000000", s)
		}
		files = n
	}
	dir := b.TempDir()
	cmd := exec.Command("bash", filepath.Join(testenv.RepoRoot(b), "testdata", "ext4", "mkimage.sh"), dir)
	cmd.Env = append(os.Environ(), "BIG="+strconv.Itoa(files))
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("mkimage.sh: %v\n%s", err, out)
	}
	lsBench(b, filepath.Join(dir, "big.img"), files, true)
}

// BenchmarkLsBodyfileXFS lists an XFS with 100k files (testdata/xfs/mkimage.sh bench).
// This TSK (4.x) has no XFS support, so unless fls -f list names xfs the
// benchmark reports only our throughput and heap.
func BenchmarkLsBodyfileXFS(b *testing.B) {
	testenv.Bench(b)
	testenv.NeedTool(b, "mkfs.xfs")
	dir := b.TempDir()
	testenv.Run(b, "bash", filepath.Join(testenv.RepoRoot(b), "testdata", "xfs", "mkimage.sh"), dir, "bench")
	withFls := false
	if _, err := testenv.LookPath("fls"); err == nil {
		out, _ := exec.Command("fls", "-f", "list").CombinedOutput()
		withFls = bytes.Contains(out, []byte("xfs"))
	}
	if !withFls {
		b.Log("fls here does not read XFS (fls -f list has no xfs), and no other independent lister here walks a whole XFS; reporting coldcase's throughput and heap only")
	}
	lsBench(b, filepath.Join(dir, "xfs.img"), 100000, withFls)
}

// lineCounter counts the lines written to it and drops them.
type lineCounter struct{ n int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func lsBench(b *testing.B, img string, files int, withFls bool) {
	ls := func() int {
		var c lineCounter
		root := newRoot()
		root.SetOut(&c)
		root.SetErr(&bytes.Buffer{})
		root.SetArgs([]string{"ls", img, "/", "-r", "-o", "bodyfile"})
		if err := root.Execute(); err != nil {
			b.Fatalf("coldcase ls: %v", err)
		}
		return c.n
	}
	// fls: best of three runs after one that warms the page cache; wall
	// time is noisy on shared machines, so CPU time is compared too.
	var flsBest, flsCPU time.Duration
	flsLines := 0
	if withFls {
		for i := 0; i < 4; i++ {
			start := time.Now()
			cmd := exec.Command("fls", "-r", "-m", "/", img)
			out, err := cmd.Output()
			if err != nil {
				b.Fatalf("fls: %v", err)
			}
			d, c := time.Since(start), cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime()
			if i > 0 && (flsBest == 0 || d < flsBest) {
				flsBest = d
			}
			if i > 0 && (flsCPU == 0 || c < flsCPU) {
				flsCPU = c
			}
			flsLines = strings.Count(string(out), "\n")
		}
	}
	n := ls() // warm the page cache as for fls
	if n < files {
		b.Fatalf("coldcase ls listed %d objects, want ≥ %d", n, files)
	}
	// Peak heap in a run of its own: the sampler stops the world.
	stop := testenv.TrackHeap()
	ls()
	peak := stop()

	iters := 0
	var cpu time.Duration
	var best time.Duration
	for b.Loop() {
		c0, t0 := cpuNow(), time.Now()
		ls()
		if d := time.Since(t0); best == 0 || d < best {
			best = d
		}
		cpu += cpuNow() - c0
		iters++
	}
	cpuPer := cpu / time.Duration(iters)
	b.ReportMetric(float64(n), "files")
	b.ReportMetric(float64(n)/best.Seconds(), "files/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	if !withFls {
		b.Logf("coldcase ls -r -o bodyfile: %d lines, best %v (CPU %v/op), peak heap %.1f MiB",
			n, best, cpuPer, float64(peak)/(1<<20))
		return
	}
	ratio := float64(best) / float64(flsBest)
	cpuRatio := float64(cpuPer) / float64(flsCPU)
	b.ReportMetric(ratio, "ratio-vs-fls")
	b.ReportMetric(cpuRatio, "cpu-ratio-vs-fls")
	b.Logf("coldcase ls -r -o bodyfile: %d lines, best %v (CPU %v/op); fls -r -m /: %d lines, best %v (CPU %v); ratio %.2f, CPU ratio %.2f (goal ≤ 0.5); peak heap %.1f MiB",
		n, best, cpuPer, flsLines, flsBest, flsCPU, ratio, cpuRatio, float64(peak)/(1<<20))
}
