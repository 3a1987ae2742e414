package ext4

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/fs/internal/fsutil"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// seed returns a fresh copy of a committed seed image (testdata/ext4/mkseed.sh).
func seed(tb testing.TB, name string) []byte {
	tb.Helper()
	fh, err := os.Open(filepath.Join(testenv.RepoRoot(tb), "testdata", "ext4", name+".img.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

var le = binary.LittleEndian

// inodeOf finds a path's inode in an image before it is damaged.
func inodeOf(t *testing.T, img []byte, name string) *Inode {
	t.Helper()
	f := openBytes(t, img)
	fi, err := f.Lstat(name)
	if err != nil {
		t.Fatal(err)
	}
	in, err := f.inode(cfs.StatOf(fi).Inode)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func extentHdr(b []byte, entries, max, depth uint16) {
	le.PutUint16(b, extentMagic)
	le.PutUint16(b[2:], entries)
	le.PutUint16(b[4:], max)
	le.PutUint16(b[6:], depth)
}

func extentIndex(b []byte, logical uint32, child uint64) {
	le.PutUint32(b, logical)
	le.PutUint32(b[4:], uint32(child))
	le.PutUint16(b[8:], uint16(child>>32))
}

func TestHostileExtents(t *testing.T) {
	base := seed(t, "seed-ext4")
	big := inodeOf(t, base, "d/big")
	const bs = 1024
	const b1, b2 = 120, 121 // free blocks at the end of the 128-block seed
	iblock := func(img []byte) []byte { return img[big.Offset+0x28 : big.Offset+0x28+60] }
	cases := []struct {
		name  string
		build func(img []byte)
		want  []string
	}{
		{"index loops to itself", func(img []byte) {
			extentHdr(iblock(img), 1, 4, 2)
			extentIndex(iblock(img)[12:], 0, b1)
			extentHdr(img[b1*bs:], 1, 84, 1)
			extentIndex(img[b1*bs+12:], 0, b1)
		}, []string{"inode 14", "referenced twice", "0x"}},
		{"two indexes share a block", func(img []byte) {
			extentHdr(iblock(img), 2, 4, 1)
			extentIndex(iblock(img)[12:], 0, b1)
			extentIndex(iblock(img)[24:], 100, b1)
			extentHdr(img[b1*bs:], 0, 84, 0)
		}, []string{"referenced twice"}},
		{"child claims the parent's depth", func(img []byte) {
			extentHdr(iblock(img), 1, 4, 1)
			extentIndex(iblock(img)[12:], 0, b1)
			extentHdr(img[b1*bs:], 1, 84, 1)
			extentIndex(img[b1*bs+12:], 0, b2)
		}, []string{"depth 1 under a node of depth 1", "0x"}},
		{"too deep", func(img []byte) {
			extentHdr(iblock(img), 1, 4, 6)
			extentIndex(iblock(img)[12:], 0, b1)
		}, []string{"depth 6 exceeds 5"}},
		{"extent past the end", func(img []byte) {
			extentHdr(iblock(img), 1, 4, 0)
			e := iblock(img)[12:]
			le.PutUint32(e, 0)
			le.PutUint16(e[4:], 8)
			le.PutUint16(e[6:], 1) // start block 2^32
			le.PutUint32(e[8:], 0)
		}, []string{"past the filesystem's 128 blocks", "0x"}},
		{"index past the end", func(img []byte) {
			extentHdr(iblock(img), 1, 4, 1)
			extentIndex(iblock(img)[12:], 0, 1<<40)
		}, []string{"past the filesystem"}},
		{"more entries than fit", func(img []byte) {
			extentHdr(iblock(img), 30, 30, 0)
		}, []string{"do not fit"}},
		{"overlapping extents", func(img []byte) {
			extentHdr(iblock(img), 2, 4, 0)
			for i, e := range [][]byte{iblock(img)[12:], iblock(img)[24:]} {
				le.PutUint32(e, 0)
				le.PutUint16(e[4:], 4)
				le.PutUint32(e[8:], uint32(20+10*i))
			}
		}, []string{"overlaps"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := bytes.Clone(base)
			c.build(img)
			f := openBytes(t, img)
			_, err := f.Open("d/big")
			wantErr(t, err, c.want...)
			// the rest of the filesystem still reads
			if _, err := f.ReadDir("d"); err != nil {
				t.Errorf("readdir after damage: %v", err)
			}
		})
	}
}

func TestHostileIndirect(t *testing.T) {
	base := seed(t, "seed-ext2")
	big := inodeOf(t, base, "d/big")
	const bs = 1024
	const b1 = 120
	img := bytes.Clone(base)
	// A double-indirect block whose every pointer is itself, and a size
	// that asks for all of it.
	le.PutUint32(img[big.Offset+0x28+13*4:], b1)
	for i := 0; i < bs/4; i++ {
		le.PutUint32(img[b1*bs+4*i:], b1)
	}
	le.PutUint32(img[big.Offset+0x4:], 0)
	le.PutUint32(img[big.Offset+0x6C:], 1<<10)
	f := openBytes(t, img)
	_, err := f.Open("d/big")
	wantErr(t, err, "inode 14", "referenced twice", "0x")

	img = bytes.Clone(base)
	le.PutUint32(img[big.Offset+0x28+3*4:], 1<<30)
	_, err = openBytes(t, img).Open("d/big")
	wantErr(t, err, "past the filesystem", "0x")
}

// direntAt finds the byte offset of a name's entry in a directory's first block.
func direntAt(t *testing.T, img []byte, dir, name string) int64 {
	t.Helper()
	f := openBytes(t, img)
	fi, err := f.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := f.Runs(cfs.StatOf(fi).Inode)
	if err != nil || len(runs) == 0 {
		t.Fatalf("%s: %v %v", dir, runs, err)
	}
	off := int64(runs[0].Physical) * f.bs
	blk := img[off : off+f.bs]
	for p := 0; p+8 <= len(blk); {
		rl := int(le.Uint16(blk[p+4:]))
		nl := int(blk[p+6])
		if string(blk[p+8:p+8+nl]) == name {
			return off + int64(p)
		}
		if rl == 0 {
			break
		}
		p += rl
	}
	t.Fatalf("%s has no entry %q", dir, name)
	return 0
}

func TestHostileDirents(t *testing.T) {
	base := seed(t, "seed-ext4")
	for _, rl := range []uint16{0, 5, 6, 4096} {
		img := bytes.Clone(base)
		at := direntAt(t, img, "d", "a")
		le.PutUint16(img[at+4:], rl)
		f := openBytes(t, img)
		_, err := f.ReadDir("d")
		wantErr(t, err, "bad rec_len", "0x")
	}
	img := bytes.Clone(base)
	at := direntAt(t, img, "d", "a")
	le.PutUint32(img[at:], 1000)
	_, err := openBytes(t, img).ReadDir("d")
	wantErr(t, err, "inode 1000 out of range", "0x")
	if _, err := openBytes(t, img).Stat("d/a"); err == nil {
		t.Error("stat through an out-of-range inode succeeded")
	}
}

// TestHostileCycle makes directories that contain themselves and their
// ancestors; walking must end and name the cycle.
func TestHostileCycle(t *testing.T) {
	base := seed(t, "seed-ext4")
	d := inodeOf(t, base, "d")
	sub := inodeOf(t, base, "d/sub")
	for _, target := range []uint64{rootIno, d.Num, sub.Num} {
		img := bytes.Clone(base)
		for _, n := range []string{"entry_with_long_name_1", "entry_with_long_name_2"} {
			at := direntAt(t, img, "d/sub", n)
			le.PutUint32(img[at:], uint32(target))
			img[at+7] = ftDir
		}
		f := openBytes(t, img)
		done := make(chan error, 1)
		var cycles, visited int
		go func() {
			done <- iofs.WalkDir(f, ".", func(p string, de iofs.DirEntry, err error) error {
				visited++
				if errors.Is(err, ErrCycle) {
					cycles++
					return nil
				}
				return err
			})
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("target %d: walk: %v", target, err)
			}
			if cycles != 2 {
				t.Errorf("target %d: %d cycles reported, want 2 (visited %d)", target, cycles, visited)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("target %d: walk did not end", target)
		}
		if _, err := f.Deleted(); err != nil {
			t.Errorf("deleted: %v", err)
		}
		_, err := f.ReadDir("d/sub/entry_with_long_name_1")
		if !errors.Is(err, ErrCycle) {
			t.Errorf("target %d: readdir of the looped entry: %v", target, err)
		}
	}
}

// TestHostileDirHardLinks links one directory under several names, in its
// own parent and elsewhere: only the first name in the parent its ".."
// names leads in, so walks cannot multiply.
func TestHostileDirHardLinks(t *testing.T) {
	base := seed(t, "seed-ext4")
	sub := inodeOf(t, base, "d/sub")
	img := bytes.Clone(base)
	for _, e := range []struct{ dir, name string }{{"d", "slow"}, {".", "lost+found"}} {
		at := direntAt(t, img, e.dir, e.name)
		le.PutUint32(img[at:], uint32(sub.Num))
		img[at+7] = ftDir
	}
	f := openBytes(t, img)
	// d lists "slow" before "sub": the first name leads in, the second is refused.
	if ents, err := f.ReadDir("d/slow"); err != nil || len(ents) != 40 {
		t.Errorf("d/slow: %d entries, %v", len(ents), err)
	}
	for _, p := range []string{"d/sub", "lost+found"} {
		if _, err := f.ReadDir(p); !errors.Is(err, ErrCycle) {
			t.Errorf("%s: %v, want a hard-linked directory error", p, err)
		}
	}
	var walked int
	err := iofs.WalkDir(f, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil && !errors.Is(err, ErrCycle) {
			return err
		}
		walked++
		return nil
	})
	if err != nil || walked > 60 {
		t.Errorf("walk: %d visits, %v", walked, err)
	}
}

func TestHostileSizes(t *testing.T) {
	base := seed(t, "seed-ext4")
	img := bytes.Clone(base)
	for _, name := range []string{"d/a", "d/slow", "d"} {
		in := inodeOf(t, base, name)
		le.PutUint32(img[in.Offset+0x4:], 0)
		le.PutUint32(img[in.Offset+0x6C:], 1<<30) // i_size = 2^62
	}
	f := openBytes(t, img)
	fi, err := f.Stat("d/a")
	if err != nil || fi.Size() != 1<<62 {
		t.Fatalf("stat: %v %v", fi, err)
	}
	fl, err := f.Open("d/a")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := fl.(io.ReaderAt).ReadAt(buf, 1<<62-10); n != 10 || err != io.EOF || !bytes.Equal(buf[:10], make([]byte, 10)) {
		t.Errorf("read at the end: %d %v %x", n, err, buf)
	}
	if n, err := fl.(io.ReaderAt).ReadAt(buf, 0); n != 16 || err != nil || !bytes.HasPrefix(buf, []byte("hello\n")) {
		t.Errorf("read at 0: %d %v %q", n, err, buf)
	}
	_, err = f.ReadLink("d/slow")
	wantErr(t, err, "symlink of 4611686018427387904 bytes")
	before, err := openBytes(t, base).ReadDir("d")
	if err != nil {
		t.Fatal(err)
	}
	if ents, err := f.ReadDir("d"); err != nil || len(ents) != len(before) {
		t.Errorf("readdir of a 2^62-byte directory: %d entries (%d before), %v", len(ents), len(before), err)
	}
}

func TestHostileXattr(t *testing.T) {
	base := seed(t, "seed-ext4")
	in := inodeOf(t, base, "d/a")
	img := bytes.Clone(base)
	extra := int64(le.Uint16(img[in.Offset+0x80:]))
	at := in.Offset + 128 + extra
	le.PutUint32(img[at:], xattrMagic)
	e := img[at+4:]
	e[0] = 4 // name length
	e[1] = 1 // user.
	le.PutUint16(e[2:], 60000)
	le.PutUint32(e[8:], 100)
	copy(e[16:], "evil")
	_, err := openBytes(t, img).Stat("d/a")
	wantErr(t, err, "xattr entry at 0x", "runs past")
}

func TestHostileSuperblock(t *testing.T) {
	base := seed(t, "seed-ext4")
	sb := superblockOffset
	cases := []struct {
		name  string
		patch func(b []byte)
		want  string
	}{
		{"magic", func(b []byte) { le.PutUint16(b[sb+0x38:], 0) }, "magic"},
		{"block size", func(b []byte) { le.PutUint32(b[sb+0x18:], 7) }, "block size"},
		{"inode size", func(b []byte) { le.PutUint16(b[sb+0x58:], 100) }, "inode size 100"},
		{"blocks per group", func(b []byte) { le.PutUint32(b[sb+0x20:], 0) }, "blocks per group"},
		{"inodes per group", func(b []byte) { le.PutUint32(b[sb+0x28:], 1<<20) }, "inodes per group"},
		{"inodes count", func(b []byte) { le.PutUint32(b[sb+0x0:], 1<<31) }, "groups"},
		{"blocks count", func(b []byte) { le.PutUint32(b[sb+0x4:], 1<<31) }, "do not fit"},
		{"first data block", func(b []byte) { le.PutUint32(b[sb+0x14:], 1<<20) }, "first data block"},
		{"64bit desc size", func(b []byte) {
			le.PutUint32(b[sb+0x60:], le.Uint32(b[sb+0x60:])|incompat64Bit)
			le.PutUint16(b[sb+0xFE:], 48)
		}, "descriptor size 48"},
		{"inode table", func(b []byte) { le.PutUint32(b[2048+0x8:], 1<<30) }, "inode table"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := bytes.Clone(base)
			c.patch(img)
			_, err := Open(bytes.NewReader(img), int64(len(img)))
			wantErr(t, err, c.want)
		})
	}
	// A volume cut short: metadata reads fail with an error, not a panic.
	if _, err := Open(bytes.NewReader(base[:3000]), 3000); err == nil {
		t.Error("a 3000-byte volume opened")
	}
}

// TestInfoDirty marks a copy of the seed as last mounted, not clean and
// needing journal recovery (debugfs ssv/feature) and compares Info with
// dumpe2fs.
func TestInfoDirty(t *testing.T) {
	testenv.NeedTool(t, "debugfs", "dumpe2fs")
	p := filepath.Join(t.TempDir(), "dirty.img")
	if err := os.WriteFile(p, seed(t, "seed-ext4"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmds := filepath.Join(t.TempDir(), "cmds")
	os.WriteFile(cmds, []byte("ssv last_mounted /mnt/evidence\nssv mtime 20250102030405\nssv state 0\nfeature needs_recovery\n"), 0o644)
	testenv.Run(t, "debugfs", "-w", "-f", cmds, p)
	out := dumpe2fs(t, "-h", p)
	field := func(name string) string {
		for _, l := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && k == name {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("dumpe2fs has no %q", name)
		return ""
	}
	info := openFile(t, p).Info()
	if !info.Dirty || !strings.Contains(field("Filesystem features"), "needs_recovery") || field("Filesystem state") != "not clean" {
		t.Errorf("dirty %v; dumpe2fs features %q state %q", info.Dirty, field("Filesystem features"), field("Filesystem state"))
	}
	if info.LastMounted != field("Last mounted on") {
		t.Errorf("last mounted %q, dumpe2fs %q", info.LastMounted, field("Last mounted on"))
	}
	for name, got := range map[string]time.Time{"Last mount time": info.LastMountTime, "Last write time": info.LastWriteTime, "Filesystem created": info.Created} {
		if g := got.UTC().Format(time.ANSIC); g != field(name) {
			t.Errorf("%s %s, dumpe2fs %s", name, g, field(name))
		}
	}
	var recovery bool
	for _, n := range info.Notes {
		recovery = recovery || strings.Contains(n, "needs recovery")
	}
	if !recovery {
		t.Errorf("notes %q do not mention recovery", info.Notes)
	}
	// The driver is registered with the fs package and detected.
	fh, _ := os.Open(p)
	defer fh.Close()
	if got := cfs.Detect(fh, int64(len(seed(t, "seed-ext4")))); got != "ext4" {
		t.Errorf("fs.Detect = %q", got)
	}
}

// dumpe2fs runs dumpe2fs in UTC, as it prints local times.
func dumpe2fs(t *testing.T, args ...string) string {
	t.Helper()
	p, err := testenv.LookPath("dumpe2fs")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dumpe2fs: %v", err)
	}
	return string(out)
}

// TestHostilePaths checks path walks' errors: a path through a file names
// its inode, a symlink to itself ends in the hop limit, and an empty
// target is not there (as on Linux).
func TestHostilePaths(t *testing.T) {
	base := seed(t, "seed-ext4")
	a := inodeOf(t, base, "d/a")
	_, err := openBytes(t, base).Stat("d/a/x")
	if !errors.Is(err, iofs.ErrNotExist) || !errors.Is(err, fsutil.ErrNotDir) {
		t.Errorf("stat through a file: %v, want ErrNotExist and ErrNotDir", err)
	}
	wantErr(t, err, fmt.Sprintf("inode %d is not a directory", a.Num), "d/a/x")

	fast := inodeOf(t, base, "d/fast")
	for _, c := range []struct {
		target string
		want   error
	}{{"fast", fsutil.ErrLoop}, {"../d/./fast", fsutil.ErrLoop}, {"", iofs.ErrNotExist}} {
		img := bytes.Clone(base)
		in := img[fast.Offset:]
		le.PutUint32(in[0x4:], uint32(len(c.target)))
		copy(in[0x28:0x28+60], make([]byte, 60))
		copy(in[0x28:], c.target)
		f := openBytes(t, img)
		if _, err := f.Stat("d/fast"); !errors.Is(err, c.want) {
			t.Errorf("target %q: stat: %v, want %v", c.target, err, c.want)
		}
		if fi, err := f.Lstat("d/fast"); err != nil || fi.Mode().Type() != iofs.ModeSymlink {
			t.Errorf("target %q: lstat: %v, %v", c.target, fi, err)
		}
		if got, err := f.ReadLink("d/fast"); got != c.target || err != nil {
			t.Errorf("target %q: readlink: %q, %v", c.target, got, err)
		}
	}
}

// TestFSTest runs testing/fstest over the seed image: Open, paged
// ReadDir on open directories, Read, Seek, ReadAt, Stat, ReadLink and
// Lstat must agree with each other.
func TestFSTest(t *testing.T) {
	for _, s := range []string{"seed-ext4", "seed-ext2"} {
		f := openBytes(t, seed(t, s))
		if err := fstest.TestFS(f, "d/a", "d/big", "d/sparse", "d/fast", "d/sub/entry_with_long_name_40"); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}
