package volume

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// Quyzi/gpt tests/fixtures/gpt-disk.img: values from src/header/mod.rs and
// tests/gpt-real-disk.rs (MANIFEST.md).
func TestPeerGptRs(t *testing.T) {
	path := testenv.PeerData(t, "images/gpt-rs/gpt-disk.img")
	d := openDisk(t, path)

	h, err := parseGPTHeader(d, 512, 512)
	if err != nil {
		t.Fatal(err)
	}
	if h.headerCRC != 0x55f06699 || h.current != 1 || h.backup != 71 || h.firstUse != 34 || h.lastUse != 38 ||
		h.entriesLBA != 2 || h.numEntries != 128 || h.entrySize != 128 || h.entriesCRC != 0x5fad601b ||
		!strings.EqualFold(h.diskGUID, "1B6A2BFA-E92B-184C-A8A7-ED0610D54821") {
		t.Errorf("primary header %+v", h)
	}
	b, err := parseGPTHeader(d, 71*512, 512)
	if err != nil {
		t.Fatal(err)
	}
	if b.headerCRC != 0x7ddfa41b || b.current != 71 || b.backup != 1 || b.entriesLBA != 39 {
		t.Errorf("backup header %+v", b)
	}

	vols := mustList(t, d)
	want := []struct {
		guid        string
		start, size int64
	}{
		{"F38EAB50-076F-CB45-97F8-B1B7E5AF078F", 17408, 512},
		{"8EEE35AF-4A93-2C4F-AA7A-5FB193AC6FF7", 17920, 2048},
	}
	if len(vols) != len(want) {
		t.Fatalf("%d volumes, want %d: %+v", len(vols), len(want), vols)
	}
	for i, w := range want {
		v := vols[i]
		if v.Scheme != "gpt" || v.Index != i+1 || v.Selector != "p"+string(rune('1'+i)) || !strings.EqualFold(v.UUID, w.guid) ||
			v.Start != w.start || v.Size != w.size || v.Name != "" ||
			!strings.EqualFold(v.TypeID, "0FC63DAF-8483-4772-8E79-3D69D8477DE4") || v.Type != "Linux filesystem" {
			t.Errorf("partition %d: %+v", i+1, v)
		}
		if len(v.Warnings) != 0 {
			t.Errorf("partition %d: unexpected warnings %q", i+1, v.Warnings)
		}
	}
	checkAgainstSfdisk(t, path, vols)
	checkAgainstMmls(t, path, 512, vols)
}

// cecton/gptman tests/fixtures/disk1.img: src/lib.rs#L1208-1314.
func TestPeerGptman(t *testing.T) {
	path := testenv.PeerData(t, "images/gptman/disk1.img")
	d := openDisk(t, path)
	if ss := detectGPTSectorSize(d, d.Size()); ss != 512 {
		t.Fatalf("sector size %d, want 512", ss)
	}
	if _, err := parseGPTHeader(d, 4096, 4096); err == nil {
		t.Error("header read at sector size 4096; gptman asserts it is not there")
	}
	tab, err := readGPT(d, 512, 512, d.Size())
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.parts) != 2 || tab.hdr.numEntries-2 != 126 || tab.hdr.entriesLBA != 2 || tab.hdr.headerCRC == 0 || tab.hdr.entriesCRC == 0 {
		t.Errorf("primary: %+v, %d used", tab.hdr, len(tab.parts))
	}
	if _, err := readGPT(d, 99*512, 512, d.Size()); err != nil {
		t.Errorf("backup header: %v", err)
	}
	vols := mustList(t, d)
	checkAgainstSfdisk(t, path, vols)
	checkAgainstMmls(t, path, 512, vols)

	// Corrupt the primary header's CRC: the backup must be used, and say so.
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img[512+16] ^= 0xff
	bad := bytes.NewReader(img)
	if _, err := parseGPTHeader(bad, 512, 512); err == nil || !strings.Contains(err.Error(), "0x200") {
		t.Errorf("corrupt primary: error %v, want one naming offset 0x200", err)
	}
	bvols := mustList(t, bad)
	if len(bvols) != len(vols) {
		t.Fatalf("through backup: %d volumes, want %d", len(bvols), len(vols))
	}
	for i := range vols {
		a, b := vols[i], bvols[i]
		if a.Start != b.Start || a.Size != b.Size || a.UUID != b.UUID || a.Name != b.Name || a.TypeID != b.TypeID {
			t.Errorf("backup partition %d = %+v, primary %+v", i+1, b, a)
		}
		if len(b.Warnings) == 0 || !strings.Contains(b.Warnings[0], "primary GPT unusable") || !strings.Contains(b.Warnings[0], "0xc600") {
			t.Errorf("no warning about the backup at 0xc600 (LBA 99): %q", b.Warnings)
		}
	}
	bh, err := parseGPTHeader(bad, 99*512, 512)
	if err != nil {
		t.Fatal(err)
	}
	if bh.current != 99 || bh.backup != 1 || bh.entriesLBA != bh.lastUse+1 {
		t.Errorf("backup header %+v: want current 99, backup 1, entries at last usable + 1", bh)
	}
}

// plaso test_data/tsk_volume_system.raw: tests/cli/storage_media_tool.py.
func TestPeerPlasoMBR(t *testing.T) {
	path := testenv.PeerData(t, "images/plaso/tsk_volume_system.raw")
	vols := mustList(t, openDisk(t, path))
	p1 := byIndex(t, vols, 0, 1)
	if p1.Start != 512 || p1.Size != 179200 || p1.Scheme != "mbr" || p1.TypeID != "0x83" {
		t.Errorf("p1 %+v", p1)
	}
	ext := byIndex(t, vols, 0, 2)
	if !ext.Container || ext.TypeID != "0x05" {
		t.Errorf("p2 should be the extended container: %+v", ext)
	}
	p5 := byIndex(t, vols, 0, 5)
	if p5.Start != 180224 || p5.Size != 1294336 || p5.TypeID != "0x83" || p5.Container {
		t.Errorf("p5 %+v", p5)
	}
	// The logical partition holds an ext filesystem (peer: "contains an ext
	// file system"): its superblock magic is at 1024+56.
	var magic [2]byte
	if _, err := p5.ReadAt(magic[:], 1024+56); err != nil || magic != [2]byte{0x53, 0xef} {
		t.Errorf("p5 ext magic %x, %v", magic, err)
	}
	checkAgainstSfdisk(t, path, vols)
	checkAgainstMmls(t, path, 512, vols)
}

// util-linux tests/expected/blkid/lowprobe-pt-dos+bsd.
func TestPeerUtilLinuxDosBSD(t *testing.T) {
	r, path := xzPeer(t, "images/util-linux/dos+bsd.img.xz")
	vols := mustList(t, r)
	want := []struct {
		start, sectors int64
		typ, uuid      string
	}{{32, 7648, "0x83", "8f8378c0-01"}, {7680, 8704, "0xa5", "8f8378c0-02"}}
	if len(vols) != 2 {
		t.Fatalf("%d volumes: %+v", len(vols), vols)
	}
	for i, w := range want {
		v := vols[i]
		if v.Start != w.start*512 || v.Size != w.sectors*512 || v.TypeID != w.typ || v.UUID != w.uuid {
			t.Errorf("#%d: %+v, want %+v", i+1, v, w)
		}
	}
	checkAgainstSfdisk(t, path, vols)
	if v, err := Select(vols, "PARTUUID=8F8378C0-02"); err != nil || v.Index != 2 {
		t.Errorf("Select PARTUUID: %+v %v", v, err)
	}
}

// util-linux tests/expected/blkid/lowprobe-pt-gpt.
func TestPeerUtilLinuxGPT(t *testing.T) {
	r, path := xzPeer(t, "images/util-linux/gpt.img.xz")
	vols := mustList(t, r)
	want := []struct {
		start, sectors int64
		name, uuid     string
	}{
		{34, 2014, "ThisIsName", "1dcf10bc-637e-4c52-8203-087ae10a820b"},
		{2048, 2048, "ThisIsOtherName", "a1d03a96-7238-46c6-bbb3-789cbe173ec7"},
		{4096, 2048, "primary", "a7101b6c-468c-47df-aff6-cd444d12af61"},
		{6144, 2048, "primary", "afc4950a-f0f1-4add-802c-5957133486d1"},
		{8192, 2048, "primary", "0db0a787-c16b-4886-af3a-fbb97299677c"},
	}
	if len(vols) != len(want) {
		t.Fatalf("%d volumes: %+v", len(vols), vols)
	}
	for i, w := range want {
		v := vols[i]
		if v.Start != w.start*512 || v.Size != w.sectors*512 || v.Name != w.name || v.UUID != w.uuid ||
			v.TypeID != "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7" {
			t.Errorf("#%d: %+v, want %+v", i+1, v, w)
		}
	}
	for _, sel := range []string{"A7101B6C-468C-47DF-AFF6-CD444D12AF61", "/dev/disk/by-partuuid/a7101b6c-468c-47df-aff6-cd444d12af61"} {
		if v, err := Select(vols, sel); err != nil || v.Index != 3 {
			t.Errorf("Select(%q): %+v %v", sel, v, err)
		}
	}
	tab, err := readGPT(r, 512, 512, r.Size())
	if err != nil || tab.hdr.diskGUID != "dd27f98d-7519-4c9e-8041-f2bfa7b1ef61" {
		t.Errorf("disk GUID: %+v %v", tab, err)
	}
	checkAgainstSfdisk(t, path, vols)
	checkAgainstMmls(t, path, 512, vols)
}

// util-linux tests/expected/blkid/low-probe-lvm2: a PV label only.
func TestPeerUtilLinuxLVM2(t *testing.T) {
	r, _ := xzPeer(t, "images/util-linux/lvm2.img.xz")
	l, err := findPVLabel(r, r.Size())
	if err != nil || l == nil {
		t.Fatalf("label %v, %v", l, err)
	}
	if got := dashUUID(l.uuid); got != "Vynv4k-APH8-xQER-HSBb-8VJ3-SvFF-PB5O1U" {
		t.Errorf("PV UUID %s", got)
	}
	vols := mustList(t, r)
	if len(vols) != 1 || vols[0].Scheme != "whole" || !vols[0].Container || vols[0].TypeID != "LVM2_member" {
		t.Errorf("volumes %+v", vols)
	}
}

// util-linux filesystem images: blkid probes each as a filesystem on the
// whole device, so there is no partition table: one whole-disk volume.
func TestPeerUtilLinuxWholeDisk(t *testing.T) {
	for _, name := range []string{"ext2", "ext4", "fat", "small-fat32", "ntfs", "xfs", "btrfs"} {
		t.Run(name, func(t *testing.T) {
			r, _ := xzPeer(t, "images/util-linux/"+name+".img.xz")
			vols := mustList(t, r)
			if len(vols) != 1 || vols[0].Scheme != "whole" || vols[0].Selector != "disk" || vols[0].Size != r.Size() || vols[0].Container {
				t.Fatalf("volumes %+v", vols)
			}
			v, err := Select(vols, "disk")
			if err != nil || v.Size != r.Size() {
				t.Errorf("Select disk: %+v %v", v, err)
			}
		})
	}
}
