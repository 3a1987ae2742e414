package image

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// vhd reads Microsoft's Virtual Hard Disk (qemu's "vpc"): fixed disks (raw
// data and a 512-byte footer), dynamic disks (a block allocation table of
// blocks, each a sector bitmap followed by data) and differencing disks,
// whose sectors not marked in the block bitmap come from the parent found
// through the header's parent locators.

const (
	vhdFixed        = 2
	vhdDynamic      = 3
	vhdDifferencing = 4
	vhdUnused       = 0xffffffff
	vhdMaxGeometry  = 65535 * 16 * 255
	vhdMaxBlock     = 1 << 28
)

type vhd struct {
	name    string
	f       io.ReaderAt
	fsize   int64
	block   int64
	bitmap  int64 // bytes of bitmap before each block's data
	bat     []uint32
	batOff  int64
	diff    bool
	bitmaps fileCache
}

// vhdChecksum is the one's complement of the byte sum, with the checksum
// field (4 bytes at at) counted as zero.
func vhdChecksum(b []byte, at int) uint32 {
	var s uint32
	for i, c := range b {
		if i < at || i >= at+4 {
			s += uint32(c)
		}
	}
	return ^s
}

func vhdFooter(r io.ReaderAt, off int64) ([]byte, error) {
	f := make([]byte, 512)
	if err := readFull(r, f, off); err != nil {
		return nil, err
	}
	if string(f[:8]) != "conectix" {
		return nil, fmt.Errorf("bad cookie %q", f[:8])
	}
	if got, want := vhdChecksum(f, 64), binary.BigEndian.Uint32(f[64:]); got != want {
		return nil, fmt.Errorf("checksum %#x, computed %#x", want, got)
	}
	return f, nil
}

func openVHD(o *opener, src *source) (io.ReaderAt, int64, error) {
	name := src.name
	be := binary.BigEndian
	if src.size < 512 {
		return nil, 0, fmt.Errorf("vhd %s: file of %d bytes too short for a footer", name, src.size)
	}
	// The footer at the end is authoritative; dynamic disks keep a copy
	// at offset 0, which serves when the end was cut off.
	foot, err := vhdFooter(src.r, src.size-512)
	if err != nil {
		var err0 error
		if foot, err0 = vhdFooter(src.r, 0); err0 != nil {
			return nil, 0, fmt.Errorf("vhd %s: footer at %#x: %v; copy at 0x0: %v", name, src.size-512, err, err0)
		}
	}
	typ := be.Uint32(foot[60:])
	chs := int64(be.Uint16(foot[56:])) * int64(foot[58]) * int64(foot[59])
	cur := be.Uint64(foot[48:])
	if cur > 1<<62 {
		return nil, 0, fmt.Errorf("vhd %s: footer at 0x30: current size %d too large", name, cur)
	}
	// Size as qemu computes it: Virtual PC and qemu's own images are as
	// large as their CHS geometry; other creators use the current size.
	creator := string(foot[28:32])
	size := int64(cur) &^ 511
	if (creator == "vpc " || creator == "qemu") && chs != vhdMaxGeometry {
		size = chs * 512
	}
	layer := Layer{Path: name, Format: "vhd", VirtualSize: size, FileSize: src.size}
	switch typ {
	case vhdFixed:
		layer.Subformat = "fixed"
		if size > src.size-512 {
			return nil, 0, fmt.Errorf("vhd %s: fixed disk of %d bytes, but file holds only %d before the footer", name, size, src.size-512)
		}
		o.layers = append(o.layers, layer)
		return io.NewSectionReader(src.r, 0, size), size, nil
	case vhdDynamic:
		layer.Subformat = "dynamic"
	case vhdDifferencing:
		layer.Subformat = "differencing"
	default:
		return nil, 0, fmt.Errorf("vhd %s: footer at 0x3c: disk type %d: %w", name, typ, ErrUnsupported)
	}
	hoff := be.Uint64(foot[16:])
	if hoff > uint64(src.size) || int64(hoff)+1024 > src.size {
		return nil, 0, fmt.Errorf("vhd %s: dynamic header at %#x: past end of file (%d bytes)", name, hoff, src.size)
	}
	h := make([]byte, 1024)
	if err := readFull(src.r, h, int64(hoff)); err != nil {
		return nil, 0, fmt.Errorf("vhd %s: dynamic header at %#x: %w", name, hoff, err)
	}
	if string(h[:8]) != "cxsparse" {
		return nil, 0, fmt.Errorf("vhd %s: dynamic header at %#x: bad cookie %q", name, hoff, h[:8])
	}
	if got, want := vhdChecksum(h, 36), be.Uint32(h[36:]); got != want {
		return nil, 0, fmt.Errorf("vhd %s: dynamic header at %#x: checksum %#x, computed %#x", name, hoff, want, got)
	}
	v := &vhd{name: name, f: src.r, fsize: src.size, diff: typ == vhdDifferencing}
	batOff := be.Uint64(h[16:])
	entries := int64(be.Uint32(h[28:]))
	v.block = int64(be.Uint32(h[32:]))
	if v.block < 512 || v.block > vhdMaxBlock || v.block&(v.block-1) != 0 {
		return nil, 0, fmt.Errorf("vhd %s: dynamic header at %#x: block size %d invalid", name, hoff+32, v.block)
	}
	v.bitmap = (v.block/512/8 + 511) &^ 511
	need := (size + v.block - 1) / v.block
	if entries < need {
		return nil, 0, fmt.Errorf("vhd %s: dynamic header at %#x: BAT of %d entries too small for %d bytes", name, hoff+28, entries, size)
	}
	if batOff > uint64(src.size) || int64(batOff)+need*4 > src.size {
		return nil, 0, fmt.Errorf("vhd %s: BAT at %#x (%d entries): past end of file (%d bytes)", name, batOff, need, src.size)
	}
	raw := make([]byte, need*4)
	if err := readFull(src.r, raw, int64(batOff)); err != nil {
		return nil, 0, fmt.Errorf("vhd %s: BAT at %#x: %w", name, batOff, err)
	}
	v.batOff = int64(batOff)
	v.bat = make([]uint32, need)
	for i := range v.bat {
		v.bat[i] = be.Uint32(raw[i*4:])
	}
	v.bitmaps = o.caches.tableCache()
	m := newMapped(o, "vhd "+name, v, src.r, src.size, size)
	o.layers = append(o.layers, layer)
	if v.diff {
		names := vhdParentNames(src, h)
		if len(names) == 0 {
			return nil, 0, fmt.Errorf("vhd %s: differencing disk without a usable parent locator", name)
		}
		self := len(o.layers) - 1
		var lastErr error
		for _, n := range names {
			o.layers = o.layers[:self+1] // drop what a failed attempt added
			pr, psize, err := o.openRelated(src, n, "vhd")
			if err == nil {
				o.layers[self].Backing = n
				m.parent, m.psize = pr, psize
				return m, size, nil
			}
			lastErr = err
			if !isNotExist(err) {
				break
			}
		}
		return nil, 0, fmt.Errorf("vhd %s: parent (tried %q): %w", name, names, lastErr)
	}
	return m, size, nil
}

// vhdParentNames lists the parent's names from the locators (relative
// Windows path first) and the header's parent name, with Windows
// separators turned into slashes.
func vhdParentNames(src *source, h []byte) []string {
	be := binary.BigEndian
	var rel, abs []string
	for i := range 8 {
		e := h[576+i*24:]
		code, length, off := string(e[:4]), int64(be.Uint32(e[8:])), int64(be.Uint64(e[16:]))
		if code == "\x00\x00\x00\x00" || length <= 0 || length > 4096 || off < 0 || off > src.size-length {
			continue
		}
		b := make([]byte, length)
		if readFull(src.r, b, off) != nil {
			continue
		}
		switch code {
		case "W2ru":
			rel = append(rel, utf16String(b, binary.LittleEndian))
		case "W2ku":
			abs = append(abs, utf16String(b, binary.LittleEndian))
		case "MacX":
			abs = append(abs, strings.TrimPrefix(strings.TrimRight(string(b), "\x00"), "file://"))
		}
	}
	var out []string
	add := func(n string) {
		n = strings.ReplaceAll(n, `\`, "/")
		n = strings.TrimPrefix(n, "./")
		if n == "" {
			return
		}
		if len(n) > 2 && n[1] == ':' { // drive letter: only the name can be found here
			n = n[strings.LastIndexByte(n, '/')+1:]
		}
		for _, o := range out {
			if o == n {
				return
			}
		}
		out = append(out, n)
	}
	for _, n := range rel {
		add(n)
	}
	for _, n := range abs {
		add(n)
	}
	add(utf16String(h[64:576], binary.BigEndian))
	return out
}

func utf16String(b []byte, order binary.ByteOrder) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := order.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

func (v *vhd) mapAt(off, want int64) (extent, error) {
	bi := off / v.block
	in := off % v.block
	rest := v.block - in
	if bi >= int64(len(v.bat)) {
		return extent{}, fmt.Errorf("vhd %s: guest offset %#x beyond BAT", v.name, off)
	}
	sec := v.bat[bi]
	if sec == vhdUnused {
		if v.diff {
			return extent{kind: extParent, n: rest}, nil
		}
		return extent{kind: extZero, n: rest}, nil
	}
	boff := int64(sec) * 512
	if boff+v.bitmap+v.block > v.fsize {
		return extent{}, fmt.Errorf("vhd %s: BAT at %#x entry %d: block at %#x past end of file (%d bytes)", v.name, v.batOff, bi, boff, v.fsize)
	}
	data := extent{kind: extData, n: rest, host: boff + v.bitmap + in}
	if !v.diff {
		// Like qemu, a dynamic disk's allocated block is read whole.
		return data, nil
	}
	bm, ok := v.bitmaps.get(boff)
	if !ok {
		bm = make([]byte, v.bitmap)
		if err := readFull(v.f, bm, boff); err != nil {
			return extent{}, fmt.Errorf("vhd %s: block bitmap at %#x: %w", v.name, boff, err)
		}
		v.bitmaps.put(boff, bm)
	}
	s := in / 512
	bit := func(s int64) bool { return bm[s/8]&(0x80>>(s%8)) != 0 }
	first := bit(s)
	n := 512 - in%512
	for s++; n < want && s < v.block/512 && bit(s) == first; s++ {
		n += 512
	}
	if first {
		data.n = n
		return data, nil
	}
	return extent{kind: extParent, n: n}, nil
}
