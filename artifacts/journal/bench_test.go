package journal

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkJournal reads generated journals of 50 000 and 200 000 entries
// and compares with `journalctl --file F -o export` on the same file in
// the same run. It reports entries/s, the ratio of journalctl's time to
// ours, and the peak live heap while reading, which must not grow with the
// journal. Set COLDCASE_BENCH=1 to run it.
func BenchmarkJournal(b *testing.B) {
	if os.Getenv("COLDCASE_BENCH") != "1" {
		b.Skip("set COLDCASE_BENCH=1 to build and read large journals")
	}
	needJournalTools(b)
	for _, n := range []int{50000, 200000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			dir := b.TempDir()
			export := filepath.Join(dir, "export.txt")
			writeExport(b, export, n)
			// journal-remote rotates when the hash chains get deep: read
			// every file it wrote, the archived ones included.
			buildJournal(b, export, filepath.Join(dir, "big.journal"), nil)
			os.Remove(export)
			files, _ := filepath.Glob(filepath.Join(dir, "*.journal"))
			var size int64
			args := []string{"-o", "export", "--no-pager"}
			for _, f := range files {
				fi, _ := os.Stat(f)
				size += fi.Size()
				args = append(args, "--file", f)
			}

			jc, _ := exec.LookPath("journalctl")
			start := time.Now()
			cmd := exec.Command(jc, args...)
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
			theirs := time.Since(start)

			var peak uint64
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			base := ms.HeapAlloc
			b.ResetTimer()
			start = time.Now()
			loops := 0
			for b.Loop() {
				loops++
				count := 0
				for _, file := range files {
					f, err := os.Open(file)
					if err != nil {
						b.Fatal(err)
					}
					fi, _ := f.Stat()
					j, err := Open(f, fi.Size())
					if err != nil {
						b.Fatal(err)
					}
					it := j.Entries()
					for it.Next() {
						EntryEvent(it.Entry())
						if count++; count%10000 == 0 {
							runtime.ReadMemStats(&ms)
							peak = max(peak, ms.HeapAlloc-min(base, ms.HeapAlloc))
						}
					}
					if it.Err() != nil {
						b.Fatalf("%s: %v", file, it.Err())
					}
					j.Close()
					f.Close()
				}
				if count != n {
					b.Fatalf("%d entries in %d files, want %d", count, len(files), n)
				}
			}
			ours := time.Since(start) / time.Duration(loops)
			b.ReportMetric(float64(n)/ours.Seconds(), "entries/s")
			b.ReportMetric(theirs.Seconds()/ours.Seconds(), "x_journalctl")
			b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MiB")
			b.Logf("%d entries, %d files, %d MiB: ours %v, journalctl -o export %v", n, len(files), size>>20, ours, theirs)
		})
	}
}
