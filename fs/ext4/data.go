package ext4

import (
	"errors"
	"fmt"
	"io"
)

// fileData reads an inode's bytes: either inline (inline_data, fast
// symlinks) or through its block map.
type fileData struct {
	f      *FS
	ino    uint64
	size   int64
	inline []byte
	runs   []Run
}

// dataOf prepares reading an inode's contents.
func (f *FS) dataOf(in *Inode) (*fileData, error) {
	d := &fileData{f: f, ino: in.Num, size: int64(in.Size)}
	if d.size < 0 {
		return nil, fmt.Errorf("inode %d at %#x: size %d out of range", in.Num, in.Offset, in.Size)
	}
	switch {
	case in.Flags&flagInlineData != 0:
		b, err := f.inlineBytes(in)
		if err != nil {
			return nil, err
		}
		d.inline = b
	case in.isSymlink() && in.Size < 60 && in.Flags&flagExtents == 0:
		d.inline = append([]byte(nil), in.Block[:in.Size]...)
	case in.Mode&sIFMT == sIFCHR || in.Mode&sIFMT == sIFBLK || in.Mode&sIFMT == sIFIFO || in.Mode&sIFMT == sIFSOCK:
		d.size = 0
	default:
		runs, err := f.blockRuns(in)
		if err != nil {
			return nil, err
		}
		d.runs = runs
	}
	if d.inline != nil && int64(len(d.inline)) < d.size {
		return nil, fmt.Errorf("inode %d at %#x: inline data holds %d of %d bytes", in.Num, in.Offset, len(d.inline), d.size)
	}
	return d, nil
}

// inlineBytes joins i_block with the system.data xattr (inline_data).
func (f *FS) inlineBytes(in *Inode) ([]byte, error) {
	b := make([]byte, 0, 60)
	b = append(b, in.Block[:]...)
	x, err := f.xattrs(in)
	if err != nil {
		return nil, err
	}
	b = append(b, x["system.data"]...)
	if int64(len(b)) > int64(in.Size) {
		b = b[:in.Size]
	}
	return b, nil
}

// maxRead bounds one read of the volume so a file read never allocates
// more than this at once.
const maxRead = 4 << 20

// ReadAt reads file bytes at off. Holes and unwritten extents read as
// zeros; each contiguous stretch of blocks is one read of the volume.
func (d *fileData) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= d.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > d.size-off {
		p = p[:d.size-off]
	}
	if d.inline != nil {
		n := copy(p, d.inline[off:])
		if n < want {
			return n, io.EOF
		}
		return n, nil
	}
	bs := uint64(d.f.bs)
	n := 0
	for n < len(p) {
		pos := uint64(off) + uint64(n)
		lb := pos / bs
		i, ok := findRun(d.runs, lb)
		if !ok || d.runs[i].Unwritten {
			// hole: zeros up to the next run
			end := uint64(len(p) - n)
			if i < len(d.runs) && !ok {
				if gap := d.runs[i].Logical*bs - pos; gap < end {
					end = gap
				}
			} else if ok {
				r := d.runs[i]
				if gap := (r.Logical+r.Len)*bs - pos; gap < end {
					end = gap
				}
			}
			clear(p[n : n+int(end)])
			n += int(end)
			continue
		}
		r := d.runs[i]
		phys := int64((r.Physical+(lb-r.Logical))*bs + pos%bs)
		m := int64((r.Logical+r.Len)*bs - pos)
		if m > int64(len(p)-n) {
			m = int64(len(p) - n)
		}
		got, err := d.f.r.ReadAt(p[n:n+int(m)], phys)
		n += got
		if got < int(m) {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return n, fmt.Errorf("inode %d: data at %#x: %w", d.ino, phys, err)
		}
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}
