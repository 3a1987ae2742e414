// Package timeline holds the one event type of coldcase, merges and sorts
// events in bounded memory, filters them, and writes them as a table, CSV,
// Timesketch JSONL, TSK bodyfile or TLN.
//
// It knows nothing of where events come from: filesystems and artifact
// extractors create Events and hand them to a Sink.
package timeline

import "time"

// Evidence points an event back to the bytes it was read from, so an
// investigator can re-check it with another tool.
type Evidence struct {
	Image  string `json:"image,omitempty"`
	Volume string `json:"volume,omitempty"` // selector, e.g. "p2" or "vg0/root"
	Path   string `json:"path,omitempty"`   // path inside the guest
	Inode  uint64 `json:"inode,omitempty"`
	Line   int64  `json:"line,omitempty"`   // 1-based line number in a text log
	Offset int64  `json:"offset,omitempty"` // byte offset in the file (binary records), -1 when unknown
}

// Event is one timestamped line of the timeline. JSON field names follow
// Timesketch's importer (datetime, timestamp_desc, message) so a JSONL
// export imports without mapping.
type Event struct {
	Time          time.Time `json:"-"`
	TimestampDesc string    `json:"timestamp_desc"` // what the time means: "Modification Time", "Login", …
	Message       string    `json:"message"`
	Source        string    `json:"source"` // artifact family: "fs", "auth", "wtmp", "journal", …
	User          string    `json:"user,omitempty"`
	Host          string    `json:"host,omitempty"`
	IP            string    `json:"ip,omitempty"`
	Path          string    `json:"path,omitempty"` // the object the event is about (file, binary, unit)
	// Zone is the time zone a local-time record was converted from, when
	// the source recorded local time ("Europe/Berlin"); empty for UTC sources.
	Zone     string   `json:"zone,omitempty"`
	Evidence Evidence `json:"evidence"`
	// Attrs carries source-specific fields (pid, unit, command, macb, …).
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Sink receives events as they are produced.
type Sink interface {
	Add(Event) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event) error

// Add calls f.
func (f SinkFunc) Add(e Event) error { return f(e) }

// Collect is a Sink that keeps events in memory, for tests and small jobs.
type Collect struct{ Events []Event }

// Add appends e.
func (c *Collect) Add(e Event) error { c.Events = append(c.Events, e); return nil }
