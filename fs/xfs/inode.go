package xfs

import (
	"encoding/binary"
	"fmt"
	"sort"
	"time"
)

// On-disk inode formats and flags (xfs_format.h).
const (
	inodeMagic = 0x494e // "IN"

	fmtDev     = 0
	fmtLocal   = 1
	fmtExtents = 2
	fmtBtree   = 3

	diflagRealtime = 0x0001
	diflag2Bigtime = 0x0008
	diflag2Nrext64 = 0x0010

	bmapMagic  = 0x424d4150 // "BMAP"
	bmap3Magic = 0x424d4133 // "BMA3"

	// maxBmbtDepth bounds B+tree descent; XFS itself never builds more
	// than 9 levels for the largest possible file.
	maxBmbtDepth = 10
	// maxExtents caps the extent list of one fork so a hostile tree cannot
	// make memory grow without bound (2M extents ≈ 64 MiB).
	maxExtents = 2 << 20

	bigtimeEpochOffset = 1 << 31
)

// inode is a decoded inode core plus its two forks as raw bytes.
type inode struct {
	ino       uint64
	off       int64 // byte offset on the volume, for error messages
	mode      uint16
	version   uint8
	format    uint8
	aformat   uint8
	nlink     uint32
	uid, gid  uint32
	atime     time.Time
	mtime     time.Time
	ctime     time.Time
	crtime    time.Time
	size      int64
	nblocks   uint64
	nextents  uint64
	anextents uint64
	flags     uint16
	flags2    uint64
	dfork     []byte
	afork     []byte // nil without an attribute fork
}

func (ip *inode) errorf(format string, a ...any) error {
	return fmt.Errorf("xfs: inode %d at %#x: %s", ip.ino, ip.off, fmt.Sprintf(format, a...))
}

func (ip *inode) isDir() bool     { return ip.mode&0xf000 == 0x4000 }
func (ip *inode) isReg() bool     { return ip.mode&0xf000 == 0x8000 }
func (ip *inode) isSymlink() bool { return ip.mode&0xf000 == 0xa000 }

// decodeTime reads an 8-byte inode timestamp: seconds and nanoseconds as
// two 32-bit fields, or with bigtime one 64-bit count of nanoseconds since
// 1901-12-13T20:45:52Z.
func decodeTime(b []byte, bigtime bool) time.Time {
	be := binary.BigEndian
	if bigtime {
		v := be.Uint64(b)
		return time.Unix(int64(v/1e9)-bigtimeEpochOffset, int64(v%1e9)).UTC()
	}
	return time.Unix(int64(int32(be.Uint32(b))), int64(be.Uint32(b[4:]))).UTC()
}

// parseInode decodes an on-disk inode of sb.inodeSize bytes.
func parseInode(sb *superblock, ino uint64, off int64, b []byte) (*inode, error) {
	be := binary.BigEndian
	ip := &inode{ino: ino, off: off}
	if len(b) < int(sb.inodeSize) {
		return nil, ip.errorf("short inode (%d bytes)", len(b))
	}
	b = b[:sb.inodeSize]
	if m := be.Uint16(b); m != inodeMagic {
		return nil, ip.errorf("bad magic %#04x", m)
	}
	ip.mode = be.Uint16(b[2:])
	ip.version = b[4]
	ip.format = b[5]
	lit := 100
	switch ip.version {
	case 1:
		ip.nlink = uint32(be.Uint16(b[6:]))
	case 2:
		ip.nlink = be.Uint32(b[16:])
	case 3:
		if !sb.v5() {
			return nil, ip.errorf("v3 inode on a v4 filesystem")
		}
		ip.nlink = be.Uint32(b[16:])
		lit = 176
	default:
		return nil, ip.errorf("unknown inode version %d", ip.version)
	}
	if sb.v5() && ip.version != 3 {
		return nil, ip.errorf("v%d inode on a v5 filesystem", ip.version)
	}
	ip.uid = be.Uint32(b[8:])
	ip.gid = be.Uint32(b[12:])
	if ip.version == 3 {
		ip.flags2 = be.Uint64(b[120:])
		if got := be.Uint64(b[152:]); got != ino {
			return nil, ip.errorf("di_ino says %d", got)
		}
	}
	big := ip.flags2&diflag2Bigtime != 0
	ip.atime = decodeTime(b[32:], big)
	ip.mtime = decodeTime(b[40:], big)
	ip.ctime = decodeTime(b[48:], big)
	if ip.version == 3 {
		ip.crtime = decodeTime(b[144:], big)
	}
	size := be.Uint64(b[56:])
	if size > 1<<63-1 {
		return nil, ip.errorf("size %d", size)
	}
	ip.size = int64(size)
	ip.nblocks = be.Uint64(b[64:])
	if ip.flags2&diflag2Nrext64 != 0 {
		ip.nextents = be.Uint64(b[24:])
		ip.anextents = uint64(be.Uint32(b[76:]))
	} else {
		ip.nextents = uint64(be.Uint32(b[76:]))
		ip.anextents = uint64(be.Uint16(b[80:]))
	}
	forkoff := int(b[82]) * 8
	ip.aformat = b[83]
	ip.flags = be.Uint16(b[90:])
	litSize := int(sb.inodeSize) - lit
	ip.dfork = b[lit:]
	if forkoff != 0 {
		if forkoff >= litSize {
			return nil, ip.errorf("forkoff %d beyond literal area %d", forkoff, litSize)
		}
		ip.dfork = b[lit : lit+forkoff]
		ip.afork = b[lit+forkoff:]
	}
	if ip.format > fmtBtree {
		return nil, ip.errorf("unknown data fork format %d", ip.format)
	}
	return ip, nil
}

// extent maps count blocks at logical block off of a fork to the linear
// block lin of the volume. Unwritten (preallocated) extents read as zeros.
type extent struct {
	off       uint64
	lin       uint64
	count     uint64
	unwritten bool
}

// decodeExtent unpacks a 128-bit bmbt record: 1 flag bit, 54 bits of
// logical offset, 52 bits of filesystem block, 21 bits of length.
func decodeExtent(b []byte) (off, fsb, count uint64, unwritten bool) {
	l0 := binary.BigEndian.Uint64(b)
	l1 := binary.BigEndian.Uint64(b[8:])
	unwritten = l0>>63 != 0
	off = (l0 & (1<<63 - 1)) >> 9
	fsb = (l0&0x1ff)<<43 | l1>>21
	count = l1 & (1<<21 - 1)
	return
}

// forkExtents returns the sorted, validated extent map of the data fork
// (attr false) or the attribute fork.
func (x *FS) forkExtents(ip *inode, attr bool) ([]extent, error) {
	format, fork, n, which := ip.format, ip.dfork, ip.nextents, "data"
	if attr {
		format, fork, n, which = ip.aformat, ip.afork, ip.anextents, "attr"
	}
	var raw [][]byte
	switch format {
	case fmtExtents:
		if n > uint64(len(fork)/16) {
			return nil, ip.errorf("%s fork: %d extents do not fit in %d bytes", which, n, len(fork))
		}
		for i := uint64(0); i < n; i++ {
			raw = append(raw, fork[i*16:i*16+16])
		}
	case fmtBtree:
		var err error
		if raw, err = x.bmbtRecords(ip, fork, which); err != nil {
			return nil, err
		}
	case fmtLocal:
		return nil, nil
	default:
		return nil, ip.errorf("%s fork: format %d has no extents", which, format)
	}
	exts := make([]extent, 0, len(raw))
	for _, r := range raw {
		off, fsb, count, unwritten := decodeExtent(r)
		if count == 0 {
			return nil, ip.errorf("%s fork: empty extent at offset %d", which, off)
		}
		if off+count > uint64(1<<63-1)>>x.sb.blockLog {
			return nil, ip.errorf("%s fork: extent offset %d out of range", which, off)
		}
		lin, err := x.sb.linear(fsb, count)
		if err != nil {
			return nil, ip.errorf("%s fork extent at offset %d: %v", which, off, err)
		}
		exts = append(exts, extent{off: off, lin: lin, count: count, unwritten: unwritten})
	}
	sort.Slice(exts, func(i, j int) bool { return exts[i].off < exts[j].off })
	merged := exts[:0]
	for i, e := range exts {
		if i > 0 {
			p := &merged[len(merged)-1]
			if p.off+p.count > e.off {
				return nil, ip.errorf("%s fork: extents overlap at offset %d", which, e.off)
			}
			if p.off+p.count == e.off && p.lin+p.count == e.lin && p.unwritten == e.unwritten && p.count+e.count <= 1<<32 {
				p.count += e.count
				continue
			}
		}
		merged = append(merged, e)
	}
	return merged, nil
}

// bmbtRecords walks a B+tree fork (root in the inode, interior and leaf
// blocks on disk) and returns the raw 16-byte extent records. Levels must
// fall by one per step and no block may be visited twice, so loops and
// shared subtrees are errors rather than hangs.
func (x *FS) bmbtRecords(ip *inode, fork []byte, which string) ([][]byte, error) {
	be := binary.BigEndian
	if len(fork) < 4 {
		return nil, ip.errorf("%s fork: btree root too small", which)
	}
	level := int(be.Uint16(fork))
	numrecs := int(be.Uint16(fork[2:]))
	maxrecs := (len(fork) - 4) / 16
	if level < 1 || level > maxBmbtDepth {
		return nil, ip.errorf("%s fork: btree root level %d", which, level)
	}
	if numrecs > maxrecs {
		return nil, ip.errorf("%s fork: btree root has %d records, room for %d", which, numrecs, maxrecs)
	}
	var recs [][]byte
	seen := map[uint64]bool{}
	var walk func(fsb uint64, level int) error
	walk = func(fsb uint64, level int) error {
		lin, err := x.sb.linear(fsb, 1)
		if err != nil {
			return ip.errorf("%s fork btree: %v", which, err)
		}
		if seen[lin] {
			return ip.errorf("%s fork btree: block %#x reached twice (loop)", which, fsb)
		}
		seen[lin] = true
		boff := int64(lin) << x.sb.blockLog
		b, err := x.block(lin)
		if err != nil {
			return ip.errorf("%s fork btree block at %#x: %v", which, boff, err)
		}
		hdr := 24
		magic := be.Uint32(b)
		if x.sb.v5() {
			hdr = 72
			if magic != bmap3Magic {
				return ip.errorf("%s fork btree block at %#x: magic %#x", which, boff, magic)
			}
			if owner := be.Uint64(b[56:]); owner != ip.ino {
				return ip.errorf("%s fork btree block at %#x: owner %d", which, boff, owner)
			}
		} else if magic != bmapMagic {
			return ip.errorf("%s fork btree block at %#x: magic %#x", which, boff, magic)
		}
		if got := int(be.Uint16(b[4:])); got != level {
			return ip.errorf("%s fork btree block at %#x: level %d, expected %d", which, boff, got, level)
		}
		n := int(be.Uint16(b[6:]))
		max := (len(b) - hdr) / 16
		if n > max {
			return ip.errorf("%s fork btree block at %#x: %d records, room for %d", which, boff, n, max)
		}
		if level == 0 {
			if len(recs)+n > maxExtents {
				return ip.errorf("%s fork btree: more than %d extents", which, maxExtents)
			}
			for i := 0; i < n; i++ {
				recs = append(recs, b[hdr+i*16:hdr+i*16+16])
			}
			return nil
		}
		ptrs := hdr + max*8
		for i := 0; i < n; i++ {
			if err := walk(be.Uint64(b[ptrs+i*8:]), level-1); err != nil {
				return err
			}
		}
		return nil
	}
	ptrs := 4 + maxrecs*8
	for i := 0; i < numrecs; i++ {
		if err := walk(be.Uint64(fork[ptrs+i*8:]), level-1); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// block returns one filesystem block by linear index, through the cache.
func (x *FS) block(lin uint64) ([]byte, error) {
	if lin >= x.sb.dblocks {
		return nil, fmt.Errorf("block %d past the end of the filesystem", lin)
	}
	return x.cache.get(int64(lin)<<x.sb.blockLog, int(x.sb.blockSize))
}

// readInode reads and decodes inode ino.
func (x *FS) readInode(ino uint64) (*inode, error) {
	off, err := x.sb.inodeLoc(ino)
	if err != nil {
		return nil, fmt.Errorf("xfs: %w", err)
	}
	b, err := x.cache.get(off, int(x.sb.inodeSize))
	if err != nil {
		return nil, fmt.Errorf("xfs: inode %d at %#x: %w", ino, off, err)
	}
	return parseInode(x.sb, ino, off, b)
}

// readMapped reads len(p) bytes at byte offset off of a fork through its
// extent map; holes and unwritten extents read as zeros. Physically
// contiguous runs are read with one ReadAt.
func (x *FS) readMapped(exts []extent, p []byte, off int64) error {
	bs := int64(x.sb.blockSize)
	for len(p) > 0 {
		lb := uint64(off / bs)
		i := sort.Search(len(exts), func(i int) bool { return exts[i].off+exts[i].count > lb })
		if i == len(exts) || exts[i].off > lb {
			// Hole up to the next extent (or the rest of p).
			n := int64(len(p))
			if i < len(exts) {
				if gap := int64(exts[i].off)*bs - off; gap < n {
					n = gap
				}
			}
			clear(p[:n])
			p, off = p[n:], off+n
			continue
		}
		e := exts[i]
		n := int64(e.off+e.count)*bs - off
		if n > int64(len(p)) {
			n = int64(len(p))
		}
		if e.unwritten {
			clear(p[:n])
		} else {
			phys := int64(e.lin+(lb-e.off))*bs + off%bs
			if phys+n > x.size {
				return fmt.Errorf("extent at %#x: beyond the end of the volume", phys)
			}
			if _, err := x.r.ReadAt(p[:n], phys); err != nil {
				return fmt.Errorf("read %d bytes at %#x: %w", n, phys, err)
			}
		}
		p, off = p[n:], off+n
	}
	return nil
}
