package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"iter"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/timeline"
)

// Hostile strings an attacker can plant in file names, log lines and
// account fields.
const (
	breakOut   = `</script><img src=x onerror="window.pwned=1">`
	breakOut2  = `</SCRIPT ><script>window.pwned=1</script><!--`
	attrBreak  = `"><svg onload="window.pwned=1">'`
	jsURL      = `javascript:window.pwned=1`
	ctrlString = "evil\x1b[31mred\x1b[0m\x00nul\u202egnp.exe\u2028line"
)

var base = time.Date(2026, 9, 12, 2, 0, 0, 0, time.UTC)

func hostileEvents() []timeline.Event {
	return []timeline.Event{
		{Time: base, TimestampDesc: "Login", Message: breakOut, Source: "auth", User: attrBreak, IP: "203.0.113.66",
			Path: jsURL, Evidence: timeline.Evidence{Image: "x.qcow2", Volume: "p3", Path: "/var/log/" + breakOut2, Line: 7}},
		{Time: base.Add(time.Second), TimestampDesc: breakOut2, Message: ctrlString, Source: "fs<b>", Host: "&amp;<h2 id=pwn>",
			Path: "/tmp/" + ctrlString},
		{Time: base.Add(2 * time.Second), TimestampDesc: "x", Message: "<!-- <script>", Source: "journal", User: "\\\"'`"},
	}
}

func hostileData(evs []timeline.Event) Data {
	return Data{
		Title:     "case " + breakOut,
		Generated: base,
		Case:      []Fact{{Name: attrBreak, Value: breakOut}},
		Images:    Table{Title: "Images", Columns: []string{"Path"}, Rows: [][]string{{breakOut2}}},
		System:    []Fact{{Name: "Host", Value: ctrlString}},
		Findings: []Finding{{Severity: "high", Rule: "r<script>", Title: breakOut, Detail: attrBreak, Time: base,
			Path: jsURL, Evidence: []timeline.Evidence{{Path: breakOut2, Line: 3}}},
			{Severity: breakOut, Title: "unknown severity", IP: attrBreak}},
		Tables:   []Table{{ID: `x" onclick="window.pwned=1`, Title: breakOut, Note: breakOut2, Columns: []string{attrBreak}, Rows: [][]string{{jsURL}, {ctrlString}}}},
		Warnings: []string{breakOut},
		Events:   slice(evs),
	}
}

func slice(evs []timeline.Event) iter.Seq2[timeline.Event, error] {
	return func(yield func(timeline.Event, error) bool) {
		for _, e := range evs {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func render(t *testing.T, d Data) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, d); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// block returns the text of the <script type="application/json"> with id.
func block(t *testing.T, page, id string) string {
	t.Helper()
	open := fmt.Sprintf(`<script type="application/json" id=%q>`, id)
	i := strings.Index(page, open)
	if i < 0 {
		t.Fatalf("no %s block", id)
	}
	rest := page[i+len(open):]
	j := strings.Index(strings.ToLower(rest), "</script")
	if j < 0 {
		t.Fatalf("%s block not closed", id)
	}
	return rest[:j]
}

func TestHostileStringsEscaped(t *testing.T) {
	evs := hostileEvents()
	page := render(t, hostileData(evs))

	// Exactly our three script elements open and close: nothing from the
	// evidence started or ended one.
	lower := strings.ToLower(page)
	if n := strings.Count(lower, "<script"); n != 3 {
		t.Errorf("%d <script tags, want 3 (events, meta, code)", n)
	}
	if n := strings.Count(lower, "</script"); n != 3 {
		t.Errorf("%d </script tags, want 3", n)
	}
	for _, bad := range []string{"<img", "<svg", "<h2 id=pwn", "<b>", `onclick="window`, "\x1b", "\x00"} {
		if strings.Contains(page, bad) {
			i := strings.Index(page, bad)
			t.Errorf("page contains %q raw: …%s…", bad, page[max(0, i-80):min(len(page), i+80)])
		}
	}
	// Outside the events JSON (which keeps evidence strings exact, for the
	// script to show escaped), no bidi override or line separator is raw.
	outside := strings.Replace(page, block(t, page, eventsBlockID), "", 1)
	for _, bad := range []string{"\u202e", "\u2028"} {
		if strings.Contains(outside, bad) {
			t.Errorf("page contains %q raw outside the events block", bad)
		}
	}
	if regexp.MustCompile(`(?i)(href|src)\s*=\s*["']?\s*javascript:`).MatchString(page) {
		t.Error("a javascript: URL reached an href or src")
	}
	// The strings are there, escaped, for the reader to see.
	for _, want := range []string{
		html.EscapeString(breakOut),
		`evil\x1b[31mred`,        // control characters made visible
		`\u{202E}gnp.exe`,        // bidi override made visible
		"&lt;/script&gt;&lt;img", // in the findings' title
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The finding link's filter carries the raw path back to the script.
	m := regexp.MustCompile(`data-q="([^"]*)"`).FindStringSubmatch(page)
	if m == nil || html.UnescapeString(m[1]) != jsURL {
		t.Errorf("data-q = %v, want %q", m, jsURL)
	}

	// The events block parses back to the same events.
	got := decodeRows(t, block(t, page, eventsBlockID))
	if len(got) != len(evs) {
		t.Fatalf("%d rows, want %d", len(got), len(evs))
	}
	for i, e := range evs {
		want := []any{float64(e.Time.UnixMicro()), e.TimestampDesc, e.Message, e.Source, e.User, e.Host, e.IP, e.Path, evidenceString(e.Evidence)}
		if fmt.Sprint(got[i]) != fmt.Sprint(want) {
			t.Errorf("row %d = %q, want %q", i, got[i], want)
		}
	}
	var m2 meta
	if err := json.Unmarshal([]byte(html.UnescapeString(block(t, page, metaBlockID))), &m2); err != nil {
		// html/template writes JSON with \u003c escapes, which is still JSON;
		// an entity would be a bug.
		t.Fatalf("meta block: %v", err)
	}
	if m2.Embedded != 3 || m2.Total != 3 || m2.First != "2026-09-12T02:00:00.000000000Z" {
		t.Errorf("meta = %+v", m2)
	}
}

func decodeRows(t *testing.T, s string) [][]any {
	t.Helper()
	var rows [][]any
	if err := json.Unmarshal([]byte(s), &rows); err != nil {
		t.Fatalf("events block is not JSON: %v\n%.300s", err, s)
	}
	return rows
}

func synthetic(n int, hook func(i int)) iter.Seq2[timeline.Event, error] {
	return func(yield func(timeline.Event, error) bool) {
		for i := range n {
			if hook != nil {
				hook(i)
			}
			e := timeline.Event{Time: base.Add(time.Duration(i) * time.Millisecond), TimestampDesc: "Modification Time",
				Message: fmt.Sprintf("/var/lib/file-%07d changed by something rather long to look like a log line", i),
				Source:  "fs", Path: fmt.Sprintf("/var/lib/file-%07d", i),
				Evidence: timeline.Evidence{Image: "disk.qcow2", Volume: "p2", Path: fmt.Sprintf("/var/lib/file-%07d", i), Inode: uint64(i + 12)}}
			if !yield(e, nil) {
				return
			}
		}
	}
}

func TestCap(t *testing.T) {
	var small, large bytes.Buffer
	if err := Write(&small, Data{Events: synthetic(5_000, nil), MaxEvents: 1000}); err != nil {
		t.Fatal(err)
	}
	if err := Write(&large, Data{Events: synthetic(50_000, nil), MaxEvents: 1000}); err != nil {
		t.Fatal(err)
	}
	// Beyond the cap only the counts in the meta block differ.
	if d := large.Len() - small.Len(); d < 0 || d > 64 {
		t.Errorf("page grew by %d bytes with 45000 more events beyond the cap", d)
	}
	page := large.String()
	rows := decodeRows(t, block(t, page, eventsBlockID))
	if len(rows) != 1000 || rows[999][colPath] != "/var/lib/file-0000999" {
		t.Errorf("%d rows embedded, last %v", len(rows), rows[len(rows)-1])
	}
	var m meta
	if err := json.Unmarshal([]byte(block(t, page, metaBlockID)), &m); err != nil {
		t.Fatal(err)
	}
	want := meta{Embedded: 1000, Total: 50_000, Max: 1000, First: "2026-09-12T02:00:00.000000000Z", Last: "2026-09-12T02:00:49.999000000Z"}
	if m != want {
		t.Errorf("meta = %+v, want %+v", m, want)
	}
}

// With the count known, the page keeps the latest events.
func TestCapLatest(t *testing.T) {
	page := render(t, Data{Events: synthetic(5_000, nil), Count: 5_000, MaxEvents: 1000})
	rows := decodeRows(t, block(t, page, eventsBlockID))
	if len(rows) != 1000 || rows[0][colPath] != "/var/lib/file-0004000" || rows[999][colPath] != "/var/lib/file-0004999" {
		t.Errorf("%d rows embedded, first %v, last %v", len(rows), rows[0], rows[len(rows)-1])
	}
	var m meta
	if err := json.Unmarshal([]byte(block(t, page, metaBlockID)), &m); err != nil {
		t.Fatal(err)
	}
	if m.Skipped != 4000 || m.Embedded != 1000 || m.Total != 5000 {
		t.Errorf("meta = %+v", m)
	}
	// A timeline shorter than its count (cut short) is reported, and the
	// cap still holds.
	page = render(t, Data{Events: synthetic(1500, nil), Count: 3000, MaxEvents: 1000})
	if err := json.Unmarshal([]byte(block(t, page, metaBlockID)), &m); err != nil {
		t.Fatal(err)
	}
	if rows := decodeRows(t, block(t, page, eventsBlockID)); len(rows) > 1000 || !strings.Contains(m.Error, "not the 3000 expected") {
		t.Errorf("%d rows embedded, meta %+v", len(rows), m)
	}
}

// TestMemoryBounded streams far more events than the cap through Write and
// watches the live heap: it must not grow with the events read.
func TestMemoryBounded(t *testing.T) {
	n := 400_000
	if testing.Short() {
		n = 100_000
	}
	var ms runtime.MemStats
	var peak uint64
	sample := func(i int) {
		if i%50_000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	start := ms.HeapAlloc
	if err := Write(io.Discard, Data{Events: synthetic(n, sample), MaxEvents: 2000}); err != nil {
		t.Fatal(err)
	}
	if grown := int64(peak) - int64(start); grown > 4<<20 {
		t.Errorf("live heap grew by %d bytes while streaming %d events", grown, n)
	}
}

func TestEventsError(t *testing.T) {
	bad := func(yield func(timeline.Event, error) bool) {
		if yield(timeline.Event{Time: base, Message: "one", Source: "fs"}, nil) {
			yield(timeline.Event{}, errors.New("timeline.jsonl line 2: unexpected end of JSON input"))
		}
	}
	page := render(t, Data{Events: bad})
	var m meta
	if err := json.Unmarshal([]byte(block(t, page, metaBlockID)), &m); err != nil {
		t.Fatal(err)
	}
	if m.Embedded != 1 || !strings.Contains(m.Error, "line 2") {
		t.Errorf("meta = %+v", m)
	}
}

func TestReadJSONL(t *testing.T) {
	var b bytes.Buffer
	w, err := timeline.NewWriter(&b, "jsonl")
	if err != nil {
		t.Fatal(err)
	}
	evs := hostileEvents()
	evs[0].Attrs = map[string]string{"pid": "811"} // left out, and must not disturb the rest
	for i := range evs {
		if err := w.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var got []timeline.Event
	for e, err := range ReadJSONL(&b) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != len(evs) {
		t.Fatalf("read %d events, want %d", len(got), len(evs))
	}
	for i := range evs {
		g, w := got[i], evs[i]
		if !g.Time.Equal(w.Time) || g.Message != w.Message || g.Path != w.Path || g.User != w.User || g.Evidence != w.Evidence {
			t.Errorf("event %d = %+v, want %+v", i, g, w)
		}
	}

	n := 0
	for _, err := range ReadJSONL(strings.NewReader("{\"message\":\"x\",\"datetime\":\"2026-01-01T00:00:00Z\"}\n{\"mess")) {
		if err != nil {
			if !strings.Contains(err.Error(), "line 2") {
				t.Errorf("error %v does not name line 2", err)
			}
			break
		}
		n++
	}
	if n != 1 {
		t.Errorf("%d events before the damaged line, want 1", n)
	}
}

// TestSelfContained checks the page refers to nothing outside itself: no
// URL in src, href, CSS url() or @import, and a Content-Security-Policy
// that forbids loading anything should a reference slip in.
func TestSelfContained(t *testing.T) {
	for _, d := range []Data{{}, hostileData(hostileEvents())} {
		page := render(t, d)
		if m := regexp.MustCompile(`(?i)(src|href|action)\s*=\s*["']?\s*(https?:|//|file:|data:)`).FindString(page); m != "" {
			t.Errorf("page refers outside itself: %s", m)
		}
		if m := regexp.MustCompile(`(?i)(@import|url\()`).FindString(pageCSS); m != "" {
			t.Errorf("CSS loads something: %s", m)
		}
		if !strings.Contains(page, `content="default-src 'none';`) {
			t.Error("no Content-Security-Policy forbidding loads")
		}
		for _, id := range []string{eventsBlockID, metaBlockID} {
			var v any
			if err := json.Unmarshal([]byte(block(t, page, id)), &v); err != nil {
				t.Errorf("%s block: %v", id, err)
			}
		}
	}
}
