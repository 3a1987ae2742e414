package ext4

import (
	"encoding/binary"
	"fmt"
)

// Directory entry file types (ext4_dir_entry_2.file_type).
const (
	ftUnknown = 0
	ftReg     = 1
	ftDir     = 2
	ftChr     = 3
	ftBlk     = 4
	ftFifo    = 5
	ftSock    = 6
	ftSymlink = 7
)

// dirent is one directory entry. Deleted entries are those found in the
// slack after a live entry's name (see parseDirBlock).
type dirent struct {
	Name    []byte
	Ino     uint32
	Type    uint8
	Deleted bool
}

// recLen decodes rec_len, which for 64 KiB blocks carries bit 16 in its low bits.
func (f *FS) recLen(v uint16) int {
	if f.bs < 65536 {
		return int(v)
	}
	if v == 65535 || v == 0 {
		return 65536
	}
	return int(v&65532) | int(v&3)<<16
}

// parseDirBlock calls fn for each entry of one directory block (or inline
// area) b found at volume offset at. With slack it also reports the
// deleted entries still readable in the gaps after live names; those are
// a best effort and never cause an error. Entries with inode 0 (unused,
// htree index nodes, checksum tails) are skipped.
func (f *FS) parseDirBlock(b []byte, at int64, dirIno uint64, slack bool, fn func(dirent) error) error {
	le := binary.LittleEndian
	filetype := f.sb.FeatureIncompat&incompatFiletype != 0
	for p := 0; p < len(b); {
		if p+8 > len(b) {
			return fmt.Errorf("directory inode %d: entry at %#x: %d bytes left, need 8", dirIno, at+int64(p), len(b)-p)
		}
		ino := le.Uint32(b[p:])
		rl := f.recLen(le.Uint16(b[p+4:]))
		nl := int(b[p+6])
		typ := b[p+7]
		if !filetype {
			nl = int(le.Uint16(b[p+6:]))
			typ = ftUnknown
		}
		if rl < 8+nl || rl&3 != 0 || rl > len(b)-p {
			return fmt.Errorf("directory inode %d: entry at %#x: bad rec_len %d (name %d bytes, %d left in block)", dirIno, at+int64(p), rl, nl, len(b)-p)
		}
		if ino != 0 {
			if uint64(ino) > uint64(f.sb.InodesCount) {
				return fmt.Errorf("directory inode %d: entry at %#x: inode %d out of range (1..%d)", dirIno, at+int64(p), ino, f.sb.InodesCount)
			}
			if nl == 0 {
				return fmt.Errorf("directory inode %d: entry at %#x: empty name", dirIno, at+int64(p))
			}
			if err := fn(dirent{Name: b[p+8 : p+8+nl], Ino: ino, Type: typ}); err != nil {
				return err
			}
		}
		if slack {
			f.scanSlack(b[p:p+rl], (8+nl+3)&^3, filetype, fn)
		}
		p += rl
	}
	return nil
}

// scanSlack looks for deleted entries in e[from:], the room a live entry's
// rec_len covers beyond its own name. When the kernel removes an entry it
// extends the previous entry's rec_len over it, leaving its bytes here.
func (f *FS) scanSlack(e []byte, from int, filetype bool, fn func(dirent) error) {
	le := binary.LittleEndian
	for q := from; q+12 <= len(e); {
		ino := le.Uint32(e[q:])
		rl := int(le.Uint16(e[q+4:]))
		nl := int(e[q+6])
		typ := e[q+7]
		if !filetype {
			typ = ftUnknown
		}
		ok := ino != 0 && uint64(ino) <= uint64(f.sb.InodesCount) && nl > 0 && q+8+nl <= len(e) &&
			rl >= 8+nl && rl&3 == 0 && typ <= ftSymlink
		if ok {
			name := e[q+8 : q+8+nl]
			for _, c := range name {
				if c == 0 || c == '/' {
					ok = false
					break
				}
			}
			if ok {
				fn(dirent{Name: name, Ino: ino, Type: typ, Deleted: true})
				q += (8 + nl + 3) &^ 3
				continue
			}
		}
		q += 4
	}
}

// readDir calls fn for every entry of directory in, block by block (for
// htree directories the index blocks look like empty entries and are
// skipped, so a linear read lists every leaf).
func (f *FS) readDir(in *Inode, slack bool, fn func(dirent) error) error {
	if in.Flags&flagInlineData != 0 {
		return f.readInlineDir(in, slack, fn)
	}
	runs, err := f.blockRuns(in)
	if err != nil {
		return err
	}
	nblocks := (in.Size + uint64(f.bs) - 1) / uint64(f.bs)
	for _, r := range runs {
		if r.Unwritten {
			continue
		}
		for i := uint64(0); i < r.Len && r.Logical+i < nblocks; i++ {
			off := int64(r.Physical+i) * f.bs
			b, err := f.cache.readMeta(off, f.bs)
			if err != nil {
				return fmt.Errorf("directory inode %d: block %d: %w", in.Num, r.Physical+i, err)
			}
			if err := f.parseDirBlock(b, off, in.Num, slack, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// readInlineDir lists an inline_data directory: i_block starts with the
// parent's inode number, followed by entries; more may follow in the
// system.data xattr.
func (f *FS) readInlineDir(in *Inode, slack bool, fn func(dirent) error) error {
	parent := binary.LittleEndian.Uint32(in.Block[:4])
	if parent == 0 || uint64(parent) > uint64(f.sb.InodesCount) {
		return fmt.Errorf("directory inode %d at %#x: inline parent inode %d out of range", in.Num, in.Offset, parent)
	}
	if err := f.parseDirBlock(in.Block[4:], in.Offset+0x2C, in.Num, slack, fn); err != nil {
		return err
	}
	x, err := f.xattrs(in)
	if err != nil {
		return err
	}
	if more := x["system.data"]; len(more) > 0 {
		return f.parseDirBlock(more, in.Offset, in.Num, slack, fn)
	}
	return nil
}
