package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// Entry is a record with the place it was read from.
type Entry struct {
	Record
	Line   int64 // 1-based number of the record's first line
	Offset int64 // byte offset of that line in the (decompressed) stream
	Lines  int   // physical lines, continuations included
}

// Problem is a line that could not be read as part of a record.
type Problem struct {
	Line   int64
	Offset int64
	Msg    string
}

// Stats counts what Parse saw.
type Stats struct {
	Lines         int64 `json:"lines"`
	Records       int64 `json:"records"`
	Continuations int64 `json:"continuations,omitempty"`
	Problems      int64 `json:"problems,omitempty"`
}

// maxMessage bounds a message that grows by continuation lines.
const maxMessage = MaxLine

// Parse reads a syslog file and calls fn for each record in file order.
// A line without a stamp continues the previous record's message (as
// multi-line messages are written); a line that looks like a stamp but does
// not parse, a continuation with no record before it, binary data and a cut
// line are reported to problem (which may be nil) and Parse goes on. ctx
// gives RFC 3164 stamps their year and zone (see ScanYears). Parse stops at
// the first error from fn or from r.
func Parse(r io.Reader, ctx *YearContext, fn func(*Entry) error, problem func(Problem)) (Stats, error) {
	var st Stats
	report := func(line, off int64, format string, args ...any) {
		st.Problems++
		if problem != nil {
			problem(Problem{Line: line, Offset: off, Msg: fmt.Sprintf(format, args...)})
		}
	}
	ls := NewLines(r)
	var cur Entry
	have := false
	var msg []byte // message of cur while continuations are appended
	flush := func() error {
		if !have {
			return nil
		}
		have = false
		if cur.Lines > 1 {
			cur.Message = string(msg)
		}
		st.Records++
		return fn(&cur)
	}
	for {
		line, err := ls.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, err
		}
		st.Lines++
		n, off := ls.Line(), ls.Offset()
		if ls.Truncated {
			report(n, off, "line longer than %d bytes, %d bytes skipped", MaxLine, ls.Dropped)
		}
		if nul := leadingNUL(line); nul > 0 {
			// An unclean shutdown leaves runs of NUL bytes where the
			// filesystem had allocated but not written the log's tail.
			report(n, off, "%d NUL bytes skipped", nul)
			line = line[nul:]
		}
		if len(line) == 0 {
			continue
		}
		rec, perr := ParseLine(line, ctx)
		if perr == nil {
			if err := flush(); err != nil {
				return st, err
			}
			cur = Entry{Record: rec, Line: n, Offset: off, Lines: 1}
			have = true
			continue
		}
		if !errors.Is(perr, errNoStamp) || looksLikeStamp(line) {
			if err := flush(); err != nil {
				return st, err
			}
			report(n, off, "not a syslog line: %v", perr)
			continue
		}
		if !have || bytes.IndexByte(line, 0) >= 0 {
			report(n, off, "line outside any record")
			continue
		}
		if cur.Lines == 1 {
			msg = append(msg[:0], cur.Message...)
		}
		cur.Lines++
		st.Continuations++
		if room := maxMessage - len(msg); room > 0 {
			msg = append(msg, '\n')
			if len(line) > room-1 {
				line = line[:room-1]
			}
			msg = append(msg, line...)
		}
	}
	return st, flush()
}

func leadingNUL(b []byte) int {
	i := 0
	for i < len(b) && b[i] == 0 {
		i++
	}
	return i
}

// looksLikeStamp tells whether a line that failed to parse starts like a
// record ("Mmm dd hh:mm:ss", "2006-01-02T", "<PRI>") rather than continuing
// the previous one: such a line is reported, not glued to another message.
func looksLikeStamp(b []byte) bool {
	if len(b) > 2 && b[0] == '<' {
		if _, n := digits(b[1:], 3); n > 0 && 1+n < len(b) && b[1+n] == '>' {
			return true
		}
	}
	if len(b) >= 11 && b[4] == '-' && b[7] == '-' && b[10] == 'T' {
		if _, n := digits(b, 4); n == 4 {
			return true
		}
	}
	// \w{3}\s+\d{1,2}\s\d{2}:\d{2}:\d{2}
	if len(b) < 15 {
		return false
	}
	for _, c := range b[:3] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	i := 3
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	if i == 3 {
		return false
	}
	_, n := digits(b[i:], 2)
	if n == 0 {
		return false
	}
	i += n
	if i+9 > len(b) || b[i] != ' ' {
		return false
	}
	_, _, _, ok := clockShape(b[i+1 : i+9])
	return ok
}

// clockShape checks "dd:dd:dd" without range checks.
func clockShape(b []byte) (int, int, int, bool) {
	if len(b) != 8 || b[2] != ':' || b[5] != ':' {
		return 0, 0, 0, false
	}
	for _, i := range []int{0, 1, 3, 4, 6, 7} {
		if b[i] < '0' || b[i] > '9' {
			return 0, 0, 0, false
		}
	}
	return 0, 0, 0, true
}

// YearSpan is what a first pass over a log learns about its RFC 3164
// stamps: how many new years the file spans and its last stamp, so that the
// year can be anchored to the file's modification time before the second
// pass gives each line its year.
type YearSpan struct {
	Found bool  // the file has RFC 3164 stamps
	Wraps int   // new years started between the first and the last stamp
	Last  Stamp // the last RFC 3164 stamp in file order
}

// ScanYears reads a log's RFC 3164 stamps (lines of any other format are
// passed over) applying the same rollover rule as YearContext.
func ScanYears(r io.Reader) (YearSpan, error) {
	var s YearSpan
	ctx := &YearContext{}
	ls := NewLines(r)
	for {
		line, err := ls.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return s, err
		}
		line = line[leadingNUL(line):]
		st, ok := stampOf(line)
		if !ok {
			continue
		}
		ctx.observe(st.Month)
		s.Found, s.Last = true, st
	}
	s.Wraps = ctx.Wraps
	return s, nil
}

// stampOf returns the RFC 3164 stamp ParseLine would read from line.
func stampOf(b []byte) (Stamp, bool) {
	if len(b) > 2 && b[0] == '<' {
		pri, n := digits(b[1:], 3)
		if n > 0 && 1+n < len(b) && b[1+n] == '>' && pri <= 191 {
			b = b[2+n:]
			if len(b) > 2 && b[0] >= '1' && b[0] <= '9' && b[1] == ' ' {
				return Stamp{}, false
			}
		}
	}
	if len(b) >= 19 && b[4] == '-' && b[7] == '-' && b[10] == 'T' {
		return Stamp{}, false
	}
	st, _, err := ParseStamp(b)
	return st, err == nil
}

// mtimeSlack allows the last line to be somewhat after the file's
// modification time: the guest's clock, the zone used to read local stamps
// and the filesystem's time may disagree by hours, and a log's year must not
// jump back a whole year because of that.
const mtimeSlack = 26 * time.Hour

// StartYear is the year of the file's first RFC 3164 stamp: the last stamp
// is put in the year of mtime (in loc), or the year before when that would
// place it after mtime, and the new years counted are walked back.
func (s YearSpan) StartYear(mtime time.Time, loc *time.Location) int {
	if loc == nil {
		loc = time.UTC
	}
	y := mtime.In(loc).Year()
	if s.Found && s.Last.Time(y, loc).After(mtime.Add(mtimeSlack)) {
		y--
	}
	return y - s.Wraps
}
