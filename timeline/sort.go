package timeline

import (
	"bufio"
	"container/heap"
	"fmt"
	"io"
	"os"
	"slices"
)

// DefaultRunSize is how many events a Sorter holds in memory before it
// spills a sorted run to disk: about 50–80 MiB for typical events.
const DefaultRunSize = 100_000

// Sorter sorts any number of events in bounded memory: it keeps up to
// RunSize events, spills each full batch as a sorted run to a temporary
// file, and merges the runs when read. Events with equal times keep the
// order they were added in, so output is deterministic.
type Sorter struct {
	Dir     string // where spill files go ("" = os.TempDir())
	RunSize int    // events held in memory; DefaultRunSize when 0

	buf   []Event
	runs  []string
	added int64
}

// Add implements Sink.
func (s *Sorter) Add(e Event) error {
	if s.RunSize <= 0 {
		s.RunSize = DefaultRunSize
	}
	s.buf = append(s.buf, e)
	s.added++
	if len(s.buf) >= s.RunSize {
		return s.spill()
	}
	return nil
}

// Len is the number of events added.
func (s *Sorter) Len() int64 { return s.added }

// Spilled is the number of runs written to disk so far.
func (s *Sorter) Spilled() int { return len(s.runs) }

func sortEvents(evs []Event) {
	slices.SortStableFunc(evs, func(a, b Event) int { return a.Time.Compare(b.Time) })
}

func (s *Sorter) spill() error {
	sortEvents(s.buf)
	f, err := os.CreateTemp(s.Dir, "coldcase-run-*.bin")
	if err != nil {
		return fmt.Errorf("timeline: spill: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := &spillWriter{w: w}
	for i := range s.buf {
		if err := enc.event(&s.buf[i]); err != nil {
			f.Close()
			os.Remove(f.Name())
			return fmt.Errorf("timeline: spill %s: %w", f.Name(), err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("timeline: spill %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	s.runs = append(s.runs, f.Name())
	clear(s.buf)
	s.buf = s.buf[:0]
	return nil
}

// Each calls fn for every event in time order, then releases the spill
// files. The Sorter is empty afterwards.
func (s *Sorter) Each(fn func(Event) error) error {
	defer s.Close()
	sortEvents(s.buf)
	if len(s.runs) == 0 {
		for _, e := range s.buf {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	h := &mergeHeap{}
	for i, name := range s.runs {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		c := &cursor{run: i, dec: &spillReader{r: bufio.NewReaderSize(f, 256<<10)}}
		if err := c.next(); err != nil {
			return err
		}
		if c.ok {
			heap.Push(h, c)
		}
	}
	mem := &cursor{run: len(s.runs), mem: s.buf}
	mem.next()
	if mem.ok {
		heap.Push(h, mem)
	}
	for h.Len() > 0 {
		c := (*h)[0]
		if err := fn(c.cur); err != nil {
			return err
		}
		if err := c.next(); err != nil {
			return err
		}
		if c.ok {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return nil
}

// Close removes spill files without reading them.
func (s *Sorter) Close() error {
	for _, r := range s.runs {
		os.Remove(r)
	}
	s.runs = nil
	s.buf = nil
	return nil
}

type cursor struct {
	run int
	dec *spillReader
	mem []Event
	cur Event
	ok  bool
}

func (c *cursor) next() error {
	if c.dec == nil {
		if len(c.mem) == 0 {
			c.ok = false
			return nil
		}
		c.cur, c.mem, c.ok = c.mem[0], c.mem[1:], true
		return nil
	}
	c.cur = Event{}
	if err := c.dec.event(&c.cur); err != nil {
		if err == io.EOF {
			c.ok = false
			return nil
		}
		return fmt.Errorf("timeline: reading spill run %d: %w", c.run, err)
	}
	c.ok = true
	return nil
}

// mergeHeap orders cursors by their current event's time, then by run so
// that equal times come out in the order they were added.
type mergeHeap []*cursor

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	if c := h[i].cur.Time.Compare(h[j].cur.Time); c != 0 {
		return c < 0
	}
	return h[i].run < h[j].run
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *mergeHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
