package syslog

import (
	"bytes"
	"errors"
	"fmt"

	"time"
)

// Format is the syslog line format a record was read in.
type Format uint8

const (
	RFC3164 Format = iota + 1 // "Jan  2 15:04:05 host prog[pid]: msg", local time, no year
	RFC3339                   // rsyslog's RSYSLOG_FileFormat: "2006-01-02T15:04:05.000000+02:00 host prog[pid]: msg"
	RFC5424                   // "<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG"
	Comment                   // "Jan  2 15:04:05: --- last message repeated 5 times ---"
)

func (f Format) String() string {
	switch f {
	case RFC3164:
		return "rfc3164"
	case RFC3339:
		return "rfc3339"
	case RFC5424:
		return "rfc5424"
	case Comment:
		return "comment"
	}
	return "unknown"
}

// Record is one syslog message. Strings are raw bytes from the evidence.
type Record struct {
	Time time.Time // UTC
	// Local reports that the stamp carried neither year nor zone (RFC 3164):
	// the year was inferred and the time converted from the YearContext's
	// zone.
	Local          bool
	Format         Format
	Priority       int // <PRI> value, -1 when the line has none
	Host           string
	Program        string // syslog tag without pid: "sshd", "CRON", "/sbin/anacron"
	PID            string
	MsgID          string // RFC 5424 MSGID ("" for "-")
	StructuredData string // RFC 5424 STRUCTURED-DATA, raw ("" for "-")
	Message        string
}

// YearContext carries what RFC 3164 stamps lack: the year and the zone.
// Walking a file's lines in order, a month that goes backwards by more than
// one (Dec → Jan) starts a new year; a step back of one month (Apr → Mar, as
// rsyslog's repeated-message reduction writes) does not; a Jan → Dec step
// after a new year was started is taken as out of order and returns to the
// previous year.
type YearContext struct {
	Year int            // year of the most recent stamp; the start year before the first
	Loc  *time.Location // zone of local stamps; nil means UTC
	last time.Month
	// Wraps counts the new years started so far.
	Wraps int
}

// NewYearContext starts at year in zone loc.
func NewYearContext(year int, loc *time.Location) *YearContext {
	return &YearContext{Year: year, Loc: loc}
}

// observe applies one stamp's month to the year.
func (c *YearContext) observe(m time.Month) {
	if c.last != 0 {
		switch {
		case m+1 < c.last:
			c.Year++
			c.Wraps++
		case c.Wraps > 0 && c.last == time.January && m == time.December:
			c.Year--
			c.Wraps--
		}
	}
	c.last = m
}

// Place gives stamp s its year (learning its month first, as for a line
// read in order) and returns it as UTC.
func (c *YearContext) Place(s Stamp) time.Time {
	c.observe(s.Month)
	return s.Time(c.Year, c.Loc).UTC()
}

var errNoStamp = errors.New("no syslog time stamp")

// ErrNotSyslog is returned (wrapped) for a line that does not start with a
// stamp of a known format: a continuation line or garbage.
var ErrNotSyslog = errNoStamp

// Stamp is an RFC 3164 time stamp before a year is given to it.
type Stamp struct {
	Month              time.Month
	Day                int
	Hour, Min, Sec, NS int
}

// Time places the stamp in year and zone loc (UTC when nil).
func (s Stamp) Time(year int, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	return time.Date(year, s.Month, s.Day, s.Hour, s.Min, s.Sec, s.NS, loc)
}

var months = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// ParseStamp reads an RFC 3164 stamp ("Jan  2 15:04:05", optionally with
// fractional seconds) at the start of b and returns it with the rest of b.
func ParseStamp(b []byte) (Stamp, []byte, error) {
	var s Stamp
	if len(b) < 15 {
		return s, b, errNoStamp
	}
	for i, m := range months {
		if (b[0]|0x20) == m[0] && (b[1]|0x20) == m[1] && (b[2]|0x20) == m[2] {
			s.Month = time.Month(i + 1)
			break
		}
	}
	if s.Month == 0 || b[3] != ' ' {
		return s, b, errNoStamp
	}
	i := 3
	for i < len(b) && b[i] == ' ' && i < 6 {
		i++
	}
	d, n := digits(b[i:], 2)
	if n == 0 || d < 1 || d > 31 {
		return s, b, errNoStamp
	}
	s.Day = d
	i += n
	rest, ok := b[i:], false
	if len(rest) < 9 || rest[0] != ' ' {
		return s, b, errNoStamp
	}
	if s.Hour, s.Min, s.Sec, ok = clock(rest[1:9]); !ok {
		return s, b, errNoStamp
	}
	rest = rest[9:]
	if len(rest) > 1 && rest[0] == '.' {
		ns, n := fraction(rest[1:])
		if n == 0 {
			return s, b, errNoStamp
		}
		s.NS = ns
		rest = rest[1+n:]
	}
	return s, rest, nil
}

// digits reads up to max decimal digits.
func digits(b []byte, max int) (v, n int) {
	for n < len(b) && n < max && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + int(b[n]-'0')
		n++
	}
	return v, n
}

// clock reads "hh:mm:ss" (exactly 8 bytes).
func clock(b []byte) (h, m, s int, ok bool) {
	if len(b) != 8 || b[2] != ':' || b[5] != ':' {
		return 0, 0, 0, false
	}
	var n1, n2, n3 int
	h, n1 = digits(b[0:2], 2)
	m, n2 = digits(b[3:5], 2)
	s, n3 = digits(b[6:8], 2)
	if n1 != 2 || n2 != 2 || n3 != 2 || h > 23 || m > 59 || s > 60 {
		return 0, 0, 0, false
	}
	if s == 60 { // a leap second: keep it in the same minute
		s = 59
	}
	return h, m, s, true
}

// fraction reads decimal fractional seconds (1–9 digits kept, more skipped).
func fraction(b []byte) (ns, n int) {
	scale := 100000000
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		if n < 9 {
			ns += int(b[n]-'0') * scale
			scale /= 10
		}
		n++
		if n > 64 {
			break
		}
	}
	return ns, n
}

// ParseLine parses one syslog line: RFC 5424, RFC 3339 (rsyslog's default
// file format) or RFC 3164 with an optional <PRI> prefix. ctx gives RFC 3164
// stamps their year and zone and learns the month of each; it may be nil
// only for logs without RFC 3164 lines. An error wrapping ErrNotSyslog means
// the line has no stamp at all (a continuation line or garbage).
func ParseLine(line []byte, ctx *YearContext) (Record, error) {
	r := Record{Priority: -1}
	b := line
	if len(b) > 2 && b[0] == '<' {
		pri, n := digits(b[1:], 3)
		if n > 0 && 1+n < len(b) && b[1+n] == '>' && pri <= 191 {
			r.Priority = pri
			b = b[2+n:]
			if len(b) > 2 && b[0] >= '1' && b[0] <= '9' && b[1] == ' ' {
				return parse5424(r, b[2:])
			}
		}
	}
	if len(b) >= 19 && b[4] == '-' && b[7] == '-' && b[10] == 'T' {
		t, rest, err := parseRFC3339(b)
		if err != nil {
			return r, err
		}
		r.Time, r.Format = t, RFC3339
		parseHeader(&r, rest, true)
		return r, nil
	}
	st, rest, err := ParseStamp(b)
	if err != nil {
		return r, err
	}
	if ctx == nil {
		return r, errors.New("syslog: RFC 3164 line without a year context")
	}
	r.Time = ctx.Place(st)
	r.Local = true
	r.Format = RFC3164
	if len(rest) > 0 && rest[0] == ':' {
		// rsyslog/sysklogd internal comment: "--- last message repeated N times ---".
		r.Format = Comment
		m := bytes.TrimSpace(rest[1:])
		m = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimPrefix(m, []byte("---")), []byte("---")))
		r.Message = string(m)
		return r, nil
	}
	parseHeader(&r, rest, true)
	return r, nil
}

// parseRFC3339 reads "2006-01-02T15:04:05[.frac](Z|±hh:mm)" followed by a
// space or the end of the line.
func parseRFC3339(b []byte) (time.Time, []byte, error) {
	end := bytes.IndexByte(b, ' ')
	if end < 0 {
		end = len(b)
	}
	if end > 40 {
		return time.Time{}, b, fmt.Errorf("time stamp too long: %w", errNoStamp)
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[:end]))
	if err != nil {
		return time.Time{}, b, fmt.Errorf("%v: %w", err, errNoStamp)
	}
	return t.UTC(), b[end:], nil
}

// parseHeader reads "[host] tag[pid][:] message".
func parseHeader(r *Record, b []byte, withHost bool) {
	b = trimSpace(b)
	tok, after := cutSpace(b)
	if withHost && !isTag(tok) {
		r.Host = string(tok)
		b = trimSpace(after)
	}
	// The tag ends at ':', '[' or a space.
	i := 0
	for i < len(b) && b[i] != ':' && b[i] != '[' && b[i] != ' ' && i < 256 {
		i++
	}
	r.Program = string(b[:i])
	b = b[i:]
	if len(b) > 0 && b[0] == '[' {
		if j := bytes.IndexByte(b, ']'); j > 0 && j < 32 {
			r.PID = string(b[1:j])
			b = b[j+1:]
		}
	}
	if len(b) > 0 && b[0] == ':' {
		b = b[1:]
	}
	r.Message = string(trimSpace(b))
}

// isTag tells whether the first word after the stamp is already the tag
// (old sysklogd writes "kernel: …" without a host).
func isTag(tok []byte) bool {
	if len(tok) > 0 && tok[len(tok)-1] == ':' {
		return true
	}
	if i := bytes.IndexByte(tok, '['); i > 0 && bytes.HasSuffix(tok, []byte("]:")) {
		return true
	}
	return false
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func cutSpace(b []byte) (tok, rest []byte) {
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// parse5424 reads the part after "<PRI>1 ".
func parse5424(r Record, b []byte) (Record, error) {
	r.Format = RFC5424
	var f [5][]byte
	for i := range f {
		f[i], b = cutSpace(b)
	}
	if len(f[0]) == 0 {
		return r, fmt.Errorf("rfc5424: no time stamp: %w", errNoStamp)
	}
	if string(f[0]) != "-" {
		t, _, err := parseRFC3339(f[0])
		if err != nil {
			return r, fmt.Errorf("rfc5424: %w", err)
		}
		r.Time = t
	}
	nil5424 := func(v []byte) string {
		if string(v) == "-" {
			return ""
		}
		return string(v)
	}
	r.Host, r.Program, r.PID, r.MsgID = nil5424(f[1]), nil5424(f[2]), nil5424(f[3]), nil5424(f[4])
	sd, rest := cutSD(b)
	r.StructuredData = nil5424(sd)
	rest = trimSpace(rest)
	rest = bytes.TrimPrefix(rest, []byte("\xef\xbb\xbf")) // RFC 5424 MSG may start with a BOM
	r.Message = string(rest)
	if r.Time.IsZero() {
		return r, errors.New("rfc5424: nil time stamp")
	}
	return r, nil
}

// cutSD splits off RFC 5424 STRUCTURED-DATA: "-" or one or more
// "[id k="v" …]" elements, where values may hold escaped '"', ']' and '\'.
func cutSD(b []byte) (sd, rest []byte) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != '[' {
		return cutSpace(b)
	}
	i, inQuote := 0, false
	for i < len(b) {
		c := b[i]
		switch {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == ']':
			if i+1 >= len(b) || b[i+1] != '[' {
				return b[:i+1], b[i+1:]
			}
		}
		i++
	}
	return b, nil
}
