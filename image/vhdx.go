package image

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

// vhdx reads Microsoft's VHDX (MS-VHDX v1): two checksummed headers (the
// newer valid one wins), two region tables locating the BAT and the
// metadata region, and a BAT interleaving payload blocks with sector bitmap
// blocks. Differencing disks read their parent for blocks not present and
// consult the sector bitmap for partially present ones. A log that still
// needs replaying is refused rather than read inconsistently.

const (
	vhdxHeader1    = 64 << 10
	vhdxHeader2    = 128 << 10
	vhdxRegion1    = 192 << 10
	vhdxRegion2    = 256 << 10
	vhdxRegionSize = 64 << 10
	vhdxMaxItem    = 1 << 20
	vhdxMaxSize    = 64 << 40

	vhdxNotPresent   = 0
	vhdxUndefined    = 1
	vhdxZero         = 2
	vhdxUnmapped     = 3
	vhdxFullyPresent = 6
	vhdxPartially    = 7
)

var (
	crc32c = crc32.MakeTable(crc32.Castagnoli)

	vhdxBATGUID      = guid("2DC27766-F623-4200-9D64-115E9BFD4A08")
	vhdxMetaGUID     = guid("8B7CA206-4790-4B9A-B8FE-575F050F886E")
	vhdxFileParams   = guid("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	vhdxVirtSize     = guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	vhdxPage83       = guid("BECA12AB-B2E6-4523-93EF-C309E000C746")
	vhdxLogicalSect  = guid("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
	vhdxPhysicalSect = guid("CDA348C7-445D-4471-9CC9-E9885251C556")
	vhdxParentLoc    = guid("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
)

// guid returns the on-disk bytes of a GUID written in its text form: the
// first three fields little-endian, the rest as written.
func guid(s string) [16]byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic("bad guid " + s)
	}
	var g [16]byte
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:], b[8:])
	return g
}

type vhdx struct {
	name    string
	f       io.ReaderAt
	fsize   int64
	block   int64
	sector  int64
	chunk   int64 // payload blocks per sector bitmap block
	bat     []uint64
	batOff  int64
	diff    bool
	bitmaps fileCache
}

// vhdxChecked reads n bytes at off whose CRC-32C (with the 4 bytes at 4
// zeroed) must match the value stored there, and whose signature is sig.
func vhdxChecked(r io.ReaderAt, off, n int64, sig string) ([]byte, error) {
	b := make([]byte, n)
	if err := readFull(r, b, off); err != nil {
		return nil, err
	}
	if string(b[:len(sig)]) != sig {
		return nil, fmt.Errorf("signature %q, want %q", b[:len(sig)], sig)
	}
	want := binary.LittleEndian.Uint32(b[4:])
	c := bytes.Clone(b)
	clear(c[4:8])
	if got := crc32.Checksum(c, crc32c); got != want {
		return nil, fmt.Errorf("checksum %#x, computed %#x", want, got)
	}
	return b, nil
}

func openVHDX(o *opener, src *source) (io.ReaderAt, int64, error) {
	name := src.name
	le := binary.LittleEndian
	var id [8]byte
	if err := readFull(src.r, id[:], 0); err != nil || string(id[:]) != "vhdxfile" {
		return nil, 0, fmt.Errorf("vhdx %s: file identifier at 0x0: not vhdxfile (%v)", name, err)
	}
	h1, err1 := vhdxChecked(src.r, vhdxHeader1, 4096, "head")
	h2, err2 := vhdxChecked(src.r, vhdxHeader2, 4096, "head")
	h := h1
	switch {
	case err1 != nil && err2 != nil:
		return nil, 0, fmt.Errorf("vhdx %s: header at %#x: %v; header at %#x: %v", name, vhdxHeader1, err1, vhdxHeader2, err2)
	case err1 != nil, err2 == nil && le.Uint64(h2[8:]) > le.Uint64(h1[8:]):
		h = h2
	}
	if v := le.Uint16(h[66:]); v != 1 {
		return nil, 0, fmt.Errorf("vhdx %s: header: version %d: %w", name, v, ErrUnsupported)
	}
	if !allZero(h[48:64]) {
		return nil, 0, fmt.Errorf("vhdx %s: header: log at %#x needs replaying (image not closed cleanly): %w", name, le.Uint64(h[72:]), ErrUnsupported)
	}
	rt, err := vhdxChecked(src.r, vhdxRegion1, vhdxRegionSize, "regi")
	if err != nil {
		var err2 error
		if rt, err2 = vhdxChecked(src.r, vhdxRegion2, vhdxRegionSize, "regi"); err2 != nil {
			return nil, 0, fmt.Errorf("vhdx %s: region table at %#x: %v; at %#x: %v", name, vhdxRegion1, err, vhdxRegion2, err2)
		}
	}
	n := le.Uint32(rt[8:])
	if n > 2047 {
		return nil, 0, fmt.Errorf("vhdx %s: region table: %d entries (max 2047)", name, n)
	}
	var batOff, batLen, metaOff, metaLen int64
	for i := range int(n) {
		e := rt[16+i*32:]
		off, l := int64(le.Uint64(e[16:])), int64(le.Uint32(e[24:]))
		switch [16]byte(e[:16]) {
		case vhdxBATGUID:
			batOff, batLen = off, l
		case vhdxMetaGUID:
			metaOff, metaLen = off, l
		default:
			if le.Uint32(e[28:])&1 != 0 {
				return nil, 0, fmt.Errorf("vhdx %s: region table entry %d: unknown required region: %w", name, i, ErrUnsupported)
			}
			continue
		}
		if off < 0 || l <= 0 || off > src.size || l > src.size-off {
			return nil, 0, fmt.Errorf("vhdx %s: region table entry %d: region at %#x (%d bytes) past end of file (%d bytes)", name, i, off, l, src.size)
		}
	}
	if batLen == 0 || metaLen == 0 {
		return nil, 0, fmt.Errorf("vhdx %s: region table: BAT or metadata region missing", name)
	}

	// Metadata.
	mt := make([]byte, min(metaLen, vhdxRegionSize))
	if err := readFull(src.r, mt, metaOff); err != nil {
		return nil, 0, fmt.Errorf("vhdx %s: metadata table at %#x: %w", name, metaOff, err)
	}
	if string(mt[:8]) != "metadata" {
		return nil, 0, fmt.Errorf("vhdx %s: metadata table at %#x: bad signature %q", name, metaOff, mt[:8])
	}
	items := map[[16]byte][]byte{}
	cnt := int(le.Uint16(mt[10:]))
	if cnt > 2047 || 32+cnt*32 > len(mt) {
		return nil, 0, fmt.Errorf("vhdx %s: metadata table at %#x: %d entries", name, metaOff, cnt)
	}
	for i := range cnt {
		e := mt[32+i*32:]
		id := [16]byte(e[:16])
		off, l, flags := int64(le.Uint32(e[16:])), int64(le.Uint32(e[20:])), le.Uint32(e[24:])
		switch id {
		case vhdxFileParams, vhdxVirtSize, vhdxLogicalSect, vhdxPhysicalSect, vhdxPage83, vhdxParentLoc:
		default:
			if flags&4 != 0 {
				return nil, 0, fmt.Errorf("vhdx %s: metadata entry %d at %#x: unknown required item: %w", name, i, metaOff+32+int64(i)*32, ErrUnsupported)
			}
			continue
		}
		if l > vhdxMaxItem || off > metaLen || l > metaLen-off {
			return nil, 0, fmt.Errorf("vhdx %s: metadata entry %d at %#x: item (%d bytes at +%#x) outside the region", name, i, metaOff+32+int64(i)*32, l, off)
		}
		b := make([]byte, l)
		if err := readFull(src.r, b, metaOff+off); err != nil {
			return nil, 0, fmt.Errorf("vhdx %s: metadata item at %#x: %w", name, metaOff+off, err)
		}
		items[id] = b
	}
	fp, vs, ls := items[vhdxFileParams], items[vhdxVirtSize], items[vhdxLogicalSect]
	if len(fp) < 8 || len(vs) < 8 || len(ls) < 4 {
		return nil, 0, fmt.Errorf("vhdx %s: metadata at %#x: file parameters, virtual size or logical sector size missing", name, metaOff)
	}
	v := &vhdx{name: name, f: src.r, fsize: src.size, batOff: batOff}
	v.block = int64(le.Uint32(fp))
	v.diff = le.Uint32(fp[4:])&2 != 0
	size := int64(le.Uint64(vs))
	v.sector = int64(le.Uint32(ls))
	switch {
	case v.block < 1<<20 || v.block > 256<<20 || v.block&(v.block-1) != 0:
		return nil, 0, fmt.Errorf("vhdx %s: metadata: block size %d invalid", name, v.block)
	case v.sector != 512 && v.sector != 4096:
		return nil, 0, fmt.Errorf("vhdx %s: metadata: logical sector size %d invalid", name, v.sector)
	case size <= 0 || size > vhdxMaxSize || size%v.sector != 0:
		return nil, 0, fmt.Errorf("vhdx %s: metadata: virtual size %d invalid", name, size)
	}
	v.chunk = (1 << 23) * v.sector / v.block
	blocks := (size + v.block - 1) / v.block
	entries := blocks + (blocks-1)/v.chunk
	if v.diff {
		entries = (blocks + v.chunk - 1) / v.chunk * (v.chunk + 1)
	}
	if entries*8 > batLen {
		return nil, 0, fmt.Errorf("vhdx %s: BAT at %#x: %d bytes, %d entries needed", name, batOff, batLen, entries)
	}
	raw := make([]byte, entries*8)
	if err := readFull(src.r, raw, batOff); err != nil {
		return nil, 0, fmt.Errorf("vhdx %s: BAT at %#x: %w", name, batOff, err)
	}
	v.bat = make([]uint64, entries)
	for i := range v.bat {
		v.bat[i] = le.Uint64(raw[i*8:])
	}
	v.bitmaps = o.caches.tableCache()
	sub := "dynamic"
	if le.Uint32(fp[4:])&1 != 0 {
		sub = "fixed"
	}
	if v.diff {
		sub = "differencing"
	}
	o.layers = append(o.layers, Layer{Path: name, Format: "vhdx", Subformat: sub, VirtualSize: size, FileSize: src.size})
	m := newMapped(o, "vhdx "+name, v, src.r, src.size, size)
	if v.diff {
		names := vhdxParentNames(items[vhdxParentLoc])
		if len(names) == 0 {
			return nil, 0, fmt.Errorf("vhdx %s: differencing disk without a usable parent locator", name)
		}
		self := len(o.layers) - 1
		var lastErr error
		for _, pn := range names {
			o.layers = o.layers[:self+1] // drop what a failed attempt added
			pr, psize, err := o.openRelated(src, pn, "vhdx")
			if err == nil {
				o.layers[self].Backing = pn
				m.parent, m.psize = pr, psize
				return m, size, nil
			}
			if lastErr = err; !isNotExist(err) {
				break
			}
		}
		return nil, 0, fmt.Errorf("vhdx %s: parent (tried %q): %w", name, names, lastErr)
	}
	return m, size, nil
}

// vhdxParentNames reads the parent locator's key/value pairs: the relative
// path first, then the absolute ones (whose base name is tried beside the
// child).
func vhdxParentNames(loc []byte) []string {
	le := binary.LittleEndian
	if len(loc) < 20 {
		return nil
	}
	kv := map[string]string{}
	n := int(le.Uint16(loc[18:]))
	str := func(off, l int64) (string, bool) {
		if off < 0 || l < 0 || off > int64(len(loc)) || l > int64(len(loc))-off {
			return "", false
		}
		return utf16String(loc[off:off+l], le), true
	}
	for i := 0; i < n && 20+i*12+12 <= len(loc); i++ {
		e := loc[20+i*12:]
		k, ok1 := str(int64(le.Uint32(e)), int64(le.Uint16(e[8:])))
		val, ok2 := str(int64(le.Uint32(e[4:])), int64(le.Uint16(e[10:])))
		if ok1 && ok2 {
			kv[k] = val
		}
	}
	var out []string
	for _, k := range []string{"relative_path", "absolute_win32_path", "volume_path"} {
		p := strings.ReplaceAll(kv[k], `\`, "/")
		p = strings.TrimPrefix(p, "./")
		if len(p) > 2 && (p[1] == ':' || strings.HasPrefix(p, "//")) {
			p = p[strings.LastIndexByte(p, '/')+1:]
		}
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (v *vhdx) mapAt(off, want int64) (extent, error) {
	b := off / v.block
	in := off % v.block
	rest := v.block - in
	idx := b + b/v.chunk
	if idx >= int64(len(v.bat)) {
		return extent{}, fmt.Errorf("vhdx %s: guest offset %#x beyond BAT", v.name, off)
	}
	e := v.bat[idx]
	host := int64(e>>20) << 20
	switch e & 7 {
	case vhdxNotPresent:
		if v.diff {
			return extent{kind: extParent, n: rest}, nil
		}
		return extent{kind: extZero, n: rest}, nil
	case vhdxUndefined, vhdxZero, vhdxUnmapped:
		return extent{kind: extZero, n: rest}, nil
	case vhdxFullyPresent:
		if host == 0 || host > v.fsize {
			return extent{}, fmt.Errorf("vhdx %s: BAT at %#x entry %d: block at %#x past end of file (%d bytes)", v.name, v.batOff, idx, host, v.fsize)
		}
		return extent{kind: extData, n: rest, host: host + in}, nil
	case vhdxPartially:
		if !v.diff {
			break
		}
		// The chunk's sector bitmap block: one bit per logical sector.
		c := b / v.chunk
		si := c*(v.chunk+1) + v.chunk
		sb := v.bat[si]
		if sb&7 != vhdxFullyPresent {
			return extent{}, fmt.Errorf("vhdx %s: BAT at %#x entry %d: partially present block without a sector bitmap (entry %d state %d)", v.name, v.batOff, idx, si, sb&7)
		}
		bmOff := int64(sb>>20) << 20
		if bmOff == 0 || bmOff > v.fsize-1<<20 {
			return extent{}, fmt.Errorf("vhdx %s: BAT at %#x entry %d: sector bitmap at %#x past end of file (%d bytes)", v.name, v.batOff, si, bmOff, v.fsize)
		}
		bm, ok := v.bitmaps.get(bmOff)
		if !ok {
			bm = make([]byte, 1<<20)
			if err := readFull(v.f, bm, bmOff); err != nil {
				return extent{}, fmt.Errorf("vhdx %s: sector bitmap at %#x: %w", v.name, bmOff, err)
			}
			v.bitmaps.put(bmOff, bm)
		}
		first := (b%v.chunk*v.block + in) / v.sector
		bit := func(s int64) bool { return bm[s/8]>>(s%8)&1 != 0 }
		present := bit(first)
		n := v.sector - in%v.sector
		last := (b%v.chunk*v.block + v.block) / v.sector
		for s := first + 1; n < want && s < last && bit(s) == present; s++ {
			n += v.sector
		}
		if present {
			if host == 0 || host > v.fsize {
				return extent{}, fmt.Errorf("vhdx %s: BAT at %#x entry %d: block at %#x past end of file (%d bytes)", v.name, v.batOff, idx, host, v.fsize)
			}
			return extent{kind: extData, n: n, host: host + in}, nil
		}
		return extent{kind: extParent, n: n}, nil
	}
	return extent{}, fmt.Errorf("vhdx %s: BAT at %#x entry %d: state %d invalid", v.name, v.batOff, idx, e&7)
}

func crc32Checksum(b []byte) uint32 { return crc32.Checksum(b, crc32c) }
