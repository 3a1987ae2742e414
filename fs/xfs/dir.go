package xfs

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// Directory formats (xfs_da_format.h).
const (
	dirBlockMagic  = 0x58443242 // "XD2B": single-block directory, v4
	dirDataMagic   = 0x58443244 // "XD2D": data block of a leaf/node directory, v4
	dir3BlockMagic = 0x58444233 // "XDB3"
	dir3DataMagic  = 0x58444433 // "XDD3"

	// dirLeafOffset is where leaf and free-index blocks start in a
	// directory's logical address space; only data blocks lie below it.
	dirLeafOffset = 32 << 30

	// maxDirEntries bounds one directory listing held in memory.
	maxDirEntries = 2 << 20

	freeTag = 0xffff
)

// dirent is one name in a directory. ftype is the XFS file type byte
// (0 when the filesystem does not record it).
type dirent struct {
	name  string
	ino   uint64
	ftype uint8
}

// readDir lists a directory's entries except "." and "..", in on-disk order.
func (x *FS) readDir(ip *inode) ([]dirent, error) {
	if !ip.isDir() {
		return nil, ip.errorf("not a directory")
	}
	switch ip.format {
	case fmtLocal:
		if ip.size > int64(len(ip.dfork)) {
			return nil, ip.errorf("short-form directory size %d exceeds fork (%d bytes)", ip.size, len(ip.dfork))
		}
		ents, err := parseShortformDir(ip.dfork[:ip.size], x.sb.hasFtype())
		if err != nil {
			return nil, ip.errorf("short-form directory: %v", err)
		}
		return ents, nil
	case fmtExtents, fmtBtree:
	default:
		return nil, ip.errorf("directory with data fork format %d", ip.format)
	}
	exts, err := x.forkExtents(ip, false)
	if err != nil {
		return nil, err
	}
	dbs := uint64(1) << x.sb.dirBlkLog // fs blocks per directory block
	// Data blocks lie below the leaf offset and, as XFS keeps di_size at
	// the end of the last data block, below the size too.
	leaf := uint64(dirLeafOffset) >> x.sb.blockLog
	if sz := (uint64(ip.size) + uint64(x.sb.blockSize) - 1) >> x.sb.blockLog; sz < leaf {
		leaf = sz
	}
	buf := make([]byte, x.sb.dirBlkSize())
	var ents []dirent
	// A forged map could point many directory blocks at one valid block
	// and make a small image list billions of names; each volume block
	// may serve once.
	if err := physicallyDisjoint(exts, leaf); err != nil {
		return nil, ip.errorf("directory: %v", err)
	}
	next := uint64(0) // first directory block not yet read, in fs blocks
	for _, e := range exts {
		if e.off >= leaf {
			break
		}
		if e.unwritten {
			return nil, ip.errorf("directory has an unwritten extent at block %d", e.off)
		}

		start := e.off &^ (dbs - 1)
		if start < next {
			start = next
		}
		end := min(e.off+e.count, leaf)
		for db := start; db < end; db += dbs {
			off := int64(db) << x.sb.blockLog
			if err := x.readMapped(exts, buf, off); err != nil {
				return nil, ip.errorf("directory block %d: %v", db, err)
			}
			ents, err = parseDirBlock(buf, ents, x.sb.v5(), x.sb.hasFtype(), ip.ino)
			if err != nil {
				return nil, ip.errorf("directory block %d (logical offset %#x): %v", db, off, err)
			}
			next = db + dbs
		}
	}
	return ents, nil
}

// physicallyDisjoint checks that the extents below logical block end
// (sorted by logical offset) do not share volume blocks.
func physicallyDisjoint(exts []extent, end uint64) error {
	var ph []extent
	for _, e := range exts {
		if e.off >= end {
			break
		}
		ph = append(ph, e)
	}
	slices.SortFunc(ph, func(a, b extent) int { return cmp.Compare(a.lin, b.lin) })
	for i := 1; i < len(ph); i++ {
		if ph[i-1].lin+ph[i-1].count > ph[i].lin {
			return fmt.Errorf("volume block %d mapped twice", ph[i].lin)
		}
	}
	return nil
}

// parseShortformDir decodes a directory stored in the inode itself.
func parseShortformDir(b []byte, ftype bool) ([]dirent, error) {
	if len(b) < 6 {
		return nil, fmt.Errorf("header truncated (%d bytes)", len(b))
	}
	count := int(b[0])
	inoLen := 4
	if b[1] != 0 {
		inoLen = 8
	}
	pos := 2 + inoLen
	if pos > len(b) {
		return nil, fmt.Errorf("header truncated (%d bytes)", len(b))
	}
	ents := make([]dirent, 0, count)
	for i := 0; i < count; i++ {
		if pos+3 > len(b) {
			return nil, fmt.Errorf("entry %d at %#x: truncated", i, pos)
		}
		n := int(b[pos])
		need := 3 + n + inoLen
		if ftype {
			need++
		}
		if n == 0 || pos+need > len(b) {
			return nil, fmt.Errorf("entry %d at %#x: name length %d overruns %d bytes", i, pos, n, len(b))
		}
		d := dirent{name: string(b[pos+3 : pos+3+n])}
		p := pos + 3 + n
		if ftype {
			d.ftype = b[p]
			p++
		}
		if inoLen == 8 {
			d.ino = binary.BigEndian.Uint64(b[p:])
		} else {
			d.ino = uint64(binary.BigEndian.Uint32(b[p:]))
		}
		ents = append(ents, d)
		pos += need
	}
	return ents, nil
}

// parseDirBlock appends the entries of one directory data block ("XD2B",
// "XD2D", "XDB3" or "XDD3") to ents.
func parseDirBlock(b []byte, ents []dirent, v5, ftype bool, owner uint64) ([]dirent, error) {
	be := binary.BigEndian
	if len(b) < 64 {
		return nil, fmt.Errorf("block of %d bytes", len(b))
	}
	magic := be.Uint32(b)
	hdr := 16
	if v5 {
		hdr = 64
		if magic != dir3BlockMagic && magic != dir3DataMagic {
			return nil, fmt.Errorf("magic %#x", magic)
		}
		if got := be.Uint64(b[40:]); got != owner {
			return nil, fmt.Errorf("owner %d", got)
		}
	} else if magic != dirBlockMagic && magic != dirDataMagic {
		return nil, fmt.Errorf("magic %#x", magic)
	}
	end := len(b)
	if magic == dirBlockMagic || magic == dir3BlockMagic {
		// A single-block directory keeps its hash leaf and a tail
		// (count, stale) at the end of the block.
		count := uint64(be.Uint32(b[len(b)-8:]))
		if count > uint64(len(b)) || len(b)-8-int(count)*8 < hdr {
			return nil, fmt.Errorf("block tail count %d too large", count)
		}
		end = len(b) - 8 - int(count)*8
	}
	for pos := hdr; pos < end; {
		if end-pos < 8 {
			return nil, fmt.Errorf("entry at %#x: truncated", pos)
		}
		if be.Uint16(b[pos:]) == freeTag {
			n := int(be.Uint16(b[pos+2:]))
			if n < 8 || n%8 != 0 || pos+n > end {
				return nil, fmt.Errorf("free space at %#x: bad length %d", pos, n)
			}
			pos += n
			continue
		}
		if end-pos < 16 {
			return nil, fmt.Errorf("entry at %#x: truncated", pos)
		}
		n := int(b[pos+8])
		size := 8 + 1 + n + 2
		if ftype {
			size++
		}
		size = (size + 7) &^ 7
		if n == 0 || pos+size > end {
			return nil, fmt.Errorf("entry at %#x: name length %d overruns the block", pos, n)
		}
		name := b[pos+9 : pos+9+n]
		if !(n == 1 && name[0] == '.') && !(n == 2 && name[0] == '.' && name[1] == '.') {
			if len(ents) >= maxDirEntries {
				return nil, fmt.Errorf("more than %d entries", maxDirEntries)
			}
			d := dirent{name: string(name), ino: be.Uint64(b[pos:])}
			if ftype {
				d.ftype = b[pos+9+n]
			}
			ents = append(ents, d)
		}
		pos += size
	}
	return ents, nil
}
