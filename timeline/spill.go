package timeline

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
)

// Spill runs are written in a compact binary form of our own: JSON made the
// sort of ten million events spend most of its time encoding. The files
// live only for the duration of one sort, so the format need not be stable.

// maxSpillString bounds a string read back from a spill file; the files are
// ours, but a truncated disk write must not become a huge allocation.
const maxSpillString = 64 << 20

type spillWriter struct{ w *bufio.Writer }

func (s *spillWriter) str(v string) {
	var b [binary.MaxVarintLen64]byte
	s.w.Write(b[:binary.PutUvarint(b[:], uint64(len(v)))])
	s.w.WriteString(v)
}

func (s *spillWriter) int(v int64) {
	var b [binary.MaxVarintLen64]byte
	s.w.Write(b[:binary.PutVarint(b[:], v)])
}

func (s *spillWriter) event(e *Event) error {
	s.int(e.Time.Unix())
	s.int(int64(e.Time.Nanosecond()))
	for _, v := range [...]string{e.TimestampDesc, e.Message, e.Source, e.User, e.Host, e.IP, e.Path, e.Zone,
		e.Evidence.Image, e.Evidence.Volume, e.Evidence.Path} {
		s.str(v)
	}
	s.int(int64(e.Evidence.Inode))
	s.int(e.Evidence.Line)
	s.int(e.Evidence.Offset)
	s.int(int64(len(e.Attrs)))
	keys := make([]string, 0, len(e.Attrs))
	for k := range e.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s.str(k)
		s.str(e.Attrs[k])
	}
	return nil
}

type spillReader struct {
	r   *bufio.Reader
	err error
}

func (s *spillReader) int() int64 {
	if s.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(s.r)
	if err != nil {
		s.err = err
	}
	return v
}

func (s *spillReader) str() string {
	if s.err != nil {
		return ""
	}
	n, err := binary.ReadUvarint(s.r)
	if err != nil {
		s.err = err
		return ""
	}
	if n > maxSpillString {
		s.err = fmt.Errorf("string of %d bytes", n)
		return ""
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(s.r, b); err != nil {
		s.err = err
		return ""
	}
	return string(b)
}

// event reads the next event; io.EOF at a clean end.
func (s *spillReader) event(e *Event) error {
	if _, err := s.r.Peek(1); err == io.EOF {
		return io.EOF
	}
	sec := s.int()
	nsec := s.int()
	e.Time = time.Unix(sec, nsec).UTC()
	e.TimestampDesc, e.Message, e.Source, e.User = s.str(), s.str(), s.str(), s.str()
	e.Host, e.IP, e.Path, e.Zone = s.str(), s.str(), s.str(), s.str()
	e.Evidence.Image, e.Evidence.Volume, e.Evidence.Path = s.str(), s.str(), s.str()
	e.Evidence.Inode = uint64(s.int())
	e.Evidence.Line = s.int()
	e.Evidence.Offset = s.int()
	n := s.int()
	if n < 0 || n > 1<<16 {
		return fmt.Errorf("%d attributes", n)
	}
	if n > 0 {
		e.Attrs = make(map[string]string, n)
		for i := int64(0); i < n; i++ {
			k := s.str()
			e.Attrs[k] = s.str()
		}
	}
	if errors.Is(s.err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return s.err
}
