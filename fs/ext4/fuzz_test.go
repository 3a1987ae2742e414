package ext4

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"testing"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

var errEnough = errors.New("enough")

// exercise drives every reader entry point over a (possibly damaged)
// filesystem, reading a bounded amount; errors are expected, panics and
// hangs are not.
func exercise(f *FS) {
	_ = f.Info()
	n := 0
	_ = iofs.WalkDir(f, ".", func(p string, d iofs.DirEntry, err error) error {
		if n++; n > 2000 {
			return errEnough
		}
		if err != nil || p == "." {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			_ = cfs.StatOf(fi)
		}
		_, _ = f.Stat(p)
		if d.Type()&iofs.ModeSymlink != 0 {
			_, _ = f.ReadLink(p)
		}
		if !d.IsDir() {
			if fl, err := f.Open(p); err == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(fl, 64<<10))
				fl.Close()
			}
		}
		return nil
	})
	_, _ = f.Deleted()
}

func openSeed(img []byte) *FS {
	f, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		return nil
	}
	return f
}

// FuzzSuperblock damages the superblock and group descriptors (bytes
// 1024..4095 of a 1 KiB-block seed) and walks whatever opens.
func FuzzSuperblock(f *testing.F) {
	seeds := [][]byte{seed(f, "seed-ext4"), seed(f, "seed-ext2")}
	for i, s := range seeds {
		f.Add(byte(i), s[1024:4096])
	}
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		img := bytes.Clone(seeds[int(which)%len(seeds)])
		copy(img[1024:4096], data)
		if fs := openSeed(img); fs != nil {
			exercise(fs)
		}
	})
}

// FuzzInode replaces d/big's inode (and a spare block it may point its
// extent tree or indirect blocks at) and reads it.
func FuzzInode(f *testing.F) {
	seeds := [][]byte{seed(f, "seed-ext4"), seed(f, "seed-ext2")}
	offs := make([]int64, len(seeds))
	const spare = 120 * 1024
	for i, s := range seeds {
		fs := openSeed(s)
		if fs == nil {
			f.Fatal("seed does not open")
		}
		for _, p := range []string{"d/big", "d/a", "d/slow", "d/sparse", "d"} {
			fi, err := fs.Lstat(p)
			if err != nil {
				f.Fatal(err)
			}
			in, _ := fs.inode(cfs.StatOf(fi).Inode)
			if p == "d/big" {
				offs[i] = in.Offset
			}
			f.Add(byte(i), append(bytes.Clone(s[in.Offset:in.Offset+int64(fs.sb.InodeSize)]), s[spare:spare+64]...))
		}
	}
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		i := int(which) % len(seeds)
		img := bytes.Clone(seeds[i])
		in := data
		if len(in) > 256 {
			in = in[:256]
		}
		copy(img[offs[i]:offs[i]+256], in)
		if len(data) > 256 {
			copy(img[spare:spare+1024], data[256:])
		}
		fs := openSeed(img)
		if fs == nil {
			return
		}
		_, _ = fs.Stat("d/big")
		_, _ = fs.ReadLink("d/big")
		_, _ = fs.ReadDir("d/big")
		if fl, err := fs.Open("d/big"); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(fl, 1<<20))
		}
		_, _ = fs.Deleted()
	})
}

// FuzzDirBlock replaces the first block of directory d/sub.
func FuzzDirBlock(f *testing.F) {
	seeds := [][]byte{seed(f, "seed-ext4"), seed(f, "seed-ext2")}
	offs := make([]int64, len(seeds))
	for i, s := range seeds {
		fs := openSeed(s)
		for _, p := range []string{"d/sub", "d", "."} {
			fi, err := fs.Lstat(p)
			if err != nil {
				f.Fatal(err)
			}
			runs, err := fs.Runs(cfs.StatOf(fi).Inode)
			if err != nil || len(runs) == 0 {
				f.Fatal(p, err)
			}
			off := int64(runs[0].Physical) * fs.bs
			if p == "d/sub" {
				offs[i] = off
			}
			f.Add(byte(i), bytes.Clone(s[off:off+fs.bs]))
		}
	}
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		i := int(which) % len(seeds)
		img := bytes.Clone(seeds[i])
		if len(data) > 1024 {
			data = data[:1024]
		}
		copy(img[offs[i]:offs[i]+1024], data)
		if fs := openSeed(img); fs != nil {
			exercise(fs)
		}
	})
}

// FuzzImage opens and walks a whole (small) image.
func FuzzImage(f *testing.F) {
	for _, n := range []string{"seed-ext4", "seed-ext2"} {
		f.Add(seed(f, n))
	}
	f.Fuzz(func(t *testing.T, img []byte) {
		if fs := openSeed(img); fs != nil {
			exercise(fs)
		}
		if fs, err := OpenReplayed(bytes.NewReader(img), int64(len(img))); err == nil {
			exercise(fs)
		}
	})
}

// FuzzJournal damages the first journal blocks (superblock, descriptor,
// data, commit) of a small ext4 whose journal holds a committed
// transaction, then replays and walks it. The seed image (3 MiB) is built
// with mkfs.ext4 and debugfs jo/jw/jc.
func FuzzJournal(f *testing.F) {
	testenv.NeedTool(f, "mkfs.ext4", "debugfs")
	dir := f.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a"), []byte("before\n"), 0o644)
	img := filepath.Join(dir, "j.img")
	testenv.Run(f, "mkfs.ext4", "-q", "-F", "-b", "1024", "-J", "size=1", "-d", src, img, "3M")
	base, err := os.ReadFile(img)
	if err != nil {
		f.Fatal(err)
	}
	fs := openSeed(base)
	fi, err := fs.Lstat("a")
	if err != nil {
		f.Fatal(err)
	}
	runs, _ := fs.Runs(cfs.StatOf(fi).Inode)
	blk := filepath.Join(dir, "blk")
	os.WriteFile(blk, append([]byte("after\n"), make([]byte, 1018)...), 0o644)
	cmds := filepath.Join(dir, "cmds")
	os.WriteFile(cmds, []byte(fmt.Sprintf("jo\njw -b %d %s\njc\n", runs[0].Physical, blk)), 0o644)
	testenv.Run(f, "debugfs", "-w", "-f", cmds, img)
	if base, err = os.ReadFile(img); err != nil {
		f.Fatal(err)
	}
	fs = openSeed(base)
	jruns, err := fs.Runs(uint64(fs.sb.JournalInum))
	if err != nil || len(jruns) == 0 {
		f.Fatal(jruns, err)
	}
	if r, err := OpenReplayed(bytes.NewReader(base), int64(len(base))); err != nil {
		f.Fatal(err)
	} else if b, err := iofs.ReadFile(r, "a"); err != nil || !bytes.HasPrefix(b, []byte("after")) {
		f.Fatalf("seed replay: %q %v", b, err)
	}
	joff := int64(jruns[0].Physical) * fs.bs // journal blocks 0..3 are contiguous here
	f.Add(bytes.Clone(base[joff : joff+4*fs.bs]))
	f.Fuzz(func(t *testing.T, data []byte) {
		img := bytes.Clone(base)
		if len(data) > int(4*fs.bs) {
			data = data[:4*fs.bs]
		}
		copy(img[joff:], data)
		if r, err := OpenReplayed(bytes.NewReader(img), int64(len(img))); err == nil {
			exercise(r)
		}
	})
}
