package image

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// Fuzz targets feed mutated containers through openReaderAt (no files
// touched) and read bounded pieces of whatever opens: no input may panic,
// hang or allocate by a header field.

// fuzzFiles are what a fuzzed image may name as backing file or extent.
var fuzzFiles = map[string][]byte{
	"base.raw":       bytes.Repeat([]byte("backing!"), 8192),
	"x-flat.vmdk":    bytes.Repeat([]byte{0x5a}, 65536),
	"parent.vhd":     nil, // present but empty: every parser must cope
	"parent.vhdx":    nil,
	"disk-s001.vmdk": nil,
}

func exercise(t *testing.T, format string, data []byte) {
	im, err := openReaderAt("fuzz", bytes.NewReader(data), int64(len(data)), format, "", fuzzFiles)
	if err != nil {
		return
	}
	defer im.Close()
	if len(im.Layers) > 0 && len(im.Layers[0].Snapshots) > 0 {
		snaps := im.Layers[0].Snapshots
		if sim, err := openReaderAt("fuzz", bytes.NewReader(data), int64(len(data)), format, snaps[0].ID, fuzzFiles); err == nil {
			read(t, sim)
			sim.Close()
		}
	}
	read(t, im)
}

// read reads a few places of an opened fuzz image.
func read(t *testing.T, im *Image) {
	size := im.Size()
	if size < 0 {
		t.Fatalf("negative size %d", size)
	}
	// Small reads keep each run quick under coverage instrumentation
	// (inflating is ~10x slower there).
	buf := make([]byte, 48<<10)
	for _, off := range []int64{0, 4096 + 13, size / 2, size - 1} {
		if off < 0 {
			off = 0
		}
		n, err := im.ReadAt(buf, off)
		if n > len(buf) || (err == nil && n != len(buf)) {
			t.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
		}
	}
}

// seed adds a small image made by qemu-img (when installed) and peer files.
func seed(f *testing.F, format string, peers []string, variants ...[]string) {
	if _, err := testenv.LookPath("qemu-img"); err == nil {
		dir := f.TempDir()
		raw := filepath.Join(dir, "s.raw")
		// Small, so the fuzzer's mutations hit structures and its
		// minimisation of new inputs stays quick.
		b := make([]byte, 16<<10)
		for i := range b {
			if i%4096 < 700 {
				b[i] = byte(i * 7 / 3)
			}
		}
		copy(b[10000:], "some text some text some text")
		os.WriteFile(raw, b, 0o644)
		os.WriteFile(filepath.Join(dir, "base.raw"), fuzzFiles["base.raw"], 0o644)
		for i, v := range variants {
			p := filepath.Join(dir, "s"+string(rune('a'+i)))
			testenv.Run(f, "qemu-img", append(append([]string{"convert", "-O", format}, v...), raw, p)...)
			if data, err := os.ReadFile(p); err == nil {
				if format == "vhdx" {
					data = compactVHDX(data)
				}
				// Big seeds make every run and every minimisation slow:
				// keep just the head (headers, tables, a vhd's footer copy).
				if len(data) > 256<<10 {
					data = data[:64<<10]
				}
				f.Add(data)
			}
		}
	}
	for _, p := range peers {
		if data, err := os.ReadFile(filepath.Join(testenv.Shared(f), "peerdata", p)); err == nil {
			f.Add(data)
		}
	}
}

func FuzzQcow2(f *testing.F) {
	seed(f, "qcow2", nil,
		[]string{"-o", "cluster_size=512"},
		[]string{"-c", "-o", "cluster_size=4096,compat=0.10"},
		[]string{"-c", "-o", "cluster_size=16k,extended_l2=on,compression_type=zstd"},
		[]string{"-o", "cluster_size=512,backing_file=base.raw,backing_fmt=raw"},
	)
	if _, err := testenv.LookPath("qemu-img"); err == nil {
		// A small image with an internal snapshot, for the snapshot table.
		p := filepath.Join(f.TempDir(), "snap.qcow2")
		testenv.Run(f, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", p, "64k")
		testenv.Run(f, "qemu-img", "snapshot", "-c", "first state", p)
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) { exercise(t, "qcow2", data) })
}

func FuzzVMDK(f *testing.F) {
	seed(f, "vmdk", []string{"images/go-vmdk-parser/vmdk-invalid.img"},
		nil,
		[]string{"-o", "subformat=streamOptimized"},
	)
	f.Add([]byte("# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n" +
		"RW 128 FLAT \"x-flat.vmdk\" 0\nRW 64 ZERO\nRDONLY 10 SPARSE \"disk-s001.vmdk\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) { exercise(t, "vmdk", data) })
}

func FuzzVHD(f *testing.F) {
	seed(f, "vpc", nil,
		[]string{"-o", "subformat=dynamic"},
		[]string{"-o", "subformat=fixed"},
	)
	if b, err := os.ReadFile(filepath.Join(testenv.Shared(f), "peerdata", "images", "dfvfs", "ext2.vhd")); err == nil {
		f.Add(b[:4096]) // the footer copy, dynamic header and BAT of a dynamic VHD
	}
	f.Fuzz(func(t *testing.T, data []byte) { exercise(t, "vhd", data) })
}

func FuzzVHDX(f *testing.F) {
	// The smallest vhdx qemu makes is a few MiB of mostly zeros; keep just
	// the structures (first 1 MiB: headers, region tables) as the seed, with
	// the metadata and BAT regions the fuzzer can reach by offset.
	seed(f, "vhdx", nil, []string{"-o", "block_size=1M"})
	f.Fuzz(func(t *testing.T, data []byte) { exercise(t, "vhdx", data) })
}

// compactVHDX moves a qemu-made vhdx's metadata and BAT regions (which
// qemu puts at 1 MiB boundaries) right behind the region tables and drops
// the data blocks, giving a seed of a few hundred KiB whose structures the
// fuzzer can reach.
func compactVHDX(b []byte) []byte {
	const base = vhdxRegion2 + vhdxRegionSize
	out := append([]byte(nil), b[:base]...)
	le := binary.LittleEndian
	rt := out[vhdxRegion1 : vhdxRegion1+vhdxRegionSize]
	for i := range int(le.Uint32(rt[8:])) {
		e := rt[16+i*32:]
		off, l := le.Uint64(e[16:]), uint64(le.Uint32(e[24:]))
		if off+l > uint64(len(b)) {
			return b
		}
		l = min(l, 68<<10) // the metadata items sit just past the 64 KiB table
		le.PutUint64(e[16:], uint64(len(out)))
		le.PutUint32(e[24:], uint32(l))
		out = append(out, b[off:off+l]...)
	}
	clear(rt[4:8])
	le.PutUint32(rt[4:], crc32Checksum(rt))
	copy(out[vhdxRegion2:], rt)
	return out
}

// TestFuzzSeeds checks that the hand-compacted vhdx seed still opens, so
// the fuzzer starts from a valid image.
func TestFuzzSeeds(t *testing.T) {
	testenv.NeedTool(t, "qemu-img")
	p := filepath.Join(t.TempDir(), "x.vhdx")
	testenv.Run(t, "qemu-img", "create", "-q", "-f", "vhdx", p, "1M")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	c := compactVHDX(b)
	if len(c) >= len(b) {
		t.Fatalf("compacted %d → %d bytes", len(b), len(c))
	}
	im, err := openReaderAt("x.vhdx", bytes.NewReader(c), int64(len(c)), "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if im.Size() != 1<<20 {
		t.Fatalf("size %d", im.Size())
	}
}
