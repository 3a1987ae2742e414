package image

import (
	"errors"
	"fmt"
	"io"
)

// Sparse formats (qcow2, vmdk, vhd, vhdx) all reduce to a map from guest
// offsets to runs of one kind. A format implements mapper; mapped does the
// reading, so zero-filling, backing-file fall-through and the cache of
// decompressed units are written once.

type extKind uint8

const (
	extZero       extKind = iota // reads as zeros
	extData                      // bytes at host offset in the layer's file
	extParent                    // not in this layer: read the backing file at the same offset
	extCompressed                // a compressed unit (qcow2 cluster, vmdk grain)
)

// extent is the run of guest bytes starting at the offset passed to mapAt.
type extent struct {
	kind extKind
	n    int64 // guest bytes covered, > 0
	host int64 // extData: file offset of the first byte; extCompressed: offset of the compressed bytes
	clen int64 // extCompressed: length of the compressed bytes (may reach past EOF by padding)
	unit int64 // extCompressed: guest offset where the unit starts
}

type mapper interface {
	// mapAt describes the guest bytes from off on; the extent may cover
	// fewer than want bytes but never zero.
	mapAt(off, want int64) (extent, error)
}

type decompressor interface {
	unitSize() int64
	// decompress fills dst (unitSize bytes) with the unit of e.
	decompress(dst []byte, e extent) error
}

// mapped is the guest view of one layer of a chain.
type mapped struct {
	format string // for messages: "qcow2 top.qcow2"
	m      mapper
	dec    decompressor
	f      io.ReaderAt
	fsize  int64
	parent io.ReaderAt // nil: unallocated reads as zeros
	psize  int64
	size   int64
	units  fileCache // decompressed units: small reads inflate each once
}

func newMapped(o *opener, format string, m mapper, f io.ReaderAt, fsize, size int64) *mapped {
	r := &mapped{format: format, m: m, f: f, fsize: fsize, size: size}
	if d, ok := m.(decompressor); ok {
		r.dec = d
		r.units = o.caches.unitCache()
	}
	return r
}

func (r *mapped) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: negative offset", r.format)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := p
	var eof error
	if rem := r.size - off; int64(len(p)) > rem {
		want, eof = p[:rem], io.EOF
	}
	done := 0
	for done < len(want) {
		cur := off + int64(done)
		e, err := r.m.mapAt(cur, int64(len(want)-done))
		if err != nil {
			return done, err
		}
		if e.n <= 0 {
			return done, fmt.Errorf("%s: empty mapping at guest offset %#x", r.format, cur)
		}
		if rest := int64(len(want) - done); e.n > rest {
			e.n = rest
		}
		buf := want[done : done+int(e.n)]
		switch e.kind {
		case extZero:
			clear(buf)
		case extData:
			if err := readFull(r.f, buf, e.host); err != nil {
				return done, fmt.Errorf("%s: data for guest offset %#x at file offset %#x: %w", r.format, cur, e.host, err)
			}
		case extParent:
			if err := readPadded(r.parent, r.psize, buf, cur); err != nil {
				return done, err
			}
		case extCompressed:
			if err := r.readCompressed(buf, cur, e); err != nil {
				return done, err
			}
		default:
			return done, fmt.Errorf("%s: bad mapping kind %d", r.format, e.kind)
		}
		done += len(buf)
	}
	return done, eof
}

func (r *mapped) readCompressed(buf []byte, cur int64, e extent) error {
	us := r.dec.unitSize()
	if e.unit > cur || cur-e.unit+int64(len(buf)) > us {
		return fmt.Errorf("%s: compressed unit at guest %#x does not cover %#x", r.format, e.unit, cur)
	}
	// A read covering the whole unit inflates straight into the caller's
	// buffer: streaming copies never touch the cache.
	if cur == e.unit && int64(len(buf)) == us {
		return r.dec.decompress(buf, e)
	}
	u, ok := r.units.get(e.unit)
	if !ok {
		u = make([]byte, us)
		if err := r.dec.decompress(u, e); err != nil {
			return err
		}
		r.units.put(e.unit, u)
	}
	copy(buf, u[cur-e.unit:])
	return nil
}

// readFull reads exactly len(p) bytes at off; a short file is an error.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("short read (%d of %d bytes): %w", n, len(p), io.ErrUnexpectedEOF)
	}
	return err
}

// readPadded reads p at off from r (size bytes long); what lies past size,
// or everything when r is nil, reads as zeros — a backing file shorter than
// its overlay behaves this way in qemu.
func readPadded(r io.ReaderAt, size int64, p []byte, off int64) error {
	if r == nil || off >= size {
		clear(p)
		return nil
	}
	n := int64(len(p))
	if rem := size - off; n > rem {
		clear(p[rem:])
		n = rem
	}
	if err := readFull(r, p[:n], off); err != nil {
		return fmt.Errorf("backing file at %#x: %w", off, err)
	}
	return nil
}

// concat joins parts end to end: split raw segments and vmdk extents.
type part struct {
	r    io.ReaderAt // nil: zeros
	off  int64       // where the part starts inside r
	size int64
}

type concat struct {
	parts  []part
	starts []int64
	size   int64
}

func newConcat(parts []part) *concat {
	c := &concat{parts: parts}
	for _, p := range parts {
		c.starts = append(c.starts, c.size)
		c.size += p.size
	}
	return c
}

func (c *concat) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	done := 0
	for done < len(p) {
		cur := off + int64(done)
		if cur >= c.size {
			return done, io.EOF
		}
		// binary search for the part holding cur
		lo, hi := 0, len(c.parts)-1
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if c.starts[mid] <= cur {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		pt := c.parts[lo]
		in := cur - c.starts[lo]
		n := min(int64(len(p)-done), pt.size-in)
		buf := p[done : done+int(n)]
		if pt.r == nil {
			clear(buf)
		} else if err := readFull(pt.r, buf, pt.off+in); err != nil {
			return done, fmt.Errorf("part %d at %#x: %w", lo, pt.off+in, err)
		}
		done += int(n)
	}
	return done, nil
}
