package ext4

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Run maps Len logical blocks of a file starting at Logical to the
// physical blocks starting at Physical. Unwritten runs (preallocated
// extents) read as zeros. Blocks a file has no run for are holes.
type Run struct {
	Logical   uint64
	Physical  uint64
	Len       uint64
	Unwritten bool
}

const (
	extentMagic    = 0xF30A
	maxExtentDepth = 5 // EXT4_MAX_EXTENT_DEPTH in the kernel
	// maxRuns bounds the memory one file's block map may take (24 MiB); a
	// real file this fragmented is far beyond anything ext4 produces.
	maxRuns = 1 << 20
)

type runList struct {
	runs []Run
}

// add appends a run, merging it with the previous one when both are
// contiguous on disk and in the file, so reads coalesce.
func (l *runList) add(r Run) error {
	if n := len(l.runs); n > 0 {
		p := &l.runs[n-1]
		if p.Unwritten == r.Unwritten && p.Logical+p.Len == r.Logical && p.Physical+p.Len == r.Physical {
			p.Len += r.Len
			return nil
		}
	}
	if len(l.runs) >= maxRuns {
		return fmt.Errorf("more than %d runs", maxRuns)
	}
	l.runs = append(l.runs, r)
	return nil
}

// extentRuns walks an inode's extent tree. Each tree block may be visited
// once and each level must sit exactly one below its parent, so a tree that
// points back into itself is an error, not a loop.
func (f *FS) extentRuns(in *Inode) ([]Run, error) {
	w := extentWalk{f: f, ino: in.Num, seen: map[uint64]bool{}}
	root := in.Block // a copy, so in itself need not escape
	hdr, err := parseExtentHeader(root[:], len(root))
	if err != nil {
		return nil, fmt.Errorf("inode %d at %#x: extent root: %w", in.Num, in.Offset, err)
	}
	if hdr.depth > maxExtentDepth {
		return nil, fmt.Errorf("inode %d at %#x: extent tree depth %d exceeds %d", in.Num, in.Offset, hdr.depth, maxExtentDepth)
	}
	if err := w.node(root[:], hdr, in.Offset+0x28); err != nil {
		return nil, err
	}
	return w.list.runs, nil
}

type extentHeader struct {
	entries, max, depth uint16
}

func parseExtentHeader(b []byte, room int) (extentHeader, error) {
	le := binary.LittleEndian
	if len(b) < 12 {
		return extentHeader{}, fmt.Errorf("short extent header")
	}
	if m := le.Uint16(b); m != extentMagic {
		return extentHeader{}, fmt.Errorf("bad extent magic %#x", m)
	}
	h := extentHeader{entries: le.Uint16(b[2:]), max: le.Uint16(b[4:]), depth: le.Uint16(b[6:])}
	if int(h.entries) > (room-12)/12 || h.entries > h.max {
		return h, fmt.Errorf("%d extent entries do not fit (max %d)", h.entries, h.max)
	}
	return h, nil
}

type extentWalk struct {
	f       *FS
	ino     uint64
	seen    map[uint64]bool
	list    runList
	nextLog uint64 // logical blocks must increase through the leaves
}

func (w *extentWalk) node(b []byte, h extentHeader, at int64) error {
	le := binary.LittleEndian
	f := w.f
	for i := 0; i < int(h.entries); i++ {
		e := b[12+12*i : 24+12*i]
		eoff := at + int64(12+12*i)
		logical := uint64(le.Uint32(e))
		if h.depth == 0 {
			length := uint64(le.Uint16(e[4:]))
			unwritten := false
			if length > 32768 {
				length -= 32768
				unwritten = true
			}
			phys := uint64(le.Uint16(e[6:]))<<32 | uint64(le.Uint32(e[8:]))
			if length == 0 {
				continue
			}
			if logical < w.nextLog {
				return fmt.Errorf("inode %d: extent at %#x: logical block %d overlaps the previous extent", w.ino, eoff, logical)
			}
			if phys+length > f.sb.BlocksCount || phys < uint64(f.sb.FirstDataBlock) {
				return fmt.Errorf("inode %d: extent at %#x: blocks %d+%d past the filesystem's %d blocks", w.ino, eoff, phys, length, f.sb.BlocksCount)
			}
			w.nextLog = logical + length
			if err := w.list.add(Run{Logical: logical, Physical: phys, Len: length, Unwritten: unwritten}); err != nil {
				return fmt.Errorf("inode %d: extent at %#x: %w", w.ino, eoff, err)
			}
			continue
		}
		child := uint64(le.Uint16(e[8:]))<<32 | uint64(le.Uint32(e[4:]))
		if child >= f.sb.BlocksCount || child < uint64(f.sb.FirstDataBlock) {
			return fmt.Errorf("inode %d: extent index at %#x: block %d past the filesystem's %d blocks", w.ino, eoff, child, f.sb.BlocksCount)
		}
		if w.seen[child] {
			return fmt.Errorf("inode %d: extent index at %#x: block %d referenced twice (loop)", w.ino, eoff, child)
		}
		w.seen[child] = true
		coff := int64(child) * f.bs
		cb, err := f.cache.readMeta(coff, f.bs)
		if err != nil {
			return fmt.Errorf("inode %d: extent block %d: %w", w.ino, child, err)
		}
		ch, err := parseExtentHeader(cb, int(f.bs))
		if err != nil {
			return fmt.Errorf("inode %d: extent block %d at %#x: %w", w.ino, child, coff, err)
		}
		if ch.depth != h.depth-1 {
			return fmt.Errorf("inode %d: extent block %d at %#x: depth %d under a node of depth %d", w.ino, child, coff, ch.depth, h.depth)
		}
		if err := w.node(cb, ch, coff); err != nil {
			return err
		}
	}
	return nil
}

// blockRuns maps an inode's blocks through its extent tree, or on ext2/3
// through its indirect blocks.
func (f *FS) blockRuns(in *Inode) ([]Run, error) {
	if in.Flags&flagExtents != 0 {
		return f.extentRuns(in)
	}
	return f.indirectRuns(in)
}

// indirectRuns maps an ext2/3 inode through its direct and 1-, 2- and
// 3-level indirect blocks, up to the blocks i_size needs. An indirect block
// seen twice is an error, which bounds the work by the volume's size.
func (f *FS) indirectRuns(in *Inode) ([]Run, error) {
	w := indirectWalk{f: f, ino: in.Num, seen: map[uint64]bool{}}
	w.limit = (in.Size + uint64(f.bs) - 1) / uint64(f.bs)
	le := binary.LittleEndian
	for i := 0; i < 12 && w.pos < w.limit; i++ {
		if err := w.data(uint64(le.Uint32(in.Block[4*i:])), in.Offset+0x28+int64(4*i)); err != nil {
			return nil, err
		}
	}
	for level := 1; level <= 3 && w.pos < w.limit; level++ {
		ptr := uint64(le.Uint32(in.Block[4*(11+level):]))
		if err := w.indirect(ptr, level, in.Offset+0x28+int64(4*(11+level))); err != nil {
			return nil, err
		}
	}
	return w.list.runs, nil
}

type indirectWalk struct {
	f     *FS
	ino   uint64
	seen  map[uint64]bool
	list  runList
	pos   uint64 // next logical block
	limit uint64
}

func (w *indirectWalk) span(level int) uint64 {
	per := uint64(w.f.bs / 4)
	s := uint64(1)
	for i := 0; i < level; i++ {
		s *= per
	}
	return s
}

func (w *indirectWalk) data(ptr uint64, at int64) error {
	if ptr != 0 {
		if ptr >= w.f.sb.BlocksCount {
			return fmt.Errorf("inode %d: block pointer at %#x: block %d past the filesystem's %d blocks", w.ino, at, ptr, w.f.sb.BlocksCount)
		}
		if err := w.list.add(Run{Logical: w.pos, Physical: ptr, Len: 1}); err != nil {
			return fmt.Errorf("inode %d: block pointer at %#x: %w", w.ino, at, err)
		}
	}
	w.pos++
	return nil
}

func (w *indirectWalk) indirect(ptr uint64, level int, at int64) error {
	if ptr == 0 {
		w.pos += w.span(level)
		return nil
	}
	if ptr >= w.f.sb.BlocksCount {
		return fmt.Errorf("inode %d: indirect pointer at %#x: block %d past the filesystem's %d blocks", w.ino, at, ptr, w.f.sb.BlocksCount)
	}
	if w.seen[ptr] {
		return fmt.Errorf("inode %d: indirect pointer at %#x: block %d referenced twice (loop)", w.ino, at, ptr)
	}
	w.seen[ptr] = true
	off := int64(ptr) * w.f.bs
	b, err := w.f.cache.readMeta(off, w.f.bs)
	if err != nil {
		return fmt.Errorf("inode %d: indirect block %d: %w", w.ino, ptr, err)
	}
	le := binary.LittleEndian
	for i := int64(0); i < w.f.bs/4 && w.pos < w.limit; i++ {
		p := uint64(le.Uint32(b[4*i:]))
		var err error
		if level == 1 {
			err = w.data(p, off+4*i)
		} else {
			err = w.indirect(p, level-1, off+4*i)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// findRun returns the index of the run holding logical block lb, or the
// index of the first run after it (a hole) with ok false.
func findRun(runs []Run, lb uint64) (int, bool) {
	i := sort.Search(len(runs), func(i int) bool { return runs[i].Logical+runs[i].Len > lb })
	return i, i < len(runs) && runs[i].Logical <= lb
}
