package xfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coldcase-dfir/coldcase/fs"
)

func inoOf(fi iofs.FileInfo) uint64 { return fs.StatOf(fi).Inode }

var variants = []string{"v5", "v5legacy", "v4", "v4noftype", "v5b1k"}

// TestAgainstXfsDB compares every object of each test image with what
// xfs_db reads from the same image: directory entries and inode numbers
// (xfs_db ls), and mode, owner, link count, size and all times with
// nanoseconds (xfs_db print). File bytes are compared with the files the
// protofile made mkfs.xfs copy.
func TestAgainstXfsDB(t *testing.T) {
	for _, v := range variants {
		t.Run(v, func(t *testing.T) {
			out := buildImage(t, v)
			img := out + "/xfs.img"
			x := openImage(t, img)
			files, dirs := walkAll(t, x)
			if len(files) < 5300 {
				t.Fatalf("walked %d objects, want > 5300", len(files))
			}

			// Directory contents and inode numbers, every directory.
			var absDirs []string
			for _, d := range dirs {
				absDirs = append(absDirs, "/"+strings.TrimPrefix(d, "."))
			}
			want := xfsDBLs(t, img, absDirs)
			if len(want) != len(dirs) {
				t.Fatalf("xfs_db listed %d directories, we walked %d", len(want), len(dirs))
			}
			for _, d := range dirs {
				ents, err := x.ReadDir(d)
				if err != nil {
					t.Fatal(err)
				}
				w := want["/"+strings.TrimPrefix(d, ".")]
				if len(ents) != len(w) {
					t.Errorf("%s: %d entries, xfs_db has %d", d, len(ents), len(w))
				}
				for _, e := range ents {
					ino, ok := w[e.Name()]
					if !ok {
						t.Errorf("%s: %q not listed by xfs_db", d, e.Name())
						continue
					}
					if got := e.(*dirEntry).Inode(); got != ino {
						t.Errorf("%s/%q: inode %d, xfs_db %d", d, e.Name(), got, ino)
					}
				}
			}

			// Inode metadata, every object.
			var inos []uint64
			byIno := map[uint64]string{}
			for _, f := range files {
				if _, dup := byIno[f.ino]; !dup {
					inos = append(inos, f.ino)
				}
				byIno[f.ino] = f.path
			}
			recs := xfsDBInodes(t, img, inos, x.sb.v5())
			for i, ino := range inos {
				p := byIno[ino]
				fi, err := x.Lstat(p)
				if err != nil {
					t.Fatal(err)
				}
				checkInode(t, p, fs.StatOf(fi), recs[i], x.sb.v5())
			}

			checkContents(t, x, out)
			checkFrag(t, x, img)
			checkFormats(t, x, img)
			checkXattrs(t, x, img, v)
		})
	}
}

func checkInode(t *testing.T, p string, st *fs.Stat, r map[string]string, v5 bool) {
	t.Helper()
	num := func(k string) uint64 {
		s := strings.Fields(r[k])
		if len(s) == 0 {
			t.Fatalf("%s: xfs_db printed no %s", p, k)
		}
		n, err := strconv.ParseUint(s[0], 0, 64)
		if err != nil {
			t.Fatalf("%s: xfs_db %s = %q", p, k, r[k])
		}
		return n
	}
	mode := num("core.mode") // printed in octal with a leading 0
	if uint64(st.RawMode) != mode {
		t.Errorf("%s: mode %o, xfs_db %o", p, st.RawMode, mode)
	}
	if uint64(st.Mode.Perm()) != mode&0o777 {
		t.Errorf("%s: FileMode %v does not carry permissions %o", p, st.Mode, mode&0o777)
	}
	for _, c := range []struct {
		k   string
		got uint64
	}{
		{"core.uid", uint64(st.UID)}, {"core.gid", uint64(st.GID)},
		{"core.nlinkv2", uint64(st.Nlink)}, {"core.size", uint64(st.Size)},
	} {
		if w := num(c.k); w != c.got {
			t.Errorf("%s: %s %d, xfs_db %d", p, c.k, c.got, w)
		}
	}
	if v5 {
		if w := num("v3.inumber"); w != st.Inode {
			t.Errorf("%s: inode %d, xfs_db v3.inumber %d", p, st.Inode, w)
		}
	}
	times := map[string]time.Time{"core.atime": st.Atime, "core.mtime": st.Mtime, "core.ctime": st.Ctime}
	if v5 {
		times["v3.crtime"] = st.Btime
	} else if !st.Btime.IsZero() {
		t.Errorf("%s: birth time %v on a v4 filesystem", p, st.Btime)
	}
	for k, got := range times {
		w := xfsDBTime(t, r[k+".sec"], r[k+".nsec"])
		if !w.Equal(got) {
			t.Errorf("%s: %s %v, xfs_db %v", p, k, got, w)
		}
	}
}

// checkContents compares every regular file and symlink with what the
// protofile told mkfs.xfs to create.
func checkContents(t *testing.T, x *FS, out string) {
	t.Helper()
	proto := parseProto(t, out+"/proto")
	n := 0
	for p, e := range proto {
		src := e.src
		switch {
		case p == "frag":
			continue // re-mapped by xfs_db; see checkFrag
		case p == "short/b":
			src = proto["short/a"].src // hard link to short/a
		}
		fi, err := x.Lstat(p)
		if err != nil {
			t.Errorf("%q: %v", p, err)
			continue
		}
		switch e.mode[0] {
		case '-':
			want, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := iofs.ReadFile(x, p)
			if err != nil {
				t.Errorf("%q: %v", p, err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%q: %d bytes differ from %s (%d bytes)", p, len(got), src, len(want))
			}
			n++
		case 'l':
			if fi.Mode()&iofs.ModeSymlink == 0 {
				t.Errorf("%q: mode %v, want a symlink", p, fi.Mode())
			}
			got, err := x.ReadLink(p)
			if err != nil || got != e.target {
				t.Errorf("%q: ReadLink = %q, %v; want %q", p, got, err, e.target)
			}
			if fs.StatOf(fi).Target != e.target {
				t.Errorf("%q: Stat.Target = %q", p, fs.StatOf(fi).Target)
			}
		case 'd':
			if !fi.IsDir() {
				t.Errorf("%q: not a directory", p)
			}
		case 'p':
			if fi.Mode().Type() != iofs.ModeNamedPipe {
				t.Errorf("%q: mode %v, want a fifo", p, fi.Mode())
			}
		case 'c':
			if fi.Mode().Type() != iofs.ModeDevice|iofs.ModeCharDevice {
				t.Errorf("%q: mode %v, want a character device", p, fi.Mode())
			}
		case 'b':
			if fi.Mode().Type() != iofs.ModeDevice {
				t.Errorf("%q: mode %v, want a block device", p, fi.Mode())
			}
		}
		if e.mode[1] == 'u' && fi.Mode()&iofs.ModeSetuid == 0 {
			t.Errorf("%q: setuid missing in %v", p, fi.Mode())
		}
		if e.mode[2] == 'g' && fi.Mode()&iofs.ModeSetgid == 0 {
			t.Errorf("%q: setgid missing in %v", p, fi.Mode())
		}
	}
	if n < 2500 {
		t.Errorf("compared %d regular files, want ≥ 2500", n)
	}
}

var bmapLine = regexp.MustCompile(`^data offset (\d+) startblock \d+ \((\d+)/(\d+)\) count (\d+) flag (\d)$`)

// checkFrag reads the B+tree-mapped file "frag" and compares it with the
// blocks xfs_db's bmap names, read straight from the image; holes and the
// unwritten extent must read as zeros.
func checkFrag(t *testing.T, x *FS, img string) {
	t.Helper()
	fi, err := x.Stat("frag")
	if err != nil {
		t.Fatal(err)
	}
	ino := inoOf(fi)
	out := xfsDB(t, img, []string{fmt.Sprintf("inode %d", ino), "p core.format", "bmap"})
	if !strings.Contains(out, "core.format = 3 (btree)") {
		t.Fatalf("frag is not in btree format:\n%s", out)
	}
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	bs := int64(x.sb.blockSize)
	want := make([]byte, fi.Size())
	exts, unwritten := 0, 0
	for _, l := range strings.Split(out, "\n") {
		m := bmapLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		off, _ := strconv.ParseInt(m[1], 10, 64)
		agno, _ := strconv.ParseInt(m[2], 10, 64)
		agbno, _ := strconv.ParseInt(m[3], 10, 64)
		count, _ := strconv.ParseInt(m[4], 10, 64)
		exts++
		if m[5] == "1" {
			unwritten++
			continue
		}
		phys := (agno*int64(x.sb.agBlocks) + agbno) * bs
		copy(want[off*bs:], raw[phys:phys+count*bs])
	}
	hdr := 24
	if x.sb.v5() {
		hdr = 72
	}
	if want := min(100, (int(bs)-hdr)/16); exts != want || unwritten != 1 {
		t.Fatalf("xfs_db bmap shows %d extents (%d unwritten), expected the %d mkimage.sh wrote", exts, unwritten, want)
	}
	got, err := iofs.ReadFile(x, "frag")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("frag: contents differ from the blocks xfs_db maps")
	}
	// Reading at odd offsets and sizes goes through the same mapping.
	f, _ := x.Open("frag")
	ra := f.(io.ReaderAt)
	for _, r := range [][2]int64{{1, 5000}, {4095, 2}, {8191, 4097}, {int64(len(want)) - 10, 10}} {
		b := make([]byte, r[1])
		if _, err := ra.ReadAt(b, r[0]); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !bytes.Equal(b, want[r[0]:r[0]+r[1]]) {
			t.Errorf("frag: ReadAt(%d, %d) differs", r[0], r[1])
		}
	}
}

// checkFormats makes sure the image really has each directory and symlink
// format, as xfs_db sees them, so the comparisons above cover them. The
// block at the 32 GiB leaf offset tells leaf ("XDL3"/leaf1 magic) from
// node (da node magic) directories; a block directory has one directory
// block and nothing at the leaf offset.
func checkFormats(t *testing.T, x *FS, img string) {
	t.Helper()
	leafOff := dirLeafOffset / int64(x.sb.blockSize)
	leaf1, node := "0xd2f1", "0xfebe"
	if x.sb.v5() {
		leaf1, node = "0x3df1", "0x3ebe"
	}
	for _, c := range []struct {
		path, format, leafMagic string
	}{
		{"short", "1 (local)", ""},
		{"block", "", "unmapped"},
		{"leaf", "", "magic = " + leaf1},
		{"node", "", "magic = " + node},
		{"links/rel", "1 (local)", ""},
		{"links/long", "2 (extents)", ""},
	} {
		fi, err := x.Lstat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		cmds := []string{fmt.Sprintf("inode %d", inoOf(fi)), "p core.format"}
		if c.leafMagic != "" {
			cmds = append(cmds, fmt.Sprintf("dblock %d", leafOff), "p")
		}
		out := xfsDB(t, img, cmds)
		if c.format != "" && !strings.Contains(out, "core.format = "+c.format) {
			t.Errorf("%s: not format %s:\n%s", c.path, c.format, out)
		}
		if c.leafMagic != "" && !strings.Contains(out, c.leafMagic) {
			t.Errorf("%s: block at the leaf offset is not %q:\n%.300s", c.path, c.leafMagic, out)
		}
	}
}

// checkXattrs compares extended attributes with xfs_db's print of the
// short-form attribute fork, and the leaf-format ones with the values
// xfs_db attr_set wrote (a run of 'v').
func checkXattrs(t *testing.T, x *FS, img, variant string) {
	t.Helper()
	fi, err := x.Lstat("xattrs")
	if err != nil {
		t.Fatal(err)
	}
	got := fs.StatOf(fi).Xattrs
	out := xfsDB(t, img, []string{fmt.Sprintf("inode %d", inoOf(fi)), "p a"})
	want := map[string][]byte{}
	kv := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, " = "); ok {
			kv[k] = v
		}
	}
	for i := 0; ; i++ {
		pre := fmt.Sprintf("a.sfattr.list[%d].", i)
		name, ok := kv[pre+"name"]
		if !ok {
			break
		}
		ns := "user."
		if kv[pre+"secure"] == "1" {
			ns = "security."
		} else if kv[pre+"root"] == "1" {
			ns = "trusted."
		}
		want[ns+strings.Trim(name, `"`)] = []byte(strings.Trim(kv[pre+"value"], `"`))
	}
	if len(want) != 3 {
		t.Fatalf("xfs_db shows %d short-form attributes, mkimage.sh set 3:\n%s", len(want), out)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("xattrs: got %q, xfs_db %q", got, want)
	}
	if _, ok := got["security.capability"]; !ok {
		t.Errorf("security.capability missing")
	}
	if !x.sb.v5() {
		return // mkimage.sh sets leaf attributes on v5 only
	}
	fi, err = x.Lstat("bigattrs")
	if err != nil {
		t.Fatal(err)
	}
	got = fs.StatOf(fi).Xattrs
	if !bytes.Equal(got["user.medium"], bytes.Repeat([]byte("v"), 1000)) ||
		!bytes.Equal(got["security.remote"], bytes.Repeat([]byte("v"), 6000)) || len(got) != 2 {
		keys := []string{}
		for k, v := range got {
			keys = append(keys, fmt.Sprintf("%s(%d)", k, len(v)))
		}
		sort.Strings(keys)
		t.Errorf("bigattrs: got %v, want user.medium (1000 × v) and security.remote (6000 × v)", keys)
	}
}

// TestSymlinks checks resolution: relative and absolute targets inside
// the filesystem, remote targets, loops and dangling links.
func TestSymlinks(t *testing.T) {
	x := openImage(t, buildImage(t, "v5")+"/xfs.img")
	hello, err := x.Stat("hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"links/rel", "links/abs"} {
		fi, err := x.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if inoOf(fi) != inoOf(hello) {
			t.Errorf("Stat(%s) gave inode %d, want hello.txt's %d", p, inoOf(fi), inoOf(hello))
		}
		lfi, err := x.Lstat(p)
		if err != nil || lfi.Mode()&iofs.ModeSymlink == 0 {
			t.Errorf("Lstat(%s) = %v, %v", p, lfi, err)
		}
		b, err := iofs.ReadFile(x, p)
		if err != nil || string(b) != "hello world\n" {
			t.Errorf("ReadFile(%s) = %q, %v", p, b, err)
		}
	}
	if _, err := x.Stat("links/todeep/c/d/e/f/file"); err != nil {
		t.Errorf("through a symlink to a directory: %v", err)
	}
	if _, err := x.Stat("links/loop1"); err == nil || !strings.Contains(err.Error(), "symbolic links") {
		t.Errorf("loop: %v", err)
	}
	if _, err := x.Stat("links/dangling"); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("dangling: %v", err)
	}
	if _, err := x.ReadLink("hello.txt"); err == nil {
		t.Errorf("ReadLink of a regular file succeeded")
	}
	if _, err := x.Open("hello.txt/x"); err == nil {
		t.Errorf("path through a file succeeded")
	}
	if _, err := x.Open("/hello.txt"); !errors.Is(err, iofs.ErrInvalid) {
		t.Errorf("invalid path: %v", err)
	}
}

// TestFSTest runs the standard library's io/fs conformance checks on
// subtrees of each directory format (the root holds symlink loops and a
// non-UTF-8 name, which fstest rejects by design).
func TestFSTest(t *testing.T) {
	x := openImage(t, buildImage(t, "v5")+"/xfs.img")
	for sub, want := range map[string]string{"short": "b", "block": "f7", "leaf": "leaf_entry_299", "deep": "a/b/c/d/e/f/file"} {
		s, err := iofs.Sub(x, sub)
		if err != nil {
			t.Fatal(err)
		}
		if err := fstest.TestFS(s, want); err != nil {
			t.Errorf("%s: %v", sub, err)
		}
	}
}

// TestDirectoryCount checks the node directory holds exactly what the
// protofile put there, in sorted order.
func TestDirectoryCount(t *testing.T) {
	x := openImage(t, buildImage(t, "v5")+"/xfs.img")
	ents, err := x.ReadDir("node")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 5000 {
		t.Fatalf("node: %d entries, want 5000", len(ents))
	}
	if !sort.SliceIsSorted(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() }) {
		t.Errorf("ReadDir not sorted")
	}
}

// TestConcurrentWalk walks one FS from several goroutines (run with -race):
// the page and directory caches are shared.
func TestConcurrentWalk(t *testing.T) {
	x := openImage(t, buildImage(t, "v5")+"/xfs.img")
	want, _ := walkAll(t, x)
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			n := 0
			err := iofs.WalkDir(x, ".", func(p string, d iofs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				n++
				if d.Type().IsRegular() && n%50 == 0 {
					_, err = iofs.ReadFile(x, p)
				}
				return err
			})
			if err == nil && n != len(want) {
				err = fmt.Errorf("walked %d, want %d", n, len(want))
			}
			errs <- err
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
