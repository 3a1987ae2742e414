package timeline

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Writer writes events in one output format. Close flushes.
type Writer interface {
	Write(*Event) error
	Close() error
}

// Formats lists the names NewWriter accepts.
var Formats = []string{"table", "csv", "jsonl", "bodyfile", "tln"}

// NewWriter returns a writer for format: "table" (terminal, escaped),
// "csv" (RFC 4180, spreadsheet formulas neutralised), "jsonl" (Timesketch
// import), "bodyfile" (TSK 3.x, for mactime) or "tln".
func NewWriter(w io.Writer, format string) (Writer, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	switch format {
	case "table":
		return &tableWriter{w: bw}, nil
	case "csv":
		cw := csv.NewWriter(bw)
		if err := cw.Write(csvHeader); err != nil {
			return nil, err
		}
		return &csvWriter{w: bw, cw: cw}, nil
	case "jsonl", "json":
		return &jsonlWriter{w: bw, enc: json.NewEncoder(bw)}, nil
	case "bodyfile":
		return &bodyWriter{w: bw}, nil
	case "tln":
		return &tlnWriter{w: bw}, nil
	}
	return nil, fmt.Errorf("timeline: unknown output format %q (want %s)", format, strings.Join(Formats, ", "))
}

// tableWriter streams aligned columns; it cannot size columns to the data
// without holding all of it, so the wide message column comes last.
type tableWriter struct {
	w      *bufio.Writer
	header bool
}

func (t *tableWriter) Write(e *Event) error {
	if !t.header {
		t.header = true
		fmt.Fprintf(t.w, "%-30s  %-13s  %-28s  %-12s  %-15s  %s\n", "DATETIME (UTC)", "SOURCE", "DESCRIPTION", "USER", "IP", "MESSAGE")
	}
	desc := e.TimestampDesc
	if m := e.Attrs["macb"]; m != "" {
		desc = m // mactime's letters: the four meanings spelled out do not fit a column
	}
	_, err := fmt.Fprintf(t.w, "%-30s  %-13s  %-28s  %-12s  %-15s  %s\n",
		e.Time.UTC().Format(TimeFormat), EscapeTerminal(e.Source), EscapeTerminal(desc),
		EscapeTerminal(e.User), EscapeTerminal(e.IP), EscapeTerminal(e.Message))
	return err
}

func (t *tableWriter) Close() error { return t.w.Flush() }

var csvHeader = []string{"datetime", "timestamp_desc", "source", "message", "user", "host", "ip", "path",
	"zone", "evidence_image", "evidence_volume", "evidence_path", "evidence_inode", "evidence_line", "evidence_offset", "attrs"}

type csvWriter struct {
	w  *bufio.Writer
	cw *csv.Writer
}

// CSVCell neutralises a cell a spreadsheet would run as a formula (one
// starting with = + - @, tab or carriage return) by prefixing a quote, as
// OWASP recommends. Evidence strings are attacker-controlled.
func CSVCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

func (c *csvWriter) Write(e *Event) error {
	attrs := ""
	if len(e.Attrs) > 0 {
		b, _ := json.Marshal(e.Attrs) // sorted keys
		attrs = string(b)
	}
	rec := []string{
		e.Time.UTC().Format(TimeFormat), e.TimestampDesc, e.Source, e.Message, e.User, e.Host, e.IP, e.Path,
		e.Zone, e.Evidence.Image, e.Evidence.Volume, e.Evidence.Path, uitoa(e.Evidence.Inode),
		itoa(e.Evidence.Line), itoa(e.Evidence.Offset), attrs,
	}
	for i := range rec {
		rec[i] = CSVCell(rec[i])
	}
	return c.cw.Write(rec)
}

func (c *csvWriter) Close() error {
	c.cw.Flush()
	if err := c.cw.Error(); err != nil {
		return err
	}
	return c.w.Flush()
}

func itoa(v int64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatInt(v, 10)
}

func uitoa(v uint64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatUint(v, 10)
}

type jsonlWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
}

func (j *jsonlWriter) Write(e *Event) error { return j.enc.Encode(e) }
func (j *jsonlWriter) Close() error         { return j.w.Flush() }

// tlnWriter writes Carvey's five-field TLN: time|source|host|user|description.
type tlnWriter struct{ w *bufio.Writer }

func (t *tlnWriter) Write(e *Event) error {
	desc := e.TimestampDesc + ": " + e.Message
	_, err := fmt.Fprintf(t.w, "%d|%s|%s|%s|%s\n", e.Time.Unix(), tlnField(e.Source), tlnField(e.Host), tlnField(e.User), tlnField(desc))
	return err
}

func (t *tlnWriter) Close() error { return t.w.Flush() }

// tlnField keeps a field on one line and out of the separator.
func tlnField(s string) string {
	return strings.NewReplacer("|", "/", "\n", `\n`, "\r", `\r`).Replace(EscapeTerminal(s))
}
