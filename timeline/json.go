package timeline

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// TimeFormat is how event times are written: UTC, RFC 3339 with
// nanoseconds, as Timesketch's importer reads "datetime".
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// jsonEvent is the Timesketch JSONL form of an Event: the three fields its
// importer requires (message, datetime, timestamp_desc), the optional
// "timestamp" in microseconds since the epoch, and every other field flat
// at the top level, because Timesketch indexes top-level attributes and
// shows nested objects only as text.
type jsonEvent struct {
	Message        string `json:"message"`
	Datetime       string `json:"datetime"`
	Timestamp      int64  `json:"timestamp"`
	TimestampDesc  string `json:"timestamp_desc"`
	Source         string `json:"source,omitempty"`
	User           string `json:"user,omitempty"`
	Host           string `json:"host,omitempty"`
	IP             string `json:"ip,omitempty"`
	Path           string `json:"path,omitempty"`
	Zone           string `json:"zone,omitempty"`
	EvidenceImage  string `json:"evidence_image,omitempty"`
	EvidenceVolume string `json:"evidence_volume,omitempty"`
	EvidencePath   string `json:"evidence_path,omitempty"`
	EvidenceInode  uint64 `json:"evidence_inode,omitempty"`
	EvidenceLine   int64  `json:"evidence_line,omitempty"`
	EvidenceOffset *int64 `json:"evidence_offset,omitempty"`
}

// MarshalJSON writes the flat Timesketch form. Attrs become top-level
// fields too, unless they would shadow a standard one.
func (e Event) MarshalJSON() ([]byte, error) {
	j := jsonEvent{
		Message:        e.Message,
		Datetime:       e.Time.UTC().Format(TimeFormat),
		Timestamp:      e.Time.UnixMicro(),
		TimestampDesc:  e.TimestampDesc,
		Source:         e.Source,
		User:           e.User,
		Host:           e.Host,
		IP:             e.IP,
		Path:           e.Path,
		Zone:           e.Zone,
		EvidenceImage:  e.Evidence.Image,
		EvidenceVolume: e.Evidence.Volume,
		EvidencePath:   e.Evidence.Path,
		EvidenceInode:  e.Evidence.Inode,
		EvidenceLine:   e.Evidence.Line,
	}
	if e.Evidence.Offset > 0 || (e.Evidence.Offset == 0 && e.Evidence.Line == 0 && e.Evidence.Path != "" && e.Source != "fs") {
		off := e.Evidence.Offset
		j.EvidenceOffset = &off
	}
	b, err := json.Marshal(j)
	if err != nil || len(e.Attrs) == 0 {
		return b, err
	}
	extra := make(map[string]string, len(e.Attrs))
	for k, v := range e.Attrs {
		if !reserved[k] {
			extra[k] = v
		}
	}
	if len(extra) == 0 {
		return b, nil
	}
	eb, err := json.Marshal(extra)
	if err != nil {
		return nil, err
	}
	// Splice the two objects: {…std…, …attrs…}.
	out := make([]byte, 0, len(b)+len(eb))
	out = append(out, b[:len(b)-1]...)
	out = append(out, ',')
	out = append(out, eb[1:]...)
	return out, nil
}

var reserved = map[string]bool{
	"message": true, "datetime": true, "timestamp": true, "timestamp_desc": true,
	"source": true, "user": true, "host": true, "ip": true, "path": true, "zone": true,
	"evidence_image": true, "evidence_volume": true, "evidence_path": true,
	"evidence_inode": true, "evidence_line": true, "evidence_offset": true,
}

// DecodeCore reads one JSONL line's standard fields (not its attributes):
// a quick read-back for callers that show events without their
// source-specific fields.
func DecodeCore(b []byte) (Event, error) {
	var j jsonEvent
	if err := json.Unmarshal(b, &j); err != nil {
		return Event{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, j.Datetime)
	if err != nil {
		return Event{}, fmt.Errorf("datetime: %w", err)
	}
	e := Event{
		Time: t, TimestampDesc: j.TimestampDesc, Message: j.Message, Source: j.Source,
		User: j.User, Host: j.Host, IP: j.IP, Path: j.Path, Zone: j.Zone,
		Evidence: Evidence{Image: j.EvidenceImage, Volume: j.EvidenceVolume, Path: j.EvidencePath,
			Inode: j.EvidenceInode, Line: j.EvidenceLine},
	}
	if j.EvidenceOffset != nil {
		e.Evidence.Offset = *j.EvidenceOffset
	}
	return e, nil
}

// UnmarshalJSON reads the flat form back, attributes included.
func (e *Event) UnmarshalJSON(b []byte) error {
	core, err := DecodeCore(b)
	if err != nil {
		return err
	}
	*e = core
	var all map[string]any
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for k, v := range all {
		if reserved[k] {
			continue
		}
		if e.Attrs == nil {
			e.Attrs = map[string]string{}
		}
		switch v := v.(type) {
		case string:
			e.Attrs[k] = v
		case float64:
			e.Attrs[k] = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			bb, _ := json.Marshal(v)
			e.Attrs[k] = string(bb)
		}
	}
	return nil
}
