package report

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
	"github.com/coldcase-dfir/coldcase/timeline"
)

// BenchmarkWriteJSONL reads a 200k-event timeline.jsonl back and writes the
// page, as examine does, and compares with jq reading the same file
// (`jq -c '[.datetime,.message]'`), the cheapest independent pass over it.
func BenchmarkWriteJSONL(b *testing.B) {
	const n = 200_000
	var jl bytes.Buffer
	w, _ := timeline.NewWriter(&jl, "jsonl")
	i := 0
	for e := range synthetic(n, nil) {
		e.Attrs = map[string]string{"macb": "m...", "mode": "-rw-r--r--", "uid": "0"}
		if i%3 == 0 {
			e.Source, e.User, e.IP = "auth", "root", "203.0.113.66"
		}
		i++
		if err := w.Write(&e); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	var size int64
	start := time.Now()
	for b.Loop() {
		cw := &countWriter{}
		if err := Write(cw, Data{Events: ReadJSONL(bytes.NewReader(jl.Bytes()))}); err != nil {
			b.Fatal(err)
		}
		size = cw.n
	}
	ours := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(n)/ours.Seconds(), "events/s")
	b.ReportMetric(float64(size)/n, "page-bytes/event")

	if _, err := testenv.LookPath("jq"); err != nil {
		b.Logf("jq not installed: no comparison")
		return
	}
	f := filepath.Join(b.TempDir(), "timeline.jsonl")
	if err := os.WriteFile(f, jl.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	cmd := exec.Command("jq", "-c", "[.datetime,.message]", f)
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		b.Fatal(err)
	}
	jq := time.Since(start)
	b.Logf("%d events: report %v, jq %v (report/jq time ratio %.2f), %.0f bytes of page per event",
		n, ours.Round(time.Millisecond), jq.Round(time.Millisecond), ours.Seconds()/jq.Seconds(), float64(size)/n)
	b.ReportMetric(ours.Seconds()/jq.Seconds(), "time/jq")
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
