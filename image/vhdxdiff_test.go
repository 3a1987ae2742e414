package image

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// TestVHDXDifferencing: qemu-img cannot create differencing VHDX files
// either, so the child is built by MS-VHDX from an empty dynamic VHDX made
// by qemu-img: the HasParent flag, a parent locator item with a relative
// path, and BAT entries of each payload state — partially present (with a
// sector bitmap), fully present, zero, and not present (from the parent).
func TestVHDXDifferencing(t *testing.T) {
	testenv.NeedTool(t, "qemu-img")
	dir := t.TempDir()
	le := binary.LittleEndian
	raw := filepath.Join(dir, "p.raw")
	writeTestRaw(t, raw, 12<<20)
	parent := filepath.Join(dir, "parent.vhdx")
	testenv.Run(t, "qemu-img", "convert", "-O", "vhdx", "-o", "block_size=1M", raw, parent)
	want := qemuRaw(t, parent, "vhdx")
	child := filepath.Join(dir, "child.vhdx")
	testenv.Run(t, "qemu-img", "create", "-q", "-f", "vhdx", "-o", "block_size=1M", child, "12M")
	b, _ := os.ReadFile(child)

	var batOff, metaOff int64
	rt := b[vhdxRegion1:]
	for i := range int(le.Uint32(rt[8:])) {
		e := rt[16+i*32:]
		switch [16]byte(e[:16]) {
		case vhdxBATGUID:
			batOff = int64(le.Uint64(e[16:]))
		case vhdxMetaGUID:
			metaOff = int64(le.Uint64(e[16:]))
		}
	}
	mt := b[metaOff:]
	n := int(le.Uint16(mt[10:]))
	end := int64(0)
	for i := range n {
		e := mt[32+i*32:]
		if [16]byte(e[:16]) == vhdxFileParams {
			fp := b[metaOff+int64(le.Uint32(e[16:])):]
			le.PutUint32(fp[4:], le.Uint32(fp[4:])|2) // HasParent
		}
		end = max(end, int64(le.Uint32(e[16:])+le.Uint32(e[20:])))
	}
	// The parent locator: type GUID, then key/value entries of UTF-16 strings.
	var loc []byte
	locType := guid("B04AEFB7-D19E-4A81-B789-25B8E9445913")
	loc = append(loc, locType[:]...)
	loc = le.AppendUint16(loc, 0)
	loc = le.AppendUint16(loc, 2)
	kv := [][2]string{{"parent_linkage", "{00000000-0000-0000-0000-000000000000}"}, {"relative_path", `.\parent.vhdx`}}
	strs := 20 + 12*len(kv)
	var tail []byte
	for _, p := range kv {
		k, v := utf16Bytes(p[0], le), utf16Bytes(p[1], le)
		loc = le.AppendUint32(loc, uint32(strs+len(tail)))
		loc = le.AppendUint32(loc, uint32(strs+len(tail)+len(k)))
		loc = le.AppendUint16(loc, uint16(len(k)))
		loc = le.AppendUint16(loc, uint16(len(v)))
		tail = append(append(tail, k...), v...)
	}
	loc = append(loc, tail...)
	locAt := (end + 7) &^ 7
	copy(b[metaOff+locAt:], loc)
	e := mt[32+n*32:]
	copy(e, vhdxParentLoc[:])
	le.PutUint32(e[16:], uint32(locAt))
	le.PutUint32(e[20:], uint32(len(loc)))
	le.PutUint32(e[24:], 4) // required
	le.PutUint16(mt[10:], uint16(n+1))

	// Data appended at 1 MiB boundaries: block 0 (partial), block 1
	// (full), and the sector bitmap of chunk 0 (one bit per 512-byte
	// sector, least significant bit first).
	const mib = 1 << 20
	base := (int64(len(b)) + mib - 1) &^ (mib - 1)
	b = append(b, make([]byte, base-int64(len(b))+3*mib)...)
	blk0, blk1, bm := b[base:base+mib], b[base+mib:base+2*mib], b[base+2*mib:base+3*mib]
	for i := range blk0 {
		blk0[i] = 0xee // unmarked sectors must not show
	}
	for i := range blk1 {
		blk1[i] = byte(i*13) | 1
	}
	for _, s := range []int{0, 1, 2, 7, 8, 100, 2047} {
		bm[s/8] |= 1 << (s % 8)
		copy(blk0[s*512:(s+1)*512], bytes.Repeat([]byte{0xc3, byte(s)}, 256))
		copy(want[s*512:], blk0[s*512:(s+1)*512])
	}
	copy(want[mib:2*mib], blk1)
	clear(want[2*mib : 3*mib])
	chunk := int64(1<<23) * 512 / mib
	bat := b[batOff:]
	for i := range 12 { // qemu-img marks new blocks ZERO; a child's are NOT_PRESENT
		le.PutUint64(bat[i*8:], vhdxNotPresent)
	}
	le.PutUint64(bat[0:], uint64(base)|vhdxPartially)
	le.PutUint64(bat[8:], uint64(base+mib)|vhdxFullyPresent)
	le.PutUint64(bat[16:], vhdxZero)
	le.PutUint64(bat[chunk*8:], uint64(base+2*mib)|vhdxFullyPresent)
	if err := os.WriteFile(child, b, 0o644); err != nil {
		t.Fatal(err)
	}
	im := checkEqual(t, child, want)
	if len(im.Layers) != 2 || im.Layers[0].Subformat != "differencing" || im.Layers[0].Backing != "parent.vhdx" {
		t.Errorf("layers %+v", im.Layers)
	}
}
