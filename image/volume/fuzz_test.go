package volume

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// checkVols asserts what every listing must satisfy whatever the input.
func checkVols(t *testing.T, vols []Volume, size int64) {
	for _, v := range vols {
		if v.Scheme == "lvm" {
			continue
		}
		if v.Start < 0 || v.Size < 0 || v.Start+v.Size > size {
			t.Fatalf("%s: %#x+%#x outside the %#x-byte disk", v.Selector, v.Start, v.Size, size)
		}
	}
}

func peerSeed(f *testing.F, rel string, max int) {
	p := testenv.PeerData(f, rel)
	b, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:min(len(b), max)])
}

func FuzzMBR(f *testing.F) {
	b := mbrDisk(64<<10, [3]uint32{0x83, 1, 20}, [3]uint32{0x05, 21, 100})
	putMBR(b[21*512:], [3]uint32{0x83, 1, 10}, [3]uint32{0x05, 20, 20})
	putMBR(b[41*512:], [3]uint32{0x8e, 1, 10}, [3]uint32{0x05, 40, 20})
	putMBR(b[61*512:], [3]uint32{0x07, 2, 10})
	f.Add(b)
	f.Add(mbrDisk(4096, [3]uint32{0x83, 1, 4}, [3]uint32{0x83, 3, 2}))
	peerSeed(f, "images/plaso/tsk_volume_system.raw", 1<<10)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 512 || !looksLikeMBR(data) {
			return
		}
		r := bytes.NewReader(data)
		parts, err := parseMBR(r, r.Size(), data[:512])
		if err != nil {
			return
		}
		for _, p := range parts {
			if p.start < 0 || p.size < 0 || p.start+p.size > r.Size() {
				t.Fatalf("partition %d %#x+%#x outside the disk", p.index, p.start, p.size)
			}
		}
		vols, err := List(r)
		if err == nil {
			checkVols(t, vols, r.Size())
		}
	})
}

func FuzzGPT(f *testing.F) {
	f.Add(gptDisk(24<<10, 128, 128, [2]uint64{34, 40}, [2]uint64{41, 44}))
	f.Add(gptDisk(24<<10, 4, 256, [2]uint64{34, 40}))
	peerSeed(f, "images/gpt-rs/gpt-disk.img", 1<<20)
	peerSeed(f, "images/gptman/disk1.img", 1<<20)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for _, ss := range []int{512, 4096} {
			tab, _, err := parseGPT(r, r.Size(), ss)
			if err != nil {
				continue
			}
			for _, p := range tab.parts {
				if p.start < 0 || p.size <= 0 || p.start+p.size > r.Size() {
					t.Fatalf("entry %d %#x+%#x outside the disk", p.index, p.start, p.size)
				}
			}
		}
		if vols, err := List(r); err == nil {
			checkVols(t, vols, r.Size())
		}
	})
}

func FuzzLVMLabel(f *testing.F) {
	text := synthVG(8, linearLV("root", 0, 2, 3))
	// Small seeds: the coverage-guided engine slows to a crawl on inputs
	// of tens of KiB.
	f.Add(buildPV(8<<10, 4<<10, 512, text))
	f.Add(buildPV(8<<10, 4<<10, 4<<10-100, text))
	peerSeed(f, "images/util-linux/lvm2.img.xz", 1<<10) // compressed: still a useful byte soup
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		l, err := findPVLabel(r, r.Size())
		if err != nil || l == nil {
			return
		}
		for _, a := range l.mdas {
			text, err := readMetadata(r, r.Size(), a)
			if err == nil && len(text) > int(r.Size()) {
				t.Fatalf("%d bytes of metadata from a %d-byte PV", len(text), r.Size())
			}
		}
		if vols, err := List(r); err == nil {
			readLVs(t, vols)
		}
	})
}

func FuzzLVMMetadata(f *testing.F) {
	real, err := os.ReadFile(filepath.Join(testenv.RepoRoot(f), "testdata", "volume", "lvm-metadata.txt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add([]byte(synthVG(8, linearLV("root", 0, 2, 3)+linearLV("home", 2, 1, 0))))
	f.Add([]byte(synthVG(64, `s { id = "x" status = ["VISIBLE"] segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 2 stripe_size = 128 stripes = ["pv0", 0, "pv0", 8] } }`)))
	f.Add([]byte(synthVG(8, `t { segment1 { start_extent = 0 extent_count = 1 type = "thin" } } c { segment1 { type = "snapshot" cow_store = "t" origin = "x" } }`)))
	f.Add([]byte(`a { b = -1.5e3 c = [] d = "\"q\\" # c` + "\n}"))
	pv := pvDev{vol: 0, r: zeroDisk{1 << 40}, size: 1 << 40, label: &pvLabel{uuid: synthPVUUID}}
	vols := []Volume{{Scheme: "gpt", disk: zeroDisk{1 << 40}}}
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := decodeVGCopy(text, "fuzz")
		if err != nil {
			return
		}
		lvs, err := buildLVs(c, []pvDev{pv}, vols)
		if err != nil {
			return
		}
		readLVs(t, lvs)
	})
}

// readLVs reads a little at the start and end of every LV.
func readLVs(t *testing.T, vols []Volume) {
	buf := make([]byte, 4096)
	for _, v := range vols {
		if v.Scheme != "lvm" || v.Unsupported != "" {
			continue
		}
		if v.Size < 0 {
			t.Fatalf("%s: size %d", v.Name, v.Size)
		}
		for _, off := range []int64{0, v.Size / 2, max(0, v.Size-100)} {
			n, err := v.ReadAt(buf, off)
			if n > len(buf) || err == nil && off+int64(n) > v.Size {
				t.Fatalf("%s: ReadAt(%d) = %d, %v", v.Name, off, n, err)
			}
		}
	}
}

type zeroDisk struct{ size int64 }

func (z zeroDisk) Size() int64 { return z.size }
func (z zeroDisk) ReadAt(p []byte, off int64) (int, error) {
	if off >= z.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.size-off)
	clear(p[:n])
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}
