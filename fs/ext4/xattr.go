package ext4

import (
	"encoding/binary"
	"fmt"
)

const (
	xattrMagic = 0xEA020000
	// maxXattrValue bounds a value kept in another inode (ea_inode); the
	// kernel's own limit is 64 KiB per value.
	maxXattrValue = 1 << 20
)

var xattrPrefix = map[byte]string{
	1: "user.",
	2: "system.posix_acl_access",
	3: "system.posix_acl_default",
	4: "trusted.",
	6: "security.",
	7: "system.",
	8: "system.richacl",
}

// xattrs returns the inode's extended attributes: those stored in the
// inode after i_extra_isize, then those in its external block.
func (f *FS) xattrs(in *Inode) (map[string][]byte, error) {
	var out map[string][]byte
	le := binary.LittleEndian
	if len(in.extra) >= 4 && le.Uint32(in.extra) == xattrMagic {
		base := in.extra[4:]
		at := in.Offset + int64(f.sb.InodeSize) - int64(len(base))
		if err := f.parseXattrEntries(in, base, base, at, &out); err != nil {
			return out, err
		}
	}
	if in.FileACL != 0 {
		if in.FileACL >= f.sb.BlocksCount {
			return out, fmt.Errorf("inode %d at %#x: xattr block %d past the filesystem's %d blocks", in.Num, in.Offset, in.FileACL, f.sb.BlocksCount)
		}
		off := int64(in.FileACL) * f.bs
		b, err := f.cache.readMeta(off, f.bs)
		if err != nil {
			return out, fmt.Errorf("inode %d: xattr block %d: %w", in.Num, in.FileACL, err)
		}
		if le.Uint32(b) != xattrMagic {
			return out, fmt.Errorf("inode %d: xattr block %d at %#x: bad magic %#x", in.Num, in.FileACL, off, le.Uint32(b))
		}
		if err := f.parseXattrEntries(in, b[32:], b, off+32, &out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// parseXattrEntries reads entries from ents until the 4-byte zero
// terminator; value offsets are relative to vals.
func (f *FS) parseXattrEntries(in *Inode, ents, vals []byte, at int64, out *map[string][]byte) error {
	le := binary.LittleEndian
	for p := 0; p+4 <= len(ents) && le.Uint32(ents[p:]) != 0; {
		if p+16 > len(ents) {
			return fmt.Errorf("inode %d: xattr entry at %#x: truncated", in.Num, at+int64(p))
		}
		nameLen := int(ents[p])
		idx := ents[p+1]
		voff := int(le.Uint16(ents[p+2:]))
		vino := le.Uint32(ents[p+4:])
		vsize := int64(le.Uint32(ents[p+8:]))
		if p+16+nameLen > len(ents) {
			return fmt.Errorf("inode %d: xattr entry at %#x: name runs past the area", in.Num, at+int64(p))
		}
		name := xattrPrefix[idx] + string(ents[p+16:p+16+nameLen])
		if _, known := xattrPrefix[idx]; !known {
			name = fmt.Sprintf("index%d.%s", idx, ents[p+16:p+16+nameLen])
		}
		var val []byte
		switch {
		case vino != 0:
			v, err := f.eaInodeValue(uint64(vino), vsize)
			if err != nil {
				return fmt.Errorf("inode %d: xattr %q: %w", in.Num, name, err)
			}
			val = v
		case int64(voff)+vsize > int64(len(vals)):
			return fmt.Errorf("inode %d: xattr entry at %#x: value %d+%d runs past the area", in.Num, at+int64(p), voff, vsize)
		default:
			val = append([]byte(nil), vals[voff:int64(voff)+vsize]...)
		}
		if *out == nil {
			*out = make(map[string][]byte)
		}
		(*out)[name] = val
		p += (16 + nameLen + 3) &^ 3
	}
	return nil
}

// eaInodeValue reads an xattr value kept in its own inode (ea_inode).
func (f *FS) eaInodeValue(ino uint64, size int64) ([]byte, error) {
	if size > maxXattrValue {
		return nil, fmt.Errorf("value in inode %d of %d bytes exceeds %d", ino, size, maxXattrValue)
	}
	vin, err := f.inode(ino)
	if err != nil {
		return nil, err
	}
	if vin.Flags&flagEAInode == 0 || int64(vin.Size) < size {
		return nil, fmt.Errorf("inode %d is not an xattr value inode of %d bytes", ino, size)
	}
	d, err := f.dataOf(vin)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	if n, err := d.ReadAt(buf, 0); int64(n) < size {
		return nil, fmt.Errorf("value in inode %d: %w", ino, err)
	}
	return buf, nil
}
