package snapshot

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// BenchmarkEvidenceCopy copies a 256 MiB half-sparse image into a case
// through EvidenceWriter (sha256 + md5 while writing, holes kept) and
// compares with `sha256sum` and `md5sum` reading the same file, which only
// hash and write nothing. It reports the ratio and the peak heap, which must
// not grow with the image.
func BenchmarkEvidenceCopy(b *testing.B) {
	testenv.Bench(b)
	testenv.NeedTool(b, "sha256sum", "md5sum")
	src := filepath.Join(b.TempDir(), "src.raw")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	chunk := sampleDisk()
	for off := int64(0); off < 128<<20; off += int64(len(chunk)) {
		f.WriteAt(chunk, off)
	}
	f.Truncate(256 << 20)
	f.Close()
	b.SetBytes(256 << 20)

	var tools time.Duration
	for b.Loop() {
		b.StopTimer()
		t0 := time.Now()
		for _, tool := range []string{"sha256sum", "md5sum"} {
			if out, err := exec.Command(tool, src).CombinedOutput(); err != nil {
				b.Fatalf("%s: %v %s", tool, err, out)
			}
		}
		tools += time.Since(t0)
		dir := b.TempDir()
		b.StartTimer()
		stop := testenv.TrackHeap()
		in, _ := os.Open(src)
		w, err := CreateEvidence(dir, "copy.raw")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.ReadFrom(in); err != nil {
			b.Fatal(err)
		}
		if _, err := w.Commit(); err != nil {
			b.Fatal(err)
		}
		in.Close()
		b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
	}
	b.ReportMetric(float64(b.Elapsed())/float64(tools), "x-sha256sum+md5sum")
}
