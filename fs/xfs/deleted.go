package xfs

import (
	"encoding/binary"
	"fmt"

	"github.com/coldcase-dfir/coldcase/fs"
)

// Inode B+tree (xfs_format.h): which inodes of each allocated 64-inode
// chunk are free.
const (
	agiMagic   = 0x58414749 // "XAGI"
	inobtMagic = 0x49414254 // "IABT"
	inob3Magic = 0x49414233 // "IAB3"

	maxInobtDepth = 8
)

var _ fs.DeletedLister = (*FS)(nil)

// Deleted lists inodes the inode B+trees mark free that still carry
// metadata: XFS clears the mode, size and extent count of a freed inode
// but leaves its owner and times, so these are files that existed and were
// deleted. Their names are gone; they are listed as
// "$OrphanFiles/OrphanFile-<inode>". Never-used inodes (all times zero)
// are skipped.
func (x *FS) Deleted() ([]fs.DeletedEntry, error) {
	var out []fs.DeletedEntry
	for agno := uint32(0); agno < x.sb.agCount; agno++ {
		err := x.freeInodes(agno, func(ino uint64) {
			off, err := x.sb.inodeLoc(ino)
			if err != nil {
				return
			}
			raw, err := x.cache.get(off, int(x.sb.inodeSize))
			if err != nil {
				return
			}
			ip, err := parseInode(x.sb, ino, off, raw)
			if err != nil || allZero(raw[32:56]) {
				return
			}
			st := x.stat(ip)
			st.Deleted = true
			out = append(out, fs.DeletedEntry{Path: fmt.Sprintf("$OrphanFiles/OrphanFile-%d", ino), Stat: *st})
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// freeInodes calls fn for every inode the AG's inode B+tree marks free
// inside an allocated chunk.
func (x *FS) freeInodes(agno uint32, fn func(ino uint64)) error {
	be := binary.BigEndian
	sb := x.sb
	agStart := int64(agno) * int64(sb.agBlocks) << sb.blockLog
	agiOff := agStart + 2*int64(sb.sectSize)
	agi, err := x.cache.get(agiOff, int(sb.sectSize))
	if err != nil {
		return fmt.Errorf("xfs: AGI %d at %#x: %w", agno, agiOff, err)
	}
	if m := be.Uint32(agi); m != agiMagic {
		return fmt.Errorf("xfs: AGI %d at %#x: magic %#x", agno, agiOff, m)
	}
	root, levels := be.Uint32(agi[20:]), be.Uint32(agi[24:])
	if levels == 0 || levels > maxInobtDepth {
		return fmt.Errorf("xfs: AGI %d at %#x: inode btree of %d levels", agno, agiOff, levels)
	}
	hdr, magic := 16, uint32(inobtMagic)
	if sb.v5() {
		hdr, magic = 56, inob3Magic
	}
	sparse := sb.v5() && sb.incompat&incompatSpinodes != 0
	seen := map[uint32]bool{}
	var walk func(bno uint32, level int) error
	walk = func(bno uint32, level int) error {
		if bno == 0 || bno >= sb.agBlocks || seen[bno] {
			return fmt.Errorf("xfs: AG %d inode btree: bad or repeated block %d", agno, bno)
		}
		seen[bno] = true
		off := agStart + int64(bno)<<sb.blockLog
		b, err := x.cache.get(off, int(sb.blockSize))
		if err != nil {
			return fmt.Errorf("xfs: AG %d inode btree block at %#x: %w", agno, off, err)
		}
		if m := be.Uint32(b); m != magic {
			return fmt.Errorf("xfs: AG %d inode btree block at %#x: magic %#x", agno, off, m)
		}
		if got := int(be.Uint16(b[4:])); got != level {
			return fmt.Errorf("xfs: AG %d inode btree block at %#x: level %d, expected %d", agno, off, got, level)
		}
		n := int(be.Uint16(b[6:]))
		if level > 0 {
			max := (len(b) - hdr) / 8
			if n > max {
				return fmt.Errorf("xfs: AG %d inode btree block at %#x: %d records", agno, off, n)
			}
			for i := 0; i < n; i++ {
				if err := walk(be.Uint32(b[hdr+max*4+i*4:]), level-1); err != nil {
					return err
				}
			}
			return nil
		}
		if n > (len(b)-hdr)/16 {
			return fmt.Errorf("xfs: AG %d inode btree block at %#x: %d records", agno, off, n)
		}
		for i := 0; i < n; i++ {
			r := b[hdr+i*16:]
			start := uint64(be.Uint32(r))
			var hole uint16
			if sparse {
				hole = be.Uint16(r[4:])
			}
			free := be.Uint64(r[8:])
			for j := uint64(0); j < 64; j++ {
				if free&(1<<j) != 0 && hole&(1<<(j/4)) == 0 {
					fn(uint64(agno)<<sb.inoBits() | (start + j))
				}
			}
		}
		return nil
	}
	return walk(root, int(levels)-1)
}
