package rpmdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Berkeley DB hash file layout (db_page.h). rpm ≤ 4.15 kept Packages as
// a hash database: key = record number (native-endian uint32), value =
// header blob, almost always on overflow pages since headers are larger
// than a page.
const (
	bdbHashMagic   = 0x061561
	bdbPageHdr     = 26
	pInvalid       = 0
	pHashUnsorted  = 2
	pOverflow      = 7
	pHashMeta      = 8
	pHash          = 13
	hKeyData       = 1
	hOffPage       = 3
	dbmetaChecksum = 0x01
	maxBDBPages    = 1 << 22 // 16 GiB of 4 KiB pages
)

// ErrBDB is wrapped by Berkeley DB format errors.
var ErrBDB = errors.New("berkeley db")

// WalkBDB calls fn for every key/value pair on the hash pages of the
// Berkeley DB hash file in r (size bytes, name labels errors), with the
// key read as rpm's record number. Pages are read in file order rather
// than bucket by bucket, so a damaged bucket chain loses no records; the
// same key seen twice (a page left stale) is passed once. Values longer
// than MaxHeaderSize and broken overflow chains are reported through bad
// and skipped; only an unreadable meta page stops the walk.
func WalkBDB(r io.ReaderAt, size int64, name string, fn func(key uint32, val []byte, off int64) error, bad func(error)) error {
	var meta [72]byte
	if size < 512 {
		return fmt.Errorf("%w: %s: %d bytes, too short for a meta page", ErrBDB, name, size)
	}
	if _, err := r.ReadAt(meta[:], 0); err != nil {
		return fmt.Errorf("%w: %s: meta page: %v", ErrBDB, name, err)
	}
	var bo binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint32(meta[12:]) == bdbHashMagic:
		bo = binary.LittleEndian
	case binary.BigEndian.Uint32(meta[12:]) == bdbHashMagic:
		bo = binary.BigEndian
	default:
		return fmt.Errorf("%w: %s: no hash magic at offset 0xc (not a Berkeley DB hash file)", ErrBDB, name)
	}
	ps := bo.Uint32(meta[20:])
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return fmt.Errorf("%w: %s: page size %d at offset 0x14 invalid", ErrBDB, name, ps)
	}
	if meta[24] != 0 {
		return fmt.Errorf("%w: %s: encrypted database (algorithm %d at offset 0x18)", ErrBDB, name, meta[24])
	}
	if meta[25] != pHashMeta {
		return fmt.Errorf("%w: %s: meta page type %d at offset 0x19, want %d", ErrBDB, name, meta[25], pHashMeta)
	}
	hdr := uint32(bdbPageHdr)
	if meta[26]&dbmetaChecksum != 0 {
		hdr += 6 // PG_CHKSUM follows the page header
	}
	last := bo.Uint32(meta[32:])
	if n := size / int64(ps); int64(last) >= n {
		bad(fmt.Errorf("%w: %s: last page %d past the file's %d pages", ErrBDB, name, last, n))
		last = uint32(n - 1)
	}
	last = min(last, maxBDBPages)
	w := &bdbWalker{r: r, name: name, bo: bo, ps: ps, hdr: hdr, last: last,
		page: make([]byte, ps), ovf: make([]byte, ps), budget: 2*int64(last) + 16}
	seen := map[uint32]bool{}
	for pg := uint32(1); pg <= last; pg++ {
		off := int64(pg) * int64(ps)
		if _, err := r.ReadAt(w.page, off); err != nil {
			return fmt.Errorf("%w: %s: page %d at offset %#x: %v", ErrBDB, name, pg, off, err)
		}
		if t := w.page[25]; t != pHash && t != pHashUnsorted {
			continue
		}
		if got := bo.Uint32(w.page[8:]); got != pg {
			bad(fmt.Errorf("%w: %s: page %d at offset %#x says it is page %d; skipped", ErrBDB, name, pg, off, got))
			continue
		}
		n := uint32(bo.Uint16(w.page[20:]))
		if hdr+2*n > ps {
			bad(fmt.Errorf("%w: %s: page %d at offset %#x: %d entries overflow the page; skipped", ErrBDB, name, pg, off, n))
			continue
		}
		for i := uint32(0); i+1 < n; i += 2 {
			k, err := w.item(pg, i, n, false)
			if err != nil {
				bad(err)
				continue
			}
			if len(k) != 4 {
				continue // not an rpm record key
			}
			key := bo.Uint32(k)
			if key == 0 || seen[key] {
				continue // key 0 holds rpm's next record number
			}
			v, err := w.item(pg, i+1, n, true)
			if err != nil {
				bad(err)
				continue
			}
			seen[key] = true
			if err := fn(key, v, off+int64(bo.Uint16(w.page[hdr+2*(i+1):]))); err != nil {
				return err
			}
		}
	}
	return nil
}

type bdbWalker struct {
	r         io.ReaderAt
	name      string
	bo        binary.ByteOrder
	ps, hdr   uint32
	last      uint32
	page, ovf []byte
	// budget counts down the overflow pages still to be read: items of a
	// hostile file could share one long chain and make the walk
	// quadratic; BerkeleyDB never shares overflow pages.
	budget int64
}

// item returns entry i of n on the current page; copy makes inline data
// a copy the caller may keep.
func (w *bdbWalker) item(pg, i, n uint32, keep bool) ([]byte, error) {
	p := w.page
	start := uint32(w.bo.Uint16(p[w.hdr+2*i:]))
	end := w.ps
	if i > 0 {
		end = uint32(w.bo.Uint16(p[w.hdr+2*(i-1):]))
	}
	where := func() string {
		return fmt.Sprintf("%s: page %d entry %d at offset %#x", w.name, pg, i, int64(pg)*int64(w.ps)+int64(start))
	}
	if start < w.hdr+2*n || start >= end || end > w.ps {
		return nil, fmt.Errorf("%w: %s: item bounds %#x..%#x invalid", ErrBDB, where(), start, end)
	}
	it := p[start:end]
	switch it[0] {
	case hKeyData:
		if keep {
			return append([]byte(nil), it[1:]...), nil
		}
		return it[1:], nil
	case hOffPage:
		if len(it) < 12 {
			return nil, fmt.Errorf("%w: %s: off-page item of %d bytes", ErrBDB, where(), len(it))
		}
		return w.overflow(w.bo.Uint32(it[4:]), w.bo.Uint32(it[8:]), where)
	}
	return nil, fmt.Errorf("%w: %s: item type %d not supported", ErrBDB, where(), it[0])
}

// overflow reads tlen bytes from the overflow chain starting at pg.
func (w *bdbWalker) overflow(pg, tlen uint32, where func() string) ([]byte, error) {
	if tlen > MaxHeaderSize {
		return nil, fmt.Errorf("%w: %s: off-page item of %d bytes exceeds the %d limit", ErrBDB, where(), tlen, MaxHeaderSize)
	}
	out := make([]byte, 0, min(tlen, 1<<20))
	seen := map[uint32]bool{}
	for uint32(len(out)) < tlen {
		if pg == 0 || pg > w.last {
			return nil, fmt.Errorf("%w: %s: overflow page %d out of range (1..%d) with %d of %d bytes read", ErrBDB, where(), pg, w.last, len(out), tlen)
		}
		if seen[pg] {
			return nil, fmt.Errorf("%w: %s: overflow chain cycles at page %d", ErrBDB, where(), pg)
		}
		seen[pg] = true
		if w.budget--; w.budget < 0 {
			return nil, fmt.Errorf("%w: %s: overflow pages read more often than the file has pages (shared chains) at page %d", ErrBDB, where(), pg)
		}
		off := int64(pg) * int64(w.ps)
		if _, err := w.r.ReadAt(w.ovf, off); err != nil {
			return nil, fmt.Errorf("%w: %s: overflow page %d at offset %#x: %v", ErrBDB, where(), pg, off, err)
		}
		if w.ovf[25] != pOverflow {
			return nil, fmt.Errorf("%w: %s: overflow page %d at offset %#x has type %d", ErrBDB, where(), pg, off, w.ovf[25])
		}
		l := uint32(w.bo.Uint16(w.ovf[22:])) // hf_offset: bytes used on this page
		if l == 0 || w.hdr+l > w.ps || uint32(len(out))+l > tlen {
			return nil, fmt.Errorf("%w: %s: overflow page %d at offset %#x holds %d bytes, %d of %d wanted", ErrBDB, where(), pg, off, l, tlen-uint32(len(out)), tlen)
		}
		out = append(out, w.ovf[w.hdr:w.hdr+l]...)
		pg = w.bo.Uint32(w.ovf[16:])
	}
	return out, nil
}
