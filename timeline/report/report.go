// Package report writes a case's report.html: one self-contained page
// (no network, every style and script inline) with the case and system
// facts, the findings linked to their events, a zoomable histogram of
// events over time, a filterable and sortable timeline table that renders
// only the rows in view, and tables of users, persistence and suspicious
// binaries.
//
// It takes plain facts, tables and findings (the caller turns its typed
// records into them) and an iterator over the sorted timeline, so it
// depends on nothing but the timeline package.
//
// Strings from the evidence reach the page two ways, both escaped: facts,
// tables and findings through html/template's contextual escaping, and
// events as JSON in a <script type="application/json"> block written by
// encoding/json with HTML escaping, so no '<', '>' or '&' from the evidence
// appears raw and a message cannot close the script element. The page's
// script only ever sets textContent, never innerHTML, from evidence.
//
// The page's address can carry a view, report.html#q=TEXT&src=SOURCE&lo=µs&hi=µs,
// and report.html#selftest&… makes the page exercise its own filter, sort,
// zoom and links and write the results into <pre id="selftest">, which the
// headless Chromium test reads back.
package report

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/coldcase-dfir/coldcase/timeline"
)

// DefaultMaxEvents is how many events a page embeds when Data.MaxEvents is
// zero. At 170–220 bytes an event (BenchmarkWriteJSONL measures it) that
// is a page of 45–55 MB, which headless Chromium loads, filters (under a
// second) and sorts (under 0.1 s) on a small machine; beyond it the page
// says how many events it left out, and timeline.jsonl/csv hold them all.
const DefaultMaxEvents = 250_000

// Fact is one labelled value: "OS" → "Debian GNU/Linux 12".
type Fact struct {
	Name  string
	Value string
}

// Table is a titled table of strings: users, persistence entries, flagged
// binaries, images.
type Table struct {
	ID      string // HTML id, for the table of contents
	Title   string
	Note    string // one line under the title ("3 of 120 shown")
	Columns []string
	Rows    [][]string
}

// Finding is one rule hit as the page shows it.
type Finding struct {
	Severity string // "high", "medium", "low", "info"
	Rule     string
	Title    string
	Detail   string
	Time     time.Time // zero when unknown
	User     string
	IP       string
	Path     string
	Evidence []timeline.Evidence
}

// Data is everything the page shows.
type Data struct {
	Title     string
	Generated time.Time
	Case      []Fact
	Images    Table
	System    []Fact
	Findings  []Finding // shown in this order within each severity
	Tables    []Table   // users, persistence, binaries, …
	Warnings  []string  // case warnings and errors, shown folded
	// Events is the sorted timeline. The page embeds at most MaxEvents
	// (DefaultMaxEvents when zero): the latest ones when Count, the number
	// of events Events yields, is known and larger (an intrusion is
	// usually the newest activity on a disk), else the first ones.
	Events    iter.Seq2[timeline.Event, error]
	Count     int64
	MaxEvents int
}

// severities orders the findings sections.
var severities = []string{"high", "medium", "low", "info"}

//go:embed assets/report.html.tmpl
var pageSrc string

//go:embed assets/report.css
var pageCSS string

//go:embed assets/report.js
var pageJS string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"clean": clean,
	"time":  fmtTime,
	"evidence": func(e timeline.Evidence) string {
		return clean(evidenceString(e))
	},
	// evref is the reference exactly as the events block writes it, for
	// the script to match.
	"evref": evidenceString,
}).Parse(pageSrc))

// Columns of an event row in the embedded JSON: one array per event keeps
// the page about half the size of Timesketch objects.
//
//	[timestamp µs, timestamp_desc, message, source, user, host, ip, path, evidence]
const (
	colTime = iota
	colDesc
	colMessage
	colSource
	colUser
	colHost
	colIP
	colPath
	colEvidence
	numCols
)

// eventsBlockID and metaBlockID are the ids of the two JSON blocks.
const (
	eventsBlockID = "events"
	metaBlockID   = "meta"
)

type meta struct {
	Skipped  int64  `json:"skipped"` // events before the embedded ones
	Embedded int64  `json:"embedded"`
	Total    int64  `json:"total"`
	Max      int    `json:"max"`
	First    string `json:"first,omitempty"`
	Last     string `json:"last,omitempty"`
	Error    string `json:"error,omitempty"`
}

type view struct {
	Data
	CSS      template.CSS
	JS       template.JS
	Sections []sevSection
	Counts   string
	Meta     meta
}

type sevSection struct {
	Severity string
	Findings []findingView
}

type findingView struct {
	Finding
	Micros int64  // 0 when the time is unknown
	Query  string // what the link filters the timeline by
}

// Write renders the page to w, reading d.Events once. Memory stays bounded
// by MaxEvents no matter how long the timeline is: events are encoded as
// they are read, never held. An error from the event iterator ends the
// embedded timeline early and is shown in the page (the rest of the report
// is still worth having); only write errors are returned.
func Write(w io.Writer, d Data) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	v := view{Data: d, CSS: template.CSS(pageCSS), JS: template.JS(pageJS)}
	if v.Title == "" {
		v.Title = "coldcase report"
	}
	if v.MaxEvents <= 0 {
		v.MaxEvents = DefaultMaxEvents
	}
	v.Meta.Max = v.MaxEvents
	if d.Count > int64(v.MaxEvents) {
		v.Meta.Skipped = d.Count - int64(v.MaxEvents)
	}
	v.Sections, v.Counts = groupFindings(d.Findings)

	if err := page.ExecuteTemplate(bw, "head", &v); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	// The events block is written here rather than by the template so a
	// timeline of millions of events streams through in constant memory.
	// json.Encoder escapes <, > and & as \u003c…, so nothing inside can end
	// the element.
	fmt.Fprintf(bw, `<script type="application/json" id=%q>[`, eventsBlockID)
	if d.Events != nil {
		if err := writeEvents(bw, d.Events, &v.Meta); err != nil {
			return fmt.Errorf("report: writing events: %w", err)
		}
	}
	bw.WriteString("]</script>\n")
	if err := page.ExecuteTemplate(bw, "tail", &v); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return bw.Flush()
}

// writeEvents encodes up to m.Max events after the first m.Skipped, and
// counts them all.
func writeEvents(w *bufio.Writer, events iter.Seq2[timeline.Event, error], m *meta) error {
	enc := json.NewEncoder(w) // EscapeHTML is on by default: keep it on
	row := make([]any, numCols)
	var first, last time.Time
	for e, err := range events {
		if err != nil {
			m.Error = err.Error()
			break
		}
		if m.Total == 0 {
			first = e.Time
		}
		last = e.Time
		m.Total++
		if m.Total <= m.Skipped || m.Embedded >= int64(m.Max) {
			continue
		}
		if m.Embedded > 0 {
			w.WriteByte(',')
		}
		row[colTime] = e.Time.UnixMicro()
		row[colDesc] = e.TimestampDesc
		row[colMessage] = e.Message
		row[colSource] = e.Source
		row[colUser] = e.User
		row[colHost] = e.Host
		row[colIP] = e.IP
		row[colPath] = e.Path
		row[colEvidence] = evidenceString(e.Evidence)
		if err := enc.Encode(row); err != nil {
			return err
		}
		m.Embedded++
	}
	if m.Total > 0 {
		m.First, m.Last = fmtTime(first), fmtTime(last)
	}
	if m.Skipped > 0 && m.Total <= m.Skipped && m.Error == "" {
		m.Error = fmt.Sprintf("the timeline held %d events, not the %d expected", m.Total, m.Skipped+int64(m.Max))
	}
	return nil
}

// evidenceString is the evidence reference in one line, as an investigator
// would type it into another tool: "sample.qcow2 p3 /var/log/auth.log line 45".
func evidenceString(e timeline.Evidence) string {
	var parts []string
	for _, s := range []string{e.Image, e.Volume, e.Path} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if e.Inode != 0 {
		parts = append(parts, "inode "+strconv.FormatUint(e.Inode, 10))
	}
	if e.Line > 0 {
		parts = append(parts, "line "+strconv.FormatInt(e.Line, 10))
	} else if e.Offset > 0 {
		parts = append(parts, "offset "+strconv.FormatInt(e.Offset, 10))
	}
	return strings.Join(parts, " ")
}

func groupFindings(fs []Finding) ([]sevSection, string) {
	var out []sevSection
	var counts []string
	for _, sev := range severities {
		s := sevSection{Severity: sev}
		for _, f := range fs {
			if strings.EqualFold(f.Severity, sev) {
				s.Findings = append(s.Findings, viewFinding(f))
			}
		}
		counts = append(counts, fmt.Sprintf("%s %d", sev, len(s.Findings)))
		if len(s.Findings) > 0 {
			out = append(out, s)
		}
	}
	// A severity this page does not know still gets shown, last.
	var other []findingView
	for _, f := range fs {
		known := false
		for _, sev := range severities {
			known = known || strings.EqualFold(f.Severity, sev)
		}
		if !known {
			other = append(other, viewFinding(f))
		}
	}
	if len(other) > 0 {
		out = append(out, sevSection{Severity: "other", Findings: other})
	}
	return out, strings.Join(counts, ", ")
}

func viewFinding(f Finding) findingView {
	v := findingView{Finding: f}
	if !f.Time.IsZero() {
		v.Micros = f.Time.UnixMicro()
	}
	// The most specific thing the finding names picks its events.
	switch {
	case f.IP != "":
		v.Query = f.IP
	case f.Path != "":
		v.Query = f.Path
	case f.User != "":
		v.Query = f.User
	}
	return v
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeline.TimeFormat)
}

// clean makes control characters, invalid UTF-8 and bidirectional
// overrides visible (as the terminal writers do) before html/template
// escapes the markup characters: a page must not show a filename
// differently from what is on disk.
func clean(s string) string { return timeline.EscapeTerminal(s) }
