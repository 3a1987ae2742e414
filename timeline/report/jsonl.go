package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"iter"

	"github.com/coldcase-dfir/coldcase/timeline"
)

// maxLine bounds one JSONL line; the timeline writers never write longer
// ones for real events, so a longer line means a damaged file.
const maxLine = 16 << 20

// ReadJSONL reads a timeline written by the jsonl writer (timeline.jsonl
// of a case) back as events, one line at a time.
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
			var e timeline.Event
			if err := json.Unmarshal(b, &e); err != nil {
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
