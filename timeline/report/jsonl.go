package report

import (
	"bufio"
	"fmt"
	"io"
	"iter"

	"github.com/coldcase-dfir/coldcase/timeline"
)

// maxLine bounds one JSONL line; the timeline writers never write longer
// ones for real events, so a longer line means a damaged file.
const maxLine = 16 << 20

// ReadJSONL reads a timeline written by the jsonl writer (a case's
// timeline.jsonl) back as events, one line at a time, with the fields the
// page shows: source-specific attributes are left out.
func ReadJSONL(r io.Reader) iter.Seq2[timeline.Event, error] {
	return func(yield func(timeline.Event, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), maxLine)
		line := 0
		for sc.Scan() {
			line++
			b := sc.Bytes()
			if len(b) == 0 {
				continue
			}
			// Attributes are not shown in the page: decoding without them
			// reads a case's timeline back several times faster.
			e, err := timeline.DecodeCore(b)
			if err != nil {
				yield(timeline.Event{}, fmt.Errorf("timeline.jsonl line %d: %w", line, err))
				return
			}
			if !yield(e, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(timeline.Event{}, fmt.Errorf("timeline.jsonl after line %d: %w", line, err))
		}
	}
}
