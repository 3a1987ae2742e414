package utmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// LastlogLayout is one on-disk form of struct lastlog: a 32-bit ll_time
// (292-byte records: x86-64, i386, s390x) or a 64-bit one (296 bytes:
// aarch64, riscv64).
type LastlogLayout struct {
	Size      int
	BigEndian bool
}

// LastlogEntry is the record of one UID that has logged in.
type LastlogEntry struct {
	UID    uint32
	Offset int64
	Time   time.Time // zero when ll_time is 0 but the line or host is set
	Line   string
	Host   string
}

// MaxLastlogBytes bounds how much of a lastlog is read. The file is
// indexed by UID, so a directory user with UID 2^31 makes it a 600 GiB
// sparse file; io/fs cannot skip holes, so past this limit the rest is
// reported instead of read.
var MaxLastlogBytes int64 = 1 << 30

// LastlogReader returns the non-empty records of a lastlog file.
type LastlogReader struct {
	r      io.ReaderAt
	size   int64
	layout LastlogLayout
	off    int64
	chunk  []byte
	cOff   int64 // file offset of chunk[0]
	cLen   int
	err    error
}

// ErrLastlogTruncated is returned (wrapped) by Next when the file is larger
// than MaxLastlogBytes; the entries before the limit were returned.
var ErrLastlogTruncated = errors.New("lastlog larger than the read limit, rest not read")

// NewLastlogReader reads a lastlog file of the given size, detecting the
// record size (which size divides the file, then which reads plausible
// times) and byte order.
func NewLastlogReader(r io.ReaderAt, size int64) (*LastlogReader, error) {
	if size < 0 {
		return nil, errors.New("lastlog: negative size")
	}
	lr := &LastlogReader{r: r, size: size, chunk: make([]byte, 292*296*2)}
	lr.layout = lr.detect()
	return lr, nil
}

// Layout is the layout the reader uses.
func (lr *LastlogReader) Layout() LastlogLayout { return lr.layout }

func (l LastlogLayout) time(b []byte) int64 {
	var o binary.ByteOrder = binary.LittleEndian
	if l.BigEndian {
		o = binary.BigEndian
	}
	if l.Size == 296 {
		return int64(o.Uint64(b))
	}
	return int64(o.Uint32(b)) // unsigned: valid until 2106
}

func (lr *LastlogReader) detect() LastlogLayout {
	cands := []LastlogLayout{{292, false}, {296, false}, {292, true}, {296, true}}
	// Look at the first non-empty records of the first MiB under each
	// layout; the first candidate wins ties.
	head := make([]byte, min(lr.size, 1<<20))
	n, _ := lr.r.ReadAt(head, 0)
	head = head[:n]
	best, bestScore := cands[0], -1<<30
	for _, l := range cands {
		s := 0
		if lr.size%int64(l.Size) == 0 {
			s += 4
		}
		seen := 0
		for off := 0; off+l.Size <= len(head) && seen < 16; off += l.Size {
			b := head[off : off+l.Size]
			if allZero(b) {
				continue
			}
			seen++
			// A narrower window than utmp's: with no type field to tell the
			// byte order, a byte-swapped 32-bit time must fall outside it.
			t := l.time(b)
			if t == 0 || (t >= lastlogMinTime && t < lastlogMaxTime) {
				s += 2
			} else {
				s -= 3
			}
			if l.Size == 296 && t == 0 {
				s-- // a 292-byte record read as 296 often lands time in the strings
			}
		}
		if s > bestScore {
			best, bestScore = l, s
		}
	}
	return best
}

var (
	lastlogMinTime = time.Date(1995, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	lastlogMaxTime = time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
)

// NewLastlogReaderLayout reads a lastlog of a known layout, e.g. the byte
// order the guest's wtmp showed.
func NewLastlogReaderLayout(r io.ReaderAt, size int64, l LastlogLayout) (*LastlogReader, error) {
	if size < 0 {
		return nil, errors.New("lastlog: negative size")
	}
	if l.Size != 292 && l.Size != 296 {
		return nil, fmt.Errorf("lastlog: record size %d is neither 292 nor 296", l.Size)
	}
	return &LastlogReader{r: r, size: size, layout: l, chunk: make([]byte, 292*296*2)}, nil
}

// Next returns the next non-empty record, or io.EOF. Empty (all-zero)
// records, the holes of the sparse file, are skipped a chunk at a time.
func (lr *LastlogReader) Next() (*LastlogEntry, error) {
	if lr.err != nil {
		return nil, lr.err
	}
	rs := int64(lr.layout.Size)
	for {
		if lr.off+rs > lr.size {
			lr.err = io.EOF
			return nil, io.EOF
		}
		if lr.off >= MaxLastlogBytes {
			lr.err = fmt.Errorf("lastlog: at offset %#x: %w", lr.off, ErrLastlogTruncated)
			return nil, lr.err
		}
		if lr.off < lr.cOff || lr.off+rs > lr.cOff+int64(lr.cLen) {
			// Refill with whole records only.
			want := min(int64(len(lr.chunk))/rs*rs, (lr.size-lr.off)/rs*rs)
			n, err := lr.r.ReadAt(lr.chunk[:want], lr.off)
			if int64(n) < rs {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				lr.err = fmt.Errorf("lastlog: record at offset %#x: %w", lr.off, err)
				return nil, lr.err
			}
			lr.cOff, lr.cLen = lr.off, n
		}
		b := lr.chunk[lr.off-lr.cOff : lr.off-lr.cOff+rs]
		off := lr.off
		lr.off += rs
		if allZero(b) {
			continue
		}
		uid := off / rs
		if uid > 1<<32-1 {
			lr.err = io.EOF
			return nil, io.EOF
		}
		ts := lr.layout.time(b)
		tl := 4
		if lr.layout.Size == 296 {
			tl = 8
		}
		e := &LastlogEntry{UID: uint32(uid), Offset: off,
			Line: cstr(b[tl : tl+32]), Host: cstr(b[tl+32 : tl+32+256])}
		if ts != 0 {
			e.Time = time.Unix(ts, 0).UTC()
		}
		return e, nil
	}
}
