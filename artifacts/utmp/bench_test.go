package utmp

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// BenchmarkWtmp reads a 256 MiB wtmp (the utmpdump-built sample repeated)
// and compares with `utmpdump FILE` on the same file in the same run,
// reporting records/s, the ratio of utmpdump's time to ours and the peak
// live heap, which must not depend on the file's size. Set
// COLDCASE_BENCH=1 to run it.
func BenchmarkWtmp(b *testing.B) {
	if os.Getenv("COLDCASE_BENCH") != "1" {
		b.Skip("set COLDCASE_BENCH=1 to build and read a large wtmp")
	}
	testenv.NeedTool(b, "utmpdump")
	sample := buildWtmpTB(b)
	one, err := os.ReadFile(sample)
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "wtmp")
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	copies := (256 << 20) / len(one)
	for range copies {
		w.Write(one)
	}
	w.Flush()
	f.Close()
	records := copies * len(one) / 384

	p, _ := testenv.LookPath("utmpdump")
	start := time.Now()
	cmd := exec.Command(p, file)
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		b.Fatal(err)
	}
	theirs := time.Since(start)

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	b.ResetTimer()
	start = time.Now()
	loops := 0
	for b.Loop() {
		loops++
		f, err := os.Open(file)
		if err != nil {
			b.Fatal(err)
		}
		r, err := NewStreamReader(f)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			RecordEvent(rec, "wtmp")
			if n++; n%100000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc-min(base, ms.HeapAlloc))
			}
		}
		f.Close()
		if n != records {
			b.Fatalf("%d records, want %d", n, records)
		}
	}
	ours := time.Since(start) / time.Duration(loops)
	b.ReportMetric(float64(records)/ours.Seconds(), "records/s")
	b.ReportMetric(theirs.Seconds()/ours.Seconds(), "x_utmpdump")
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MiB")
	b.Logf("%d records, 256 MiB: ours %v, utmpdump %v", records, ours, theirs)
}
