package xfs

import (
	"encoding/binary"
	"fmt"
)

// Extended attribute formats (xfs_da_format.h).
const (
	attrLocal      = 0x01
	attrRoot       = 0x02 // trusted.*
	attrSecure     = 0x04 // security.*
	attrParent     = 0x08 // parent pointer, not a user-visible xattr
	attrIncomplete = 0x80

	attrLeafMagic  = 0xfbee
	attr3LeafMagic = 0x3bee
	daNodeMagic    = 0xfebe
	da3NodeMagic   = 0x3ebe
	attr3RmtMagic  = 0x5841524d // "XARM"

	maxAttrValue = 64 << 10 // XATTR_SIZE_MAX
	maxAttrDepth = 5
	maxAttrs     = 4096
	// maxAttrBytes bounds all values of one inode: remote values could
	// otherwise point many names at the same blocks.
	maxAttrBytes = 1 << 20
)

func attrName(flags uint8, name []byte) (string, bool) {
	switch {
	case flags&(attrIncomplete|attrParent) != 0:
		return "", false
	case flags&attrSecure != 0:
		return "security." + string(name), true
	case flags&attrRoot != 0:
		return "trusted." + string(name), true
	default:
		return "user." + string(name), true
	}
}

// xattrs reads an inode's extended attributes: short-form ones from the
// inode, leaf and node ones from the attribute fork's blocks.
func (x *FS) xattrs(ip *inode) (map[string][]byte, error) {
	if ip.afork == nil {
		return nil, nil
	}
	switch ip.aformat {
	case fmtLocal:
		m, err := parseShortformAttrs(ip.afork)
		if err != nil {
			return nil, ip.errorf("short-form attributes: %v", err)
		}
		return m, nil
	case fmtExtents, fmtBtree:
	default:
		return nil, nil
	}
	exts, err := x.forkExtents(ip, true)
	if err != nil {
		return nil, err
	}
	m := map[string][]byte{}
	seen := map[uint64]bool{}
	if err := x.attrBlock(ip, exts, 0, 0, seen, m); err != nil {
		return m, err
	}
	return m, nil
}

func parseShortformAttrs(b []byte) (map[string][]byte, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("header truncated")
	}
	total := int(binary.BigEndian.Uint16(b))
	if total < 4 || total > len(b) {
		return nil, fmt.Errorf("totsize %d outside fork of %d bytes", total, len(b))
	}
	count := int(b[2])
	b = b[:total]
	m := map[string][]byte{}
	for i, pos := 0, 4; i < count; i++ {
		if pos+3 > len(b) {
			return nil, fmt.Errorf("entry %d at %#x: truncated", i, pos)
		}
		nl, vl, flags := int(b[pos]), int(b[pos+1]), b[pos+2]
		if pos+3+nl+vl > len(b) {
			return nil, fmt.Errorf("entry %d at %#x: lengths %d+%d overrun", i, pos, nl, vl)
		}
		if name, ok := attrName(flags, b[pos+3:pos+3+nl]); ok {
			m[name] = append([]byte(nil), b[pos+3+nl:pos+3+nl+vl]...)
		}
		pos += 3 + nl + vl
	}
	return m, nil
}

// attrBlock reads attribute fork block lb: a leaf holding names (and small
// values), or a node whose entries point at further blocks.
func (x *FS) attrBlock(ip *inode, exts []extent, lb uint64, depth int, seen map[uint64]bool, m map[string][]byte) error {
	be := binary.BigEndian
	if depth > maxAttrDepth {
		return ip.errorf("attribute tree deeper than %d", maxAttrDepth)
	}
	if seen[lb] {
		return ip.errorf("attribute block %d reached twice (loop)", lb)
	}
	seen[lb] = true
	b := make([]byte, x.sb.blockSize)
	if err := x.readMapped(exts, b, int64(lb)<<x.sb.blockLog); err != nil {
		return ip.errorf("attribute block %d: %v", lb, err)
	}
	magic := be.Uint16(b[8:])
	v5 := x.sb.v5()
	switch {
	case magic == daNodeMagic && !v5, magic == da3NodeMagic && v5:
		hdr := 16
		if v5 {
			hdr = 64
		}
		count := int(be.Uint16(b[12:])) // right after the block info header
		if v5 {
			count = int(be.Uint16(b[56:]))
		}
		if hdr+count*8 > len(b) {
			return ip.errorf("attribute node block %d: count %d", lb, count)
		}
		for i := 0; i < count; i++ {
			child := uint64(be.Uint32(b[hdr+i*8+4:]))
			if err := x.attrBlock(ip, exts, child, depth+1, seen, m); err != nil {
				return err
			}
		}
		return nil
	case magic == attrLeafMagic && !v5, magic == attr3LeafMagic && v5:
	default:
		return ip.errorf("attribute block %d: magic %#x", lb, magic)
	}
	base, hdr := 12, 32
	if v5 {
		base, hdr = 56, 80
	}
	count := int(be.Uint16(b[base:]))
	if hdr+count*8 > len(b) {
		return ip.errorf("attribute leaf block %d: count %d", lb, count)
	}
	for i := 0; i < count; i++ {
		if len(m) >= maxAttrs {
			return ip.errorf("more than %d attributes", maxAttrs)
		}
		e := b[hdr+i*8:]
		idx, flags := int(be.Uint16(e[4:])), e[6]
		if idx >= len(b) {
			return ip.errorf("attribute leaf block %d entry %d: name index %d", lb, i, idx)
		}
		if flags&attrLocal != 0 {
			if idx+3 > len(b) {
				return ip.errorf("attribute leaf block %d entry %d: truncated", lb, i)
			}
			vl, nl := int(be.Uint16(b[idx:])), int(b[idx+2])
			if idx+3+nl+vl > len(b) {
				return ip.errorf("attribute leaf block %d entry %d: lengths overrun", lb, i)
			}
			if name, ok := attrName(flags, b[idx+3:idx+3+nl]); ok {
				m[name] = append([]byte(nil), b[idx+3+nl:idx+3+nl+vl]...)
			}
			continue
		}
		if idx+9 > len(b) {
			return ip.errorf("attribute leaf block %d entry %d: truncated", lb, i)
		}
		blk, vl, nl := uint64(be.Uint32(b[idx:])), int(be.Uint32(b[idx+4:])), int(b[idx+8])
		if idx+9+nl > len(b) {
			return ip.errorf("attribute leaf block %d entry %d: name overruns", lb, i)
		}
		name, ok := attrName(flags, b[idx+9:idx+9+nl])
		if !ok {
			continue
		}
		if vl > maxAttrValue {
			return ip.errorf("attribute %q: value length %d", name, vl)
		}
		total := 0
		for _, v := range m {
			total += len(v)
		}
		if total+vl > maxAttrBytes {
			return ip.errorf("attribute values exceed %d bytes", maxAttrBytes)
		}
		v, err := x.remoteAttr(exts, blk, vl)
		if err != nil {
			return ip.errorf("attribute %q: %v", name, err)
		}
		m[name] = v
	}
	return nil
}

// remoteAttr reads a value stored in its own attribute fork blocks; on v5
// each block starts with a 56-byte "XARM" header.
func (x *FS) remoteAttr(exts []extent, lb uint64, n int) ([]byte, error) {
	bs := int(x.sb.blockSize)
	v := make([]byte, 0, n)
	b := make([]byte, bs)
	for len(v) < n {
		if err := x.readMapped(exts, b, int64(lb)<<x.sb.blockLog); err != nil {
			return nil, err
		}
		data := b
		if x.sb.v5() {
			if binary.BigEndian.Uint32(b) != attr3RmtMagic {
				return nil, fmt.Errorf("remote value block %d: magic %#x", lb, binary.BigEndian.Uint32(b))
			}
			data = b[56:]
		}
		take := min(len(data), n-len(v))
		v = append(v, data[:take]...)
		lb++
	}
	return v, nil
}
