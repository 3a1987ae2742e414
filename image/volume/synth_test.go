package volume

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// Synthetic structures, written from LVM's and the UEFI spec's layouts, for
// cases lvm2 cannot produce here (no device-mapper: thin pools, snapshots)
// and for hostile input.

const synthPVUUID = "MqPm9GYTJYSF9qu5ZKyuGg3Tt34fFc37"

// buildPV returns a PV of size bytes: label in sector 1, one metadata area
// at 4096 of mdaSize bytes with text at ringOff (wrapping after the end of
// the area to just behind the mda_header), data from 1 MiB.
func buildPV(size int64, mdaSize, ringOff uint64, text string) []byte {
	le := binary.LittleEndian
	b := make([]byte, size)
	lab := b[512:1024]
	copy(lab, lvmLabelID)
	le.PutUint64(lab[8:], 1)
	le.PutUint32(lab[20:], 32)
	copy(lab[24:], lvmLabelType)
	ph := lab[32:]
	copy(ph, synthPVUUID)
	le.PutUint64(ph[32:], uint64(size))
	le.PutUint64(ph[40:], 1<<20) // data area at pe_start
	le.PutUint64(ph[72:], 4096)  // metadata area
	le.PutUint64(ph[80:], mdaSize)
	le.PutUint32(lab[16:], lvmCRC(lab[20:]))

	mda := b[4096 : 4096+mdaSize]
	copy(mda[4:], lvmMDAMagic)
	le.PutUint32(mda[20:], 1)
	le.PutUint64(mda[24:], 4096)
	le.PutUint64(mda[32:], mdaSize)
	le.PutUint64(mda[40:], ringOff)
	le.PutUint64(mda[48:], uint64(len(text)))
	le.PutUint32(mda[56:], lvmCRC([]byte(text)))
	le.PutUint32(mda, lvmCRC(mda[4:mdaHeaderSize]))
	n := copy(mda[ringOff:], text)
	copy(mda[mdaHeaderSize:], text[n:])
	return b
}

// synthVG is metadata text in LVM's format for one PV "pv0" (the synthetic
// PV, pe_start 1 MiB, 1 MiB extents) with the given LV sections.
func synthVG(peCount int, lvs string) string {
	return fmt.Sprintf(`synth {
id = "d19uIu-8L08-qDEP-Buqd-MnPN-FGER-M1WM2R"
seqno = 7
format = "lvm2"
status = ["RESIZEABLE", "READ", "WRITE"]
extent_size = 2048	# 1 MiB
physical_volumes {
pv0 {
id = "MqPm9G-YTJY-SF9q-u5ZK-yuGg-3Tt3-4fFc37"
device = "/dev/sda2"
pe_start = 2048
pe_count = %d
}
}
logical_volumes {
%s
}
}
contents = "Text Format Volume Group"
version = 1
`, peCount, lvs)
}

func linearLV(name string, start, count, pe int) string {
	return fmt.Sprintf(`%s {
id = "LVUUID-%s"
status = ["READ", "WRITE", "VISIBLE"]
segment_count = 1
segment1 {
start_extent = %d
extent_count = %d
type = "striped"
stripe_count = 1	# linear
stripes = [
"pv0", %d
]
}
}
`, name, name, start, count, pe)
}

func TestLVMRingWrap(t *testing.T) {
	text := synthVG(8, linearLV("root", 0, 2, 3))
	const mdaSize = 64 << 10
	for _, ringOff := range []uint64{512, mdaSize - 100, mdaSize - uint64(len(text))} {
		pv := buildPV(16<<20, mdaSize, ringOff, text)
		for i := range 2 << 20 {
			pv[1<<20+3<<20+i] = byte(i*7 + i>>11)
		}
		vols := mustList(t, bytes.NewReader(pv))
		v := lvByName(t, vols, "synth/root")
		if v.Size != 2<<20 || v.UUID != "LVUUID-root" || !vols[0].Container {
			t.Fatalf("ring offset %d: %+v", ringOff, v)
		}
		got := make([]byte, v.Size)
		if _, err := v.ReadAt(got, 0); err != nil || !bytes.Equal(got, pv[4<<20:6<<20]) {
			t.Errorf("ring offset %d: LV bytes differ (%v)", ringOff, err)
		}
	}
}

func TestLVMUnsupported(t *testing.T) {
	lvs := linearLV("origin", 0, 2, 0) + linearLV("snap", 0, 1, 2) + `
pool { id = "P" status = ["READ", "WRITE", "VISIBLE"] segment1 { start_extent = 0 extent_count = 1 type = "thin-pool" metadata = "pool_tmeta" pool = "pool_tdata" } }
thin1 { id = "T" status = ["READ", "WRITE", "VISIBLE"] segment1 { start_extent = 0 extent_count = 4 type = "thin" thin_pool = "pool" device_id = 1 } }
mirror { id = "R" status = ["READ", "WRITE", "VISIBLE"] segment1 { start_extent = 0 extent_count = 1 type = "raid1" device_count = 2 raids = ["mirror_rmeta_0", "mirror_rimage_0"] } }
mirror_rimage_0 { id = "RI" status = ["READ", "WRITE"] segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 3] } }
cached { id = "C" status = ["READ", "WRITE", "VISIBLE"] segment1 { start_extent = 0 extent_count = 1 type = "cache" cache_pool = "cpool" origin = "cached_corig" } }
snapshot0 { id = "S" status = ["READ"] segment1 { start_extent = 0 extent_count = 2 type = "snapshot" chunk_size = 8 origin = "origin" cow_store = "snap" } }
`
	pv := buildPV(16<<20, 64<<10, 512, synthVG(8, lvs))
	vols := mustList(t, bytes.NewReader(pv))
	for name, want := range map[string]string{
		"pool":      `"thin-pool" segments not supported yet`,
		"thin1":     `"thin" segments not supported yet`,
		"mirror":    `"raid1" segments not supported yet`,
		"cached":    `"cache" segments not supported yet`,
		"snap":      "snapshots not supported yet",
		"snapshot0": `"snapshot" segments not supported yet`,
	} {
		v := lvByName(t, vols, "synth/"+name)
		if !strings.Contains(v.Unsupported, want) {
			t.Errorf("%s: Unsupported %q, want %q", name, v.Unsupported, want)
		}
		if _, err := v.ReadAt(make([]byte, 512), 0); err == nil || !strings.Contains(err.Error(), "not supported yet") {
			t.Errorf("%s: read error %v", name, err)
		}
	}
	if v := lvByName(t, vols, "synth/thin1"); v.Size != 4<<20 || v.Type != "lvm thin" {
		t.Errorf("thin LV listed as %+v, want 4 MiB of type thin", v)
	}
	for _, name := range []string{"origin", "mirror_rimage_0"} {
		if v := lvByName(t, vols, "synth/"+name); v.Unsupported != "" || v.Type != "lvm linear" {
			t.Errorf("%s should be readable: %+v", name, v)
		}
	}
	if v := lvByName(t, vols, "synth/mirror_rimage_0"); !v.Hidden {
		t.Errorf("raid image not hidden: %+v", v)
	}
}

// Hostile LVM input: each bad structure is reported with where it is.
func TestLVMHostile(t *testing.T) {
	good := synthVG(8, linearLV("root", 0, 2, 3))
	cases := []struct {
		name string
		pv   func() []byte
		want string // in the PV's warnings or the LV's Unsupported
	}{
		{"raw_locn past area", func() []byte {
			b := buildPV(16<<20, 64<<10, 512, good)
			binary.LittleEndian.PutUint64(b[4096+40:], 1<<40)
			binary.LittleEndian.PutUint32(b[4096:], lvmCRC(b[4100:4096+512]))
			return b
		}, "raw_locn at 0x1028: text offset 0x10000000000 outside the metadata area"},
		{"text size beyond area", func() []byte {
			b := buildPV(16<<20, 64<<10, 512, good)
			binary.LittleEndian.PutUint64(b[4096+48:], 1<<62)
			binary.LittleEndian.PutUint32(b[4096:], lvmCRC(b[4100:4096+512]))
			return b
		}, "raw_locn at 0x1028: text size 0x4000000000000000 larger than the metadata area"},
		{"metadata crc", func() []byte {
			b := buildPV(16<<20, 64<<10, 512, good)
			b[4096+600] ^= 1
			return b
		}, "metadata text at 0x1200"},
		{"mda header crc", func() []byte {
			b := buildPV(16<<20, 64<<10, 512, good)
			b[4096+100] ^= 1
			return b
		}, "mda_header at 0x1000: CRC"},
		{"mda area past PV", func() []byte {
			b := buildPV(16<<20, 64<<10, 512, good)
			binary.LittleEndian.PutUint64(b[512+32+72:], 1<<50)
			binary.LittleEndian.PutUint32(b[512+16:], lvmCRC(b[512+20:1024]))
			return b
		}, "metadata area 0x4000000000000+0x10000 outside the PV"},
		{"extents past PV", func() []byte {
			return buildPV(16<<20, 64<<10, 512, synthVG(100, linearLV("root", 0, 20, 3)))
		}, "end at 0x1800000, past the PV device (0x1000000 bytes)"},
		{"extents past pe_count", func() []byte {
			return buildPV(16<<20, 64<<10, 512, synthVG(8, linearLV("root", 0, 20, 3)))
		}, "extents 3+20 past pv0's 8 extents"},
		{"huge stripe count", func() []byte {
			lv := strings.Replace(linearLV("root", 0, 2, 3), "stripe_count = 1", "stripe_count = 1000000000", 1)
			return buildPV(16<<20, 64<<10, 512, synthVG(8, lv))
		}, "stripe_count 1000000000 outside 1..128"},
		{"extent overflow", func() []byte {
			return buildPV(16<<20, 64<<10, 512, synthVG(8, linearLV("root", 0, 2, 1<<62)))
		}, "past pv0's 8 extents"},
		{"deep nesting", func() []byte {
			return buildPV(16<<20, 64<<10, 512, strings.Repeat("a {", 10000)+strings.Repeat("}", 10000))
		}, "nested deeper than 32"},
		{"unterminated", func() []byte {
			return buildPV(16<<20, 64<<10, 512, `vg { id = "abc`)
		}, "lvm metadata: at byte 10: unterminated string"},
		{"huge item count", func() []byte {
			return buildPV(8<<20, 6<<20, 512, "vg { x = ["+strings.Repeat("1,", 1<<18+10)+"1] }")
		}, "more than 262144 items"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vols, err := List(bytes.NewReader(c.pv()))
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			var all []string
			for _, v := range vols {
				all = append(all, v.Warnings...)
				if v.Unsupported != "" {
					all = append(all, v.Unsupported)
				}
			}
			if s := strings.Join(all, "\n"); !strings.Contains(s, c.want) {
				t.Errorf("findings:\n%s\nwant %q", s, c.want)
			}
		})
	}
}

func TestLVMConfigRealText(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "testdata", "volume", "lvm-metadata.txt"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeVGCopy(text, "test")
	if err != nil {
		t.Fatal(err)
	}
	if c.name != "cctest" || c.seqno != 3 || c.id != "d19uIu-8L08-qDEP-Buqd-MnPN-FGER-M1WM2R" {
		t.Errorf("%+v", c)
	}
	lv := c.sect.get("logical_volumes").get("b").get("segment1")
	if n, _ := lv.int("extent_count"); n != 3 || lv.strings("stripes")[0] != "pv0" {
		t.Errorf("segment %+v", lv)
	}
}

// mbrDisk writes an MBR with the given entries (type, LBA, count).
func mbrDisk(size int64, entries ...[3]uint32) []byte {
	b := make([]byte, size)
	putMBR(b[:512], entries...)
	return b
}

func putMBR(sec []byte, entries ...[3]uint32) {
	for i, e := range entries {
		p := sec[446+16*i:]
		p[4] = byte(e[0])
		binary.LittleEndian.PutUint32(p[8:], e[1])
		binary.LittleEndian.PutUint32(p[12:], e[2])
	}
	sec[510], sec[511] = 0x55, 0xaa
}

func TestMBRHostile(t *testing.T) {
	const size = 1 << 20 // 2048 sectors
	cases := []struct {
		name string
		disk func() []byte
		want string
	}{
		{"past end", func() []byte { return mbrDisk(size, [3]uint32{0x83, 2048, 10}) }, "mbr: partition entry 1 at 0x1be: partition 0x100000+0x1400 ends past the disk end 0x100000"},
		{"huge count", func() []byte { return mbrDisk(size, [3]uint32{0x83, 1, 0xffffffff}) }, "ends past the disk end"},
		{"overlap", func() []byte {
			return mbrDisk(size, [3]uint32{0x83, 1, 100}, [3]uint32{0x83, 50, 100})
		}, "entry 2 at 0x1ce: partition 2 (0x6400+0xc800) overlaps partition 1"},
		{"EBR loop", func() []byte {
			b := mbrDisk(size, [3]uint32{0x05, 100, 1000})
			putMBR(b[100*512:], [3]uint32{0x83, 1, 10}, [3]uint32{0x05, 20, 30})
			putMBR(b[120*512:], [3]uint32{0x83, 1, 10}, [3]uint32{0x05, 0, 30})
			return b
		}, "EBR chain at 0xc800: loop back to EBR at 0xc800"},
		{"logical outside extended", func() []byte {
			b := mbrDisk(size, [3]uint32{0x05, 100, 50})
			putMBR(b[100*512:], [3]uint32{0x83, 1, 100})
			return b
		}, "mbr: EBR at 0xc800 entry 1 (0xc9be): logical partition 0xca00+0xc800 lies outside the extended partition"},
		{"link outside extended", func() []byte {
			b := mbrDisk(size, [3]uint32{0x05, 100, 50})
			putMBR(b[100*512:], [3]uint32{0x83, 1, 10}, [3]uint32{0x05, 60, 10})
			return b
		}, "next EBR at 0x14000 lies outside the extended partition"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := List(bytes.NewReader(c.disk()))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want %q", err, c.want)
			}
		})
	}
	t.Run("long chain", func(t *testing.T) {
		// 300 EBRs, each one sector apart: more than maxEBRs.
		b := mbrDisk(size, [3]uint32{0x05, 1, 2000})
		for i := 0; i < 300; i++ {
			putMBR(b[(1+i*2)*512:], [3]uint32{0x83, 1, 1}, [3]uint32{0x05, uint32(i*2 + 2), 2})
		}
		if _, err := List(bytes.NewReader(b)); err == nil || !strings.Contains(err.Error(), "more than 256 EBRs") {
			t.Errorf("err %v", err)
		}
	})
}

// gptDisk builds a 512-byte-sector GPT (primary only) with entries given
// as (first, last) LBAs and the header fields numEntries/entrySize.
func gptDisk(size int64, numEntries, entrySize uint32, parts ...[2]uint64) []byte {
	le := binary.LittleEndian
	b := make([]byte, size)
	putMBR(b[:512], [3]uint32{0xee, 1, uint32(size/512 - 1)})
	arr := b[1024 : 1024+32*512]
	for i, p := range parts {
		e := arr[i*128:]
		copy(e, []byte{0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4})
		e[16] = byte(i + 1)
		le.PutUint64(e[32:], p[0])
		le.PutUint64(e[40:], p[1])
	}
	h := b[512:1024]
	copy(h, gptSig)
	le.PutUint32(h[8:], 0x00010000)
	le.PutUint32(h[12:], 92)
	le.PutUint64(h[24:], 1)
	le.PutUint64(h[32:], uint64(size/512-1))
	le.PutUint64(h[40:], 34)
	le.PutUint64(h[48:], uint64(size/512-34))
	le.PutUint64(h[72:], 2)
	le.PutUint32(h[80:], numEntries)
	le.PutUint32(h[84:], entrySize)
	n := min(int(numEntries)*int(entrySize), len(arr))
	le.PutUint32(h[88:], crc32.ChecksumIEEE(arr[:n]))
	le.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
	return b
}

func TestGPTHostile(t *testing.T) {
	const size = 1 << 20
	cases := []struct {
		name string
		disk []byte
		want string
	}{
		{"entry past end", gptDisk(size, 128, 128, [2]uint64{34, 5000}), "gpt: entry 1 at 0x400: partition LBA 34–5000 ends past the disk end (2048 sectors)"},
		{"overlap", gptDisk(size, 128, 128, [2]uint64{34, 100}, [2]uint64{90, 200}), "gpt: entry 2 at 0x480: partition 2 (0xb400+0xde00) overlaps partition 1"},
		{"too many entries", gptDisk(size, 1<<30, 128), "gpt: header at 0x200: 1073741824 entries of 128 bytes exceed the 1048576-byte limit"},
		{"odd entry size", gptDisk(size, 128, 100), "partition entry size 100 is not 128×2^n"},
		{"last before first", gptDisk(size, 128, 128, [2]uint64{100, 50}), "gpt: entry 1 at 0x400: last LBA 50 before first LBA 100"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := List(bytes.NewReader(c.disk))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v\nwant %q", err, c.want)
			}
		})
	}
	// An entry over the entry array is readable but flagged.
	over := mustList(t, bytes.NewReader(gptDisk(size, 128, 128, [2]uint64{2, 100})))
	if len(over) != 1 || !strings.Contains(strings.Join(over[0].Warnings, ";"), "gpt: entry 1 at 0x400: LBA 2–100 outside the usable LBAs 34–2014") {
		t.Errorf("entry over the GPT structures: %+v", over)
	}
	// The builder itself is sound: a good table lists.
	vols := mustList(t, bytes.NewReader(gptDisk(size, 128, 128, [2]uint64{34, 100})))
	if len(vols) != 1 || vols[0].Start != 34*512 {
		t.Errorf("good synthetic GPT: %+v", vols)
	}
}

func TestSelectGrammar(t *testing.T) {
	for _, c := range []struct{ in, vg, lv string }{
		{"vg0-root", "vg0", "root"},
		{"my--vg-lv--1", "my-vg", "lv-1"},
		{"/dev/mapper/a--b--c-d", "a-b-c", "d"},
		{"/dev/vg0/root", "vg0", "root"},
		{"vg0/root", "vg0", "root"},
	} {
		vg, lv, ok := lvSel(c.in)
		if !ok || vg != c.vg || lv != c.lv {
			t.Errorf("lvSel(%q) = %q %q %v", c.in, vg, lv, ok)
		}
	}
	for _, bad := range []string{"vg0", "-lv", "vg-", "/dev/a/b/c"} {
		if vg, lv, ok := lvSel(bad); ok {
			t.Errorf("lvSel(%q) = %q %q", bad, vg, lv)
		}
	}
	for _, c := range []struct {
		in   string
		d, p int
		ok   bool
	}{{"p2", 0, 2, true}, {"d2p1", 1, 1, true}, {"p0", 0, 0, false}, {"p-1", 0, 0, false}, {"d0p1", -1, 1, false}, {"pp", 0, 0, false}} {
		d, p, ok := partSel(c.in)
		if ok != c.ok || ok && (d != c.d || p != c.p) {
			t.Errorf("partSel(%q) = %d %d %v", c.in, d, p, ok)
		}
	}
	// Whole disk through a partitioned one, and a second disk.
	a := bytes.NewReader(gptDisk(1<<20, 128, 128, [2]uint64{34, 100}))
	b := bytes.NewReader(make([]byte, 4096))
	vols := mustList(t, a, b)
	if v, err := Select(vols, "disk"); err != nil || v.Size != 1<<20 || v.Scheme != "whole" {
		t.Errorf("disk: %+v %v", v, err)
	}
	if v, err := Select(vols, "d2"); err != nil || v.Size != 4096 || v.Disk != 1 {
		t.Errorf("d2: %+v %v", v, err)
	}
	if v, err := Select(vols, "p1"); err != nil || v.Start != 34*512 {
		t.Errorf("p1: %+v %v", v, err)
	}
	if _, err := Select(vols, "p9"); err == nil || !strings.Contains(err.Error(), `"p1 d2"`) {
		t.Errorf("p9: %v", err)
	}
}

// Two LVs, and two segments of one LV, mapped onto the same physical
// extents: the metadata checks (each LV's logical segments are contiguous)
// pass, so only the physical side can show it.
func TestLVMSharedExtents(t *testing.T) {
	twoSegs := `dup {
id = "LVUUID-dup"
status = ["READ", "WRITE", "VISIBLE"]
segment_count = 2
segment1 {
start_extent = 0
extent_count = 2
type = "striped"
stripe_count = 1
stripes = [
"pv0", 5
]
}
segment2 {
start_extent = 2
extent_count = 2
type = "striped"
stripe_count = 1
stripes = [
"pv0", 4
]
}
}
`
	cases := []struct {
		name string
		lvs  string
		want map[string]string // LV name → warning it must carry ("" none)
	}{
		{"disjoint", linearLV("a", 0, 2, 0) + linearLV("b", 0, 2, 2), map[string]string{"synth/a": "", "synth/b": ""}},
		{"two LVs", linearLV("a", 0, 3, 0) + linearLV("b", 0, 2, 2), map[string]string{
			"synth/a": "bytes 0x300000–0x400000 are mapped by both LV synth/a and LV synth/b",
			"synth/b": "bytes 0x300000–0x400000 are mapped by both LV synth/a and LV synth/b"}},
		{"one LV twice", twoSegs, map[string]string{"synth/dup": "bytes 0x600000–0x700000 are mapped by both LV synth/dup and LV synth/dup"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vols := mustList(t, bytes.NewReader(buildPV(16<<20, 64<<10, 512, synthVG(8, c.lvs))))
			seen := 0
			for _, v := range vols {
				want, ok := c.want[v.Name]
				if !ok {
					continue
				}
				seen++
				if v.Unsupported != "" {
					t.Errorf("%s: unsupported: %s", v.Name, v.Unsupported)
				}
				got := strings.Join(v.Warnings, "\n")
				if want == "" && got != "" || !strings.Contains(got, want) {
					t.Errorf("%s warnings:\n%s\nwant %q", v.Name, got, want)
				}
				if want != "" && strings.Count(got, want) != 1 {
					t.Errorf("%s: warning repeated:\n%s", v.Name, got)
				}
			}
			if seen != len(c.want) {
				t.Errorf("found %d of the LVs %v in %+v", seen, c.want, vols)
			}
		})
	}
}

// A header may claim the largest entry array (1 MiB) on a disk far too
// small for it: the array must be refused before it is allocated, so
// what List allocates follows the disk, not the header.
func TestGPTEntryArrayAllocation(t *testing.T) {
	disk := gptDisk(64<<10, 8192, 128, [2]uint64{34, 40})
	_, err := List(bytes.NewReader(disk))
	if err == nil || !strings.Contains(err.Error(), "lies past the disk end") {
		t.Fatalf("err %v, want the entry array refused", err)
	}
	const runs = 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		List(bytes.NewReader(disk))
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 256<<10 {
		t.Errorf("List allocates %d bytes per call on a 64 KiB disk claiming a 1 MiB entry array", per)
	}
}
