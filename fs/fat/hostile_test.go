package fat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

func rustFat12(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(testenv.PeerData(t, "images/rust-fatfs/fat12.img"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// setEntry writes FAT12 entry c in both FATs of an in-memory image.
func setEntry12(f *FS, img []byte, c, v uint32) {
	for i := int64(0); i < int64(f.b.numFATs); i++ {
		o := f.fat.base + i*f.fat.limit + entryOffset(12, c)
		w := binary.LittleEndian.Uint16(img[o:])
		if c&1 == 1 {
			w = w&0x000f | uint16(v)<<4
		} else {
			w = w&0xf000 | uint16(v)
		}
		binary.LittleEndian.PutUint16(img[o:], w)
	}
}

func TestHostileChainLoop(t *testing.T) {
	img := rustFat12(t)
	f := openBytes(t, img)
	n := f.nodeOf(t, "long.txt")
	ext, _, err := f.fat.chain(n.cluster, 0)
	if err != nil || len(ext) == 0 || ext[0].n < 3 {
		t.Fatalf("long.txt chain %v %v", ext, err)
	}
	// Third cluster points back to the first.
	setEntry12(f, img, n.cluster+2, n.cluster)
	f = openBytes(t, img)
	_, err = f.Open("long.txt")
	if !errors.Is(err, ErrLoop) || !strings.Contains(err.Error(), "FAT byte 0x") {
		t.Fatalf("looping chain: %v", err)
	}
	// A chain leaving the data area.
	img = rustFat12(t)
	setEntry12(f, img, n.cluster+2, 0xff0)
	f = openBytes(t, img)
	if _, err = f.Open("long.txt"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("chain out of range: %v", err)
	}
}

func TestHostileDirectoryCycle(t *testing.T) {
	img := rustFat12(t)
	f := openBytes(t, img)
	very := f.nodeOf(t, "very")
	long := f.nodeOf(t, "very/long")
	// very/long now starts at very's own cluster.
	binary.LittleEndian.PutUint16(img[long.off+26:], uint16(very.cluster))
	f = openBytes(t, img)
	err := iofs.WalkDir(f, ".", func(p string, d iofs.DirEntry, err error) error { return err })
	if !errors.Is(err, ErrLoop) {
		t.Fatalf("walk of a cyclic tree: %v", err)
	}
}

func TestHostileHugeSize(t *testing.T) {
	img := rustFat12(t)
	f := openBytes(t, img)
	n := f.nodeOf(t, "short.txt")
	binary.LittleEndian.PutUint32(img[n.off+28:], 0xfffffff0)
	f = openBytes(t, img)
	_, err := f.Open("short.txt")
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "slot at 0x") {
		t.Fatalf("huge size: %v", err)
	}
	// A truncated volume: reads past its end are errors, not panics.
	f2, err := Open(bytes.NewReader(img[:len(img)/2]), int64(len(img)/2))
	if err != nil {
		t.Fatal(err)
	}
	iofs.WalkDir(f2, ".", func(p string, d iofs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			iofs.ReadFile(f2, p) // errors are expected; panics are not
		}
		return nil
	})
	if len(f2.Info().Notes) < 3 {
		t.Errorf("truncation not noted: %v", f2.Info().Notes)
	}
}

func TestBootSectorRejects(t *testing.T) {
	img := rustFat12(t)
	for name, patch := range map[string]func(b []byte){
		"zero sector size":   func(b []byte) { b[11], b[12] = 0, 0 },
		"3 sectors/cluster":  func(b []byte) { b[13] = 3 },
		"no FATs":            func(b []byte) { b[16] = 0 },
		"no reserved":        func(b []byte) { b[14], b[15] = 0, 0 },
		"FAT past the end":   func(b []byte) { binary.LittleEndian.PutUint16(b[22:], 0xffff) },
		"FAT too small":      func(b []byte) { binary.LittleEndian.PutUint16(b[22:], 1) },
		"no jump":            func(b []byte) { b[0] = 0 },
		"zero total sectors": func(b []byte) { b[19], b[20] = 0, 0 },
	} {
		b := append([]byte(nil), img[:512]...)
		patch(b)
		if _, err := parseBPB(b); !errors.Is(err, ErrNotFAT) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// fuzzSeeds are small real images: the peer ones and, when dosfstools
// and mtools are here, a tiny FAT12 with a long name and a deleted file.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, p := range []string{"images/velociraptor/fat_very_small.dd"} {
		if b, err := os.ReadFile(filepath.Join(testenv.Shared(f), "peerdata", p)); err == nil {
			seeds = append(seeds, b)
		}
	}
	mkfs, err1 := testenv.LookPath("mkfs.vfat")
	mcopy, err2 := testenv.LookPath("mcopy")
	if err1 == nil && err2 == nil {
		dir := f.TempDir()
		img := filepath.Join(dir, "tiny.img")
		src := filepath.Join(dir, "A long file name.txt")
		os.WriteFile(src, []byte(strings.Repeat("x", 1500)), 0o644)
		testenv.Run(f, mkfs, "-C", "-F", "12", "-s", "1", "-r", "16", "-n", "TINY", img, "64")
		testenv.Run(f, mcopy, "-i", img, src, "::/")
		if b, err := os.ReadFile(img); err == nil {
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// FuzzBootSector: parseBPB on any 512 bytes must not panic and must keep
// the layout inside the declared sectors.
func FuzzBootSector(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s[:512])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseBPB(b)
		if err != nil {
			return
		}
		if p.firstClusSect >= p.totSec || p.clusterCount == 0 || p.clusterSize <= 0 {
			t.Fatalf("accepted bad layout %+v", p)
		}
	})
}

// FuzzDirEntries: directory slots and long-name runs from any bytes.
func FuzzDirEntries(f *testing.F) {
	f.Add(buildLFNSlots("smile 😀 face.txt", []byte("SMILE_~1TXT"), shortChecksum([]byte("SMILE_~1TXT"))))
	for _, s := range fuzzSeeds(f) {
		if fs, err := Open(bytes.NewReader(s), int64(len(s))); err == nil {
			if buf, _, err := fs.dirBytes(fs.root); err == nil {
				f.Add(buf)
			}
		}
	}
	b := &bpb{bytesPerSector: 512, bits: 32}
	f.Fuzz(func(t *testing.T, buf []byte) {
		l := parseDir(buf, func(i int) int64 { return int64(i) * 32 }, b)
		for _, n := range append(l.live, l.deleted...) {
			if !iofs.ValidPath(n.name) || strings.Contains(n.name, "/") {
				t.Fatalf("name %q is not one path element", n.name)
			}
		}
	})
}

// FuzzFS: open, walk, read every file and list deleted entries of a real
// small image with one patch applied (landing in the first 8 KiB, where
// the boot sector, FATs and root directory are, when off's high bit is
// set). Errors are fine; panics and hangs are not. This drives the FAT
// chain code with hostile FATs.
func FuzzFS(f *testing.F) {
	seeds := fuzzSeeds(f)
	if len(seeds) == 0 {
		f.Skip("no seed image (peer data or dosfstools+mtools)")
	}
	base := seeds[len(seeds)-1]
	f.Add(uint32(0), []byte{})
	f.Add(uint32(0x80000000|0x200), []byte{0xf8, 0xff, 0xff, 0x03, 0x40, 0x00})
	f.Add(uint32(0x80000000|0x0d), []byte{0x80})
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		img := bytes.Clone(base)
		o := int(off&0x7fffffff) % len(img)
		if off&0x80000000 != 0 {
			o = int(off&0x1fff) % len(img)
		}
		copy(img[o:], patch)
		fs, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			return
		}
		fs.Info()
		iofs.WalkDir(fs, ".", func(p string, d iofs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if fl, err := fs.Open(p); err == nil {
				io.Copy(io.Discard, fl.(io.Reader))
			}
			return nil
		})
		fs.Deleted()
	})
}

// Deleted walks every live directory; on a tree whose directory points
// back at its ancestor it must still end, listing each directory once.
func TestHostileDeletedOnCycle(t *testing.T) {
	img := rustFat12(t)
	f := openBytes(t, img)
	want, err := f.Deleted()
	if err != nil {
		t.Fatal(err)
	}
	very := f.nodeOf(t, "very")
	long := f.nodeOf(t, "very/long")
	binary.LittleEndian.PutUint16(img[long.off+26:], uint16(very.cluster))
	f = openBytes(t, img)
	done := make(chan struct{})
	var got []string
	go func() {
		defer close(done)
		del, _ := f.Deleted()
		for _, d := range del {
			got = append(got, d.Path)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Deleted does not end on a cyclic tree")
	}
	// very/long's own subtree is now unreachable; nothing may be listed twice.
	seen := map[string]bool{}
	for _, p := range got {
		if seen[p] {
			t.Errorf("%q listed twice", p)
		}
		seen[p] = true
	}
	if len(got) > len(want) {
		t.Errorf("cyclic tree lists %d deleted entries, the clean one %d", len(got), len(want))
	}
}

// A directory slot whose first cluster is 0 (the FAT12/16 root's alias,
// only valid in "..") or 1 (reserved) or past the data area must not be
// read as the root or as clusters before the data area.
func TestHostileDirectoryFirstCluster(t *testing.T) {
	for _, c := range []uint16{0, 1, 0xff5} {
		img := rustFat12(t)
		f := openBytes(t, img)
		long := f.nodeOf(t, "very/long")
		binary.LittleEndian.PutUint16(img[long.off+26:], c)
		f = openBytes(t, img)
		ents, err := f.ReadDir("very/long")
		t.Logf("cluster %#x: %d entries, %v", c, len(ents), err)
		if err == nil {
			root, _ := f.ReadDir(".")
			if len(ents) == len(root) && len(ents) > 0 && ents[0].Name() == root[0].Name() {
				t.Errorf("cluster %d: very/long lists the root directory", c)
			}
			continue
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrLoop) {
			t.Errorf("cluster %d: %v, want ErrCorrupt or ErrLoop", c, err)
		}
	}
}
