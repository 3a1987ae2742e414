package timeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// BenchmarkSort10M sorts 10 million synthetic events through the spilling
// Sorter and reports events/s and the peak heap, which must stay near one
// run's worth whatever the event count.
func BenchmarkSort10M(b *testing.B) {
	testenv.Bench(b)
	const n = 10_000_000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < b.N; i++ {
		stop := testenv.TrackHeap()
		start := time.Now()
		s := &Sorter{Dir: b.TempDir()}
		for j := 0; j < n; j++ {
			s.Add(Event{Time: base.Add(time.Duration((j*7919)%(n/3)) * time.Millisecond), Source: "auth",
				TimestampDesc: "SSH login failed", Message: fmt.Sprintf("Failed password for root from 203.0.113.%d", j%250),
				Evidence: Evidence{Path: "/var/log/auth.log", Line: int64(j)}})
		}
		var count int
		runs := s.Spilled()
		s.Each(func(Event) error { count++; return nil })
		el := time.Since(start)
		peak := stop()
		if count != n {
			b.Fatalf("sorted %d of %d", count, n)
		}
		b.ReportMetric(float64(n)/el.Seconds(), "events/s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.Logf("sorted %d events in %v (%d spill runs), peak heap %d MiB", n, el, runs, peak>>20)
	}
}
