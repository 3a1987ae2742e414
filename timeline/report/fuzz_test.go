package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/coldcase-dfir/coldcase/timeline"
)

// FuzzWrite puts arbitrary strings everywhere evidence reaches the page
// and checks what keeps the page safe: only the page's own three script
// elements exist, no markup from the input survives, and the events block
// parses back to the input.
func FuzzWrite(f *testing.F) {
	for _, s := range []string{breakOut, breakOut2, attrBreak, jsURL, ctrlString, "<!--", "]]>", "\u2028", "</style>", "&#60;script"} {
		f.Add(s, "/tmp/"+s, s)
	}
	f.Fuzz(func(t *testing.T, msg, path, user string) {
		e := timeline.Event{Time: base, TimestampDesc: user, Message: msg, Source: path, User: user, IP: msg, Path: path,
			Evidence: timeline.Evidence{Path: path, Line: 1}}
		d := Data{
			Title: msg, Case: []Fact{{Name: user, Value: msg}}, System: []Fact{{Name: path, Value: user}},
			Findings: []Finding{{Severity: user, Rule: msg, Title: path, Detail: msg, Time: base, IP: msg, Path: path, User: user,
				Evidence: []timeline.Evidence{{Path: path, Image: msg}}}},
			Tables:   []Table{{ID: user, Title: msg, Note: path, Columns: []string{msg}, Rows: [][]string{{path, user}}}},
			Warnings: []string{msg},
			Events:   slice([]timeline.Event{e, e}),
		}
		var b bytes.Buffer
		if err := Write(&b, d); err != nil {
			t.Fatal(err)
		}
		page := b.String()
		lower := strings.ToLower(page)
		if n := strings.Count(lower, "<script"); n != 3 {
			t.Fatalf("%d <script tags", n)
		}
		if n := strings.Count(lower, "</script"); n != 3 {
			t.Fatalf("%d </script tags", n)
		}
		for _, s := range []string{msg, path, user} {
			if strings.ContainsAny(s, "<>") && len(s) > 1 && strings.Contains(page, s) && !strings.Contains(pageSrc+pageCSS+pageJS, s) {
				t.Fatalf("%q appears unescaped", s)
			}
		}
		var rows [][]any
		if err := json.Unmarshal([]byte(block(t, page, eventsBlockID)), &rows); err != nil {
			t.Fatalf("events block: %v", err)
		}
		if len(rows) != 2 {
			t.Fatalf("%d rows", len(rows))
		}
		if utf8.ValidString(msg) && rows[1][colMessage] != msg {
			t.Fatalf("message %q came back as %q", msg, rows[1][colMessage])
		}
		if utf8.ValidString(path) && rows[1][colPath] != path {
			t.Fatalf("path %q came back as %q", path, rows[1][colPath])
		}
		if int64(rows[0][colTime].(float64)) != base.UnixMicro() {
			t.Fatalf("time %v", rows[0][colTime])
		}
	})
}

// FuzzReadJSONL reads arbitrary bytes as a timeline.jsonl: events or an
// error naming the line, never a panic; and what it reads renders.
func FuzzReadJSONL(f *testing.F) {
	var b bytes.Buffer
	w, _ := timeline.NewWriter(&b, "jsonl")
	for _, e := range hostileEvents() {
		w.Write(&e)
	}
	w.Close()
	f.Add(b.Bytes())
	f.Add([]byte("{\"message\":\"x\",\"datetime\":\"2026-01-01T00:00:00Z\"}\n\n{"))
	f.Add([]byte("{\"datetime\":\"-0001-01-01T00:00:00Z\",\"evidence_line\":-1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		for _, err := range ReadJSONL(bytes.NewReader(data)) {
			if err != nil {
				if !strings.Contains(err.Error(), "timeline.jsonl") {
					t.Fatalf("error does not name the file: %v", err)
				}
				break
			}
			n++
		}
		var out bytes.Buffer
		if err := Write(&out, Data{Events: ReadJSONL(bytes.NewReader(data)), MaxEvents: 100}); err != nil {
			t.Fatal(err)
		}
		rows := decodeRows(t, block(t, out.String(), eventsBlockID))
		if len(rows) != min(n, 100) {
			t.Fatalf("%d rows rendered from %d events", len(rows), n)
		}
	})
}
