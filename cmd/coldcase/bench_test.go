package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// BenchmarkExamineLarge examines an ext4 guest with 200k files and a
// 1M-line auth.log (built with mkfs.ext4 -d) and reports events/s and the
// peak heap, which must not follow the event count (the timeline spills).
func BenchmarkExamineLarge(b *testing.B) {
	testenv.Bench(b)
	testenv.NeedTool(b, "mkfs.ext4")
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	files, perDir, lines := 200_000, 1000, 1_000_000
	if os.Getenv("COLDCASE_BENCH_SMALL") != "" { // for profiling
		files, lines = 20_000, 100_000
	}
	for i := 0; i < files; i++ {
		d := filepath.Join(src, "srv", fmt.Sprintf("d%04d", i/perDir))
		if i%perDir == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%06d", i)), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, d := range []string{"etc", "var/log"} {
		os.MkdirAll(filepath.Join(src, d), 0o755)
	}
	os.WriteFile(filepath.Join(src, "etc/fstab"), []byte("UUID=x / ext4 defaults 0 1\n"), 0o644)
	os.WriteFile(filepath.Join(src, "etc/os-release"), []byte("ID=debian\n"), 0o644)
	os.WriteFile(filepath.Join(src, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644)
	f, _ := os.Create(filepath.Join(src, "var/log/auth.log"))
	w := bufio.NewWriterSize(f, 1<<20)
	for i := 0; i < lines; i++ {
		fmt.Fprintf(w, "Sep %2d %02d:%02d:%02d web01 sshd[%d]: Failed password for root from 203.0.113.%d port %d ssh2\n",
			1+i/86400%28, i/3600%24, i/60%60, i%60, 1000+i%30000, i%250, 1024+i%60000)
	}
	w.Flush()
	f.Close()
	touch := time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(src, "var/log/auth.log"), touch, touch)
	img := filepath.Join(dir, "big.ext4")
	testenv.Run(b, "mkfs.ext4", "-q", "-F", "-N", "260000", "-d", src, img, "1200M")
	os.RemoveAll(src)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		stop := testenv.TrackHeap()
		start := time.Now()
		caseDir := filepath.Join(dir, fmt.Sprintf("case%d", i))
		root := newRoot()
		root.SetOut(&discard{})
		root.SetArgs([]string{"examine", img, "-d", caseDir})
		if err := root.Execute(); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		peak := stop()
		var rec struct {
			Events int64 `json:"events"`
			Files  int   `json:"filesystem_objects"`
		}
		readJSONFile(b, filepath.Join(caseDir, "case.json"), &rec)
		if rec.Files < files || rec.Events < int64(lines) {
			b.Fatalf("examined %d files and %d events, want ≥ %d and ≥ %d", rec.Files, rec.Events, files, lines)
		}
		b.ReportMetric(float64(rec.Events)/el.Seconds(), "events/s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.Logf("examine: %d files, %d events in %v; peak heap %d MiB", rec.Files, rec.Events, el.Round(time.Millisecond), peak>>20)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
