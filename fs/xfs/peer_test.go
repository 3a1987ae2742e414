package xfs

import (
	"bytes"
	"testing"

	"github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// TestPeerUtilLinux opens util-linux's blkid test image and checks the
// values util-linux's tests assert (tests/expected/blkid/low-probe-xfs):
// LABEL=test-xfs, UUID=8c8a0a5a-…, FSBLOCKSIZE=4096, FSLASTBLOCK=4096,
// FSSIZE=11862016 (data blocks less the internal log), BLOCK_SIZE=512.
func TestPeerUtilLinux(t *testing.T) {
	raw := testenv.PeerXZ(t, "images/util-linux/xfs.img.xz")
	r := bytes.NewReader(raw)
	if got := fs.Detect(r, int64(len(raw))); got != "xfs" {
		t.Fatalf("Detect = %q", got)
	}
	gen, err := fs.Open(r, int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	info := gen.Info()
	if info.Type != "xfs" || info.Label != "test-xfs" || info.UUID != "8c8a0a5a-9f57-492e-9610-45a61f38f58a" {
		t.Errorf("Info = %+v", info)
	}
	if info.BlockSize != 4096 || info.Size != 4096*4096 {
		t.Errorf("block size %d, size %d; want 4096 and FSLASTBLOCK 4096 × 4096", info.BlockSize, info.Size)
	}
	x := gen.(*FS)
	if got := int64(x.sb.dblocks-uint64(x.sb.logBlocks)) * int64(x.sb.blockSize); got != 11862016 {
		t.Errorf("data size less log = %d, want FSSIZE 11862016", got)
	}
	if x.sb.sectSize != 512 {
		t.Errorf("sector size %d, want BLOCK_SIZE 512", x.sb.sectSize)
	}
	if x.sb.v5() {
		t.Errorf("util-linux's image is v4")
	}
	ents, err := gen.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("root has %d entries; %v", len(ents), info.Notes)
}
