package image

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

func utf16Bytes(s string, order binary.AppendByteOrder) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = order.AppendUint16(b, u)
	}
	return b
}

// TestVHDDifferencing: qemu-img cannot create differencing VHDs, so the
// child is built here by the VHD specification from a dynamic VHD qemu-img
// made: disk type 4, a W2ru parent locator, and one block whose sector
// bitmap marks some sectors as the child's. The expected disk is the
// parent as qemu-img converts it, with exactly the marked sectors replaced.
func TestVHDDifferencing(t *testing.T) {
	testenv.NeedTool(t, "qemu-img")
	dir := t.TempDir()
	be := binary.BigEndian
	raw := filepath.Join(dir, "p.raw")
	writeTestRaw(t, raw, 12<<20)
	parent := filepath.Join(dir, "parent.vhd")
	testenv.Run(t, "qemu-img", "convert", "-O", "vpc", raw, parent)
	want := qemuRaw(t, parent, "vpc")
	pb, _ := os.ReadFile(parent)
	child := filepath.Join(dir, "child.vhd")
	testenv.Run(t, "qemu-img", "create", "-q", "-f", "vpc", child, "12M")
	cb, _ := os.ReadFile(child)

	foot := append([]byte(nil), cb[len(cb)-512:]...)
	body := append([]byte(nil), cb[:len(cb)-512]...)
	hoff := be.Uint64(foot[16:])
	batOff := be.Uint64(body[hoff+16:])
	blockSize := int64(be.Uint32(body[hoff+32:]))

	// Parent locator data, sector-aligned at the end.
	loc := utf16Bytes(`.\parent.vhd`, binary.LittleEndian)
	locOff := len(body)
	body = append(body, make([]byte, 512)...)
	copy(body[locOff:], loc)
	body = append(body, make([]byte, 512+blockSize)...) // block 1, filled below
	h := body[hoff : hoff+1024]                         // body no longer grows
	e := h[576:]
	copy(e, "W2ru")
	be.PutUint32(e[4:], 512)
	be.PutUint32(e[8:], uint32(len(loc)))
	be.PutUint64(e[16:], uint64(locOff))
	copy(h[40:56], pb[len(pb)-512+68:len(pb)-512+84]) // parent's unique id
	copy(h[64:576], utf16Bytes("parent.vhd", be))

	// Block 1: bitmap (MSB first: sector 0 is bit 7 of byte 0) + data.
	blk := locOff + 512
	bitmap := make([]byte, 512)
	data := bytes.Repeat([]byte{0xee}, int(blockSize)) // unmarked sectors must not show
	mark := func(s int) {
		bitmap[s/8] |= 0x80 >> (s % 8)
		copy(data[s*512:(s+1)*512], bytes.Repeat([]byte{0xc3, byte(s)}, 256))
	}
	for _, s := range []int{0, 1, 2, 3, 4, 5, 6, 7, 100, 4095} {
		mark(s)
	}
	for s := 1000; s < 1100; s++ {
		mark(s)
	}
	copy(body[blk:], bitmap)
	copy(body[blk+512:], data)
	be.PutUint32(body[batOff+4:], uint32(blk/512))
	be.PutUint32(h[36:], vhdChecksum(h, 36))
	be.PutUint32(foot[60:], vhdDifferencing)
	be.PutUint32(foot[64:], vhdChecksum(foot, 64))
	copy(body[:512], foot)
	body = append(body, foot...)
	if err := os.WriteFile(child, body, 0o644); err != nil {
		t.Fatal(err)
	}

	for s := 0; s < int(blockSize/512); s++ {
		if bitmap[s/8]&(0x80>>(s%8)) != 0 {
			copy(want[blockSize+int64(s)*512:], data[s*512:(s+1)*512])
		}
	}
	im := checkEqual(t, child, want)
	if len(im.Layers) != 2 || im.Layers[0].Subformat != "differencing" || im.Layers[0].Backing != "parent.vhd" {
		t.Errorf("layers %+v", im.Layers)
	}

	// Without its parent the child is an error, not zeros.
	os.Rename(parent, parent+".gone")
	if _, err := Open(child); err == nil {
		t.Error("differencing VHD opened without its parent")
	}
}

// TestSplitRaw: x.001, x.002, … as split(1) writes them read as one disk.
func TestSplitRaw(t *testing.T) {
	testenv.NeedTool(t, "split")
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	writeTestRaw(t, raw, testRawSize)
	want, _ := os.ReadFile(raw)
	testenv.Run(t, "split", "-b", "7000000", "-d", "-a", "3", "--numeric-suffixes=1", raw, filepath.Join(dir, "x."))
	im := checkEqual(t, filepath.Join(dir, "x.001"), want)
	if im.Layers[0].Subformat != "split" || im.Layers[0].FileSize != int64(len(want)) {
		t.Errorf("layers %+v", im.Layers)
	}
	// A lone .001 is just raw.
	lone := filepath.Join(dir, "lone.001")
	os.WriteFile(lone, want[:4096], 0o644)
	im2, err := Open(lone)
	if err != nil || im2.Size() != 4096 || im2.Layers[0].Subformat != "" {
		t.Fatalf("lone.001: %v %+v", err, im2)
	}
	im2.Close()
}
