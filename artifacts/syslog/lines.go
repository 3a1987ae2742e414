package syslog

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// MaxLine is the longest line kept whole. A longer line is cut to MaxLine
// bytes and the rest is skipped without being held in memory: a log is
// attacker-controlled and may hold one 100 MB "line".
const MaxLine = 64 << 10

// Lines reads a text log line by line in bounded memory. It is shared by
// the other text-log extractors (audit, packages).
type Lines struct {
	br   *bufio.Reader
	max  int
	buf  []byte
	n    int64 // 1-based number of the line last returned
	off  int64 // byte offset of the line last returned
	next int64 // byte offset of the following line
	// Truncated reports that the line last returned was longer than the maximum
	// and was cut; Dropped is how many bytes were skipped.
	Truncated bool
	Dropped   int64
}

// NewLines reads lines from r.
func NewLines(r io.Reader) *Lines {
	return NewLinesMax(r, MaxLine)
}

// NewLinesMax reads lines of up to max bytes, for formats whose lines are
// legitimately long (apt's history.log lists a whole upgrade on one line).
func NewLinesMax(r io.Reader, max int) *Lines {
	if max < 16 {
		max = 16
	}
	return &Lines{br: bufio.NewReaderSize(r, min(max+1, MaxLine+1)), max: max}
}

// Next returns the next line without its line ending ("\n" or "\r\n"). The
// slice is valid until the following call. At the end of input it returns
// io.EOF; a final line without a newline is returned first.
func (l *Lines) Next() ([]byte, error) {
	l.buf = l.buf[:0]
	l.Truncated, l.Dropped = false, 0
	start := l.next
	for {
		frag, err := l.br.ReadSlice('\n')
		l.next += int64(len(frag))
		frag = bytes.TrimSuffix(frag, []byte{'\n'})
		if room := l.max - len(l.buf); len(frag) > room {
			l.buf = append(l.buf, frag[:room]...)
			l.Truncated = true
			l.Dropped += int64(len(frag) - room)
		} else {
			l.buf = append(l.buf, frag...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && (err != io.EOF || l.next == start) {
			return nil, err
		}
		break
	}
	l.n++
	l.off = start
	return bytes.TrimSuffix(l.buf, []byte{'\r'}), nil
}

// Line is the 1-based number of the line last returned.
func (l *Lines) Line() int64 { return l.n }

// Offset is the byte offset of the line last returned in the decompressed
// stream.
func (l *Lines) Offset() int64 { return l.off }
