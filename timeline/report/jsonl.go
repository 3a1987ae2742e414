package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/coldcase-dfir/coldcase/timeline"
)

// maxLine bounds one JSONL line; the timeline writers never write longer
// ones for real events, so a longer line means a damaged file.
const maxLine = 16 << 20

// row is the part of a Timesketch JSONL line the page shows. Decoding only
// these fields (no attributes) reads a case's timeline back several times
// faster than timeline.Event's own UnmarshalJSON.
type row struct {
	Message        string `json:"message"`
	Datetime       string `json:"datetime"`
	TimestampDesc  string `json:"timestamp_desc"`
	Source         string `json:"source"`
	User           string `json:"user"`
	Host           string `json:"host"`
	IP             string `json:"ip"`
	Path           string `json:"path"`
	EvidenceImage  string `json:"evidence_image"`
	EvidenceVolume string `json:"evidence_volume"`
	EvidencePath   string `json:"evidence_path"`
	EvidenceInode  uint64 `json:"evidence_inode"`
	EvidenceLine   int64  `json:"evidence_line"`
	EvidenceOffset int64  `json:"evidence_offset"`
}

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
			var j row
			if err := json.Unmarshal(b, &j); err != nil {
				yield(timeline.Event{}, fmt.Errorf("timeline.jsonl line %d: %w", line, err))
				return
			}
			t, err := time.Parse(time.RFC3339Nano, j.Datetime)
			if err != nil {
				yield(timeline.Event{}, fmt.Errorf("timeline.jsonl line %d: datetime: %w", line, err))
				return
			}
			e := timeline.Event{Time: t, TimestampDesc: j.TimestampDesc, Message: j.Message, Source: j.Source,
				User: j.User, Host: j.Host, IP: j.IP, Path: j.Path,
				Evidence: timeline.Evidence{Image: j.EvidenceImage, Volume: j.EvidenceVolume, Path: j.EvidencePath,
					Inode: j.EvidenceInode, Line: j.EvidenceLine, Offset: j.EvidenceOffset}}
			if !yield(e, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(timeline.Event{}, fmt.Errorf("timeline.jsonl after line %d: %w", line, err))
		}
	}
}
