package ext4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// The images of testdata/ext4/mkimage.sh are built once per test binary;
// on a tmpfs when there is one, as creating thousands of small files on a
// slow disk takes long.
var built struct {
	once sync.Once
	dir  string
	err  error
	took time.Duration
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range []string{built.dir, bigImage.dir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

func scratchDir(prefix string) (string, error) {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", prefix); err == nil {
			return d, nil
		}
	}
	return os.MkdirTemp("", prefix)
}

func testImages(t *testing.T) string {
	t.Helper()
	testenv.NeedTool(t, "mkfs.ext4", "mkfs.ext2", "e2fsck", "debugfs", "fls", "istat", "icat", "mkfifo", "mknod")
	script := filepath.Join(testenv.RepoRoot(t), "testdata", "ext4", "mkimage.sh")
	built.once.Do(func() {
		defer func(start time.Time) { built.took = time.Since(start) }(time.Now())
		built.dir, built.err = scratchDir("coldcase-ext4-")
		if built.err != nil {
			return
		}
		cmd := exec.Command("bash", script, built.dir)
		cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("mkimage.sh: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	t.Logf("images built in %v", built.took)
	return built.dir
}

// walkStats lists every object below the root with its Lstat metadata,
// keyed by "/"-rooted path as fls prints it.
func walkStats(t *testing.T, f *FS) map[string]*cfs.Stat {
	t.Helper()
	out := map[string]*cfs.Stat{}
	err := iofs.WalkDir(f, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out["/"+p] = cfs.StatOf(fi)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tskMode renders a mode as TSK's bodyfile does ("r/rrw-r--r--").
func tskMode(raw uint32) string {
	var c byte
	switch raw & sIFMT {
	case sIFREG:
		c = 'r'
	case sIFDIR:
		c = 'd'
	case sIFLNK:
		c = 'l'
	case sIFCHR:
		c = 'c'
	case sIFBLK:
		c = 'b'
	case sIFIFO:
		c = 'p'
	case sIFSOCK:
		c = 'h'
	default:
		c = '-'
	}
	perm := []byte("rwxrwxrwx")
	for i := range perm {
		if raw&(1<<(8-i)) == 0 {
			perm[i] = '-'
		}
	}
	special := func(bit uint32, i int, set, unset byte) {
		if raw&bit != 0 {
			if perm[i] == 'x' {
				perm[i] = set
			} else {
				perm[i] = unset
			}
		}
	}
	special(0o4000, 2, 's', 'S')
	special(0o2000, 5, 's', 'S')
	special(0o1000, 8, 't', 'T')
	return string(c) + "/" + string(c) + string(perm)
}

type bodyLine struct {
	name, mode                  string
	inode                       uint64
	uid, gid                    uint32
	size                        int64
	atime, mtime, ctime, crtime int64
}

// readBody parses `fls -r -p -m /` output (TSK 3 bodyfile).
func readBody(t *testing.T, img string) []bodyLine {
	t.Helper()
	out := testenv.Output(t, "fls", "-r", "-p", "-m", "/", img)
	var lines []bodyLine
	for _, l := range bytes.Split(out, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		f := strings.Split(string(l), "|")
		if len(f) != 11 {
			t.Fatalf("bodyfile line with %d fields: %q", len(f), l)
		}
		n := func(s string) int64 {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("bodyfile %q: %v", l, err)
			}
			return v
		}
		lines = append(lines, bodyLine{name: f[1], inode: uint64(n(f[2])), mode: f[3], uid: uint32(n(f[4])), gid: uint32(n(f[5])),
			size: n(f[6]), atime: n(f[7]), mtime: n(f[8]), ctime: n(f[9]), crtime: n(f[10])})
	}
	return lines
}

// debugfsStat is what `debugfs -R 'stat <ino>'` shows of one inode.
type debugfsStat struct {
	mode, uid, gid, links uint64
	size                  int64
	times                 map[string]time.Time // ctime atime mtime crtime
}

// debugfsStats runs one debugfs for `stat <ino>` of every inode given.
func debugfsStats(t *testing.T, img string, inodes []uint64) map[uint64]*debugfsStat {
	t.Helper()
	var cmds bytes.Buffer
	for _, ino := range inodes {
		fmt.Fprintf(&cmds, "stat <%d>\n", ino)
	}
	out := runDebugfs(t, img, cmds.String())
	res := map[uint64]*debugfsStat{}
	var cur *debugfsStat
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "Inode: "):
			ino, _ := strconv.ParseUint(fields[1], 10, 64)
			cur = &debugfsStat{times: map[string]time.Time{}}
			res[ino] = cur
			for i, w := range fields {
				if w == "Mode:" {
					cur.mode, _ = strconv.ParseUint(fields[i+1], 8, 32)
				}
			}
		case cur == nil:
		case strings.HasPrefix(line, "User: "):
			for i, w := range fields {
				v := func() uint64 { x, _ := strconv.ParseUint(fields[i+1], 10, 64); return x }
				switch w {
				case "User:":
					cur.uid = v()
				case "Group:":
					cur.gid = v()
				case "Size:":
					cur.size = int64(v())
				}
			}
		case strings.HasPrefix(line, "Links: "):
			cur.links, _ = strconv.ParseUint(fields[1], 10, 32)
		case len(fields) > 3 && strings.HasSuffix(fields[0], "time:") && fields[2] == "--":
			// " mtime: 0x83abfb25:0000002a -- Mon Jan  2 03:04:05 2040":
			// seconds as debugfs decodes them (TZ=UTC), nanoseconds from _extra.
			when, err := time.Parse(time.ANSIC, strings.Join(fields[3:], " "))
			if err != nil {
				t.Fatalf("debugfs time %q: %v", line, err)
			}
			raw := strings.SplitN(fields[1], ":", 2)
			if len(raw) == 2 {
				extra, err := strconv.ParseUint(raw[1], 16, 32)
				if err != nil {
					t.Fatalf("debugfs time %q: %v", line, err)
				}
				when = when.Add(time.Duration(extra >> 2))
			}
			cur.times[strings.TrimSuffix(fields[0], ":")] = when
		}
	}
	return res
}

func runDebugfs(t *testing.T, img, cmds string) []byte {
	t.Helper()
	cf := filepath.Join(built.dir, "cmds")
	if err := os.WriteFile(cf, []byte(cmds), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := testenv.LookPath("debugfs")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p, "-f", cf, img)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("debugfs: %v", err)
	}
	return out
}

func fileSHA(t *testing.T, f iofs.FS, name string) string {
	t.Helper()
	fl, err := f.Open(name)
	if err != nil {
		t.Fatalf("open %q: %v", name, err)
	}
	defer fl.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fl); err != nil {
		t.Fatalf("read %q: %v", name, err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

var variants = []struct{ name, typ string }{
	{"ext4", "ext4"}, {"inline", "ext4"}, {"ext2", "ext2"}, {"ext3", "ext3"},
}

// TestCrossCheck compares every object of each generated image with TSK
// (fls bodyfile, istat, icat) and debugfs (stat, dump, ea_get).
func TestCrossCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds four images")
	}
	dir := testImages(t)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			img := filepath.Join(dir, v.name+".img")
			f := openFile(t, img)
			ours := walkStats(t, f)
			if len(ours) < 5500 {
				t.Fatalf("walk found %d objects; the tree has more than 5500", len(ours))
			}
			start := time.Now()
			lap := func(what string) { t.Logf("%s: %v", what, time.Since(start)); start = time.Now() }
			checkInfo(t, f, img, v.typ)
			deleted := checkBodyfile(t, f, img, ours)
			lap("fls")
			checkDebugfs(t, img, ours)
			lap("debugfs stat")
			checkContents(t, f, img, ours)
			lap("contents")
			checkSpecials(t, f, img, dir, v.typ, ours)
			checkDeleted(t, f, img, deleted)
			lap("specials, deleted")
		})
	}
}

func checkInfo(t *testing.T, f *FS, img, typ string) {
	info := f.Info()
	out := dumpe2fs(t, "-h", img)
	field := func(name string) string {
		for _, l := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && k == name {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("dumpe2fs has no %q", name)
		return ""
	}
	if info.Type != typ || info.Dirty {
		t.Errorf("info type %q dirty %v, want %q clean", info.Type, info.Dirty, typ)
	}
	if info.Label != field("Filesystem volume name") || info.UUID != field("Filesystem UUID") ||
		strconv.Itoa(info.BlockSize) != field("Block size") {
		t.Errorf("info %+v disagrees with dumpe2fs", info)
	}
	if bc, _ := strconv.ParseInt(field("Block count"), 10, 64); info.Size != bc*int64(info.BlockSize) {
		t.Errorf("size %d, dumpe2fs %d blocks", info.Size, bc)
	}
	if got, want := info.Created.UTC().Format(time.ANSIC), field("Filesystem created"); got != want {
		t.Errorf("created %s, dumpe2fs %s", got, want)
	}
}

// checkBodyfile compares the live tree with fls and returns fls's deleted
// entries (inode to name).
// debugfsLists reports whether `debugfs -R 'ls -p DIR'` shows name.
func debugfsLists(t *testing.T, img, dir, name string) bool {
	out := runDebugfs(t, img, "ls -p "+dir+"\n")
	for _, l := range strings.Split(string(out), "\n") {
		// /ino/mode/uid/gid/name/size/
		if f := strings.Split(l, "/"); len(f) >= 7 && strings.Join(f[5:len(f)-2], "/") == name {
			return true
		}
	}
	return false
}

func isIndexed(f *FS, ino uint64) bool {
	in, err := f.inode(ino)
	return err == nil && in.Flags&flagIndex != 0
}

func checkBodyfile(t *testing.T, f *FS, img string, ours map[string]*cfs.Stat) map[uint64]string {
	deleted := map[uint64]string{}
	seen := map[string]bool{}
	for _, b := range readBody(t, img) {
		name := b.name
		switch {
		case strings.HasSuffix(name, " (deleted)"):
			deleted[b.inode] = strings.TrimPrefix(strings.TrimSuffix(name, " (deleted)"), "/")
			continue
		case strings.HasSuffix(name, " (deleted-realloc)"), name == "/$OrphanFiles":
			continue
		}
		st := ours[name]
		if st == nil {
			if i := strings.Index(name, " -> "); i >= 0 {
				if s := ours[name[:i]]; s != nil && s.Target == name[i+4:] {
					st, name = s, name[:i]
				}
			}
		}
		if st == nil {
			// TSK sometimes reads the dx_entries of htree index blocks
			// (ext2/3, 1 KiB blocks here) as an entry with a garbage
			// name. debugfs decides: if its listing of the directory
			// lacks the name too, the entry is TSK's.
			if parent := ours[path.Dir(name)]; parent != nil && isIndexed(f, parent.Inode) && !debugfsLists(t, img, path.Dir(name), path.Base(name)) {
				t.Logf("skipping fls's %q (inode %d, %s): not in debugfs's listing of htree directory %s", name, b.inode, b.mode, path.Dir(name))
				continue
			}
			t.Errorf("fls lists %q, we do not", name)
			continue
		}
		seen[name] = true
		// TSK reads times as unsigned 32-bit seconds without the epoch
		// bits, so it agrees with us on their low 32 bits; debugfs
		// checks the full value.
		low := func(tm time.Time) int64 { return int64(uint32(tm.Unix())) }
		if st.Inode != b.inode || tskMode(st.RawMode) != b.mode || st.UID != b.uid || st.GID != b.gid || st.Size != b.size ||
			low(st.Atime) != b.atime || low(st.Mtime) != b.mtime || low(st.Ctime) != b.ctime ||
			(b.crtime != 0 && low(st.Btime) != b.crtime) {
			t.Errorf("%s: ours ino %d %s %d:%d size %d times %d %d %d %d; fls %+v", name, st.Inode, tskMode(st.RawMode), st.UID, st.GID, st.Size,
				st.Atime.Unix(), st.Mtime.Unix(), st.Ctime.Unix(), st.Btime.Unix(), b)
		}
	}
	for p := range ours {
		if !seen[p] {
			t.Errorf("we list %q, fls does not", p)
		}
	}
	return deleted
}

func checkDebugfs(t *testing.T, img string, ours map[string]*cfs.Stat) {
	var inodes []uint64
	byIno := map[uint64]*cfs.Stat{}
	for _, st := range ours {
		if byIno[st.Inode] == nil {
			inodes = append(inodes, st.Inode)
			byIno[st.Inode] = st
		}
	}
	ds := debugfsStats(t, img, inodes)
	if len(ds) != len(inodes) {
		t.Fatalf("debugfs answered for %d of %d inodes", len(ds), len(inodes))
	}
	for ino, d := range ds {
		st := byIno[ino]
		if uint64(st.RawMode&0o7777) != d.mode || uint64(st.UID) != d.uid || uint64(st.GID) != d.gid ||
			uint64(st.Nlink) != d.links || st.Size != d.size {
			t.Errorf("inode %d: ours mode %o uid %d gid %d links %d size %d; debugfs %+v", ino, st.RawMode, st.UID, st.GID, st.Nlink, st.Size, d)
		}
		for name, want := range d.times {
			var got time.Time
			switch name {
			case "atime":
				got = st.Atime
			case "mtime":
				got = st.Mtime
			case "ctime":
				got = st.Ctime
			case "crtime":
				got = st.Btime
			default:
				continue
			}
			if !got.Equal(want) {
				t.Errorf("inode %d: %s %v, debugfs %v", ino, name, got, want)
			}
		}
		if _, ok := d.times["crtime"]; !ok && !st.Btime.IsZero() {
			t.Errorf("inode %d: btime %v where debugfs shows none", ino, st.Btime)
		}
	}
}

// checkContents compares every regular file with debugfs dump, and a
// sample (the interesting ones and a few others) with icat.
func checkContents(t *testing.T, f *FS, img string, ours map[string]*cfs.Stat) {
	dumpDir, err := os.MkdirTemp(built.dir, "dump-") // tmpfs: thousands of files
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dumpDir)
	var cmds strings.Builder
	byIno := map[uint64]string{}
	for p, st := range ours {
		if st.Mode.IsRegular() && byIno[st.Inode] == "" {
			byIno[st.Inode] = p
			fmt.Fprintf(&cmds, "dump <%d> %s/%d\n", st.Inode, dumpDir, st.Inode)
		}
	}
	runDebugfs(t, img, cmds.String())
	i := 0
	for ino, p := range byIno {
		want, err := os.ReadFile(filepath.Join(dumpDir, strconv.FormatUint(ino, 10)))
		if err != nil {
			t.Fatal(err)
		}
		inline := false
		if in, err := f.inode(ino); err == nil && in.Flags&flagInlineData != 0 {
			// debugfs 1.47.0 dumps all 60 bytes of i_block for inline
			// data that fits there; its own stat (checked equal to our
			// size above) gives the length. icat checks these below.
			inline = true
			if st := ours[p]; int64(len(want)) > st.Size {
				want = want[:st.Size]
			}
		}
		if got, w := fileSHA(t, f, p[1:]), fmt.Sprintf("%x", sha256.Sum256(want)); got != w {
			t.Errorf("%s: sha256 %s, debugfs dump %s", p, got, w)
		}
		i++
		base := path.Base(p)
		// icat costs a quarter second a call here: a sample only.
		if i%1000 == 0 || (inline && i%1000 == 1) || strings.HasPrefix(p, "/frag/fragmented") || base == "sparse.bin" || strings.HasPrefix(base, "small") {
			icat := testenv.Output(t, "icat", img, strconv.FormatUint(ino, 10))
			if got, w := fileSHA(t, f, p[1:]), fmt.Sprintf("%x", sha256.Sum256(icat)); got != w {
				t.Errorf("%s: sha256 %s, icat %s", p, got, w)
			}
		}
	}
}

// checkSpecials looks at the objects mkimage.sh made for one feature each.
func checkSpecials(t *testing.T, f *FS, img, dir, typ string, ours map[string]*cfs.Stat) {
	// times: istat prints nanoseconds for the files debugfs set.
	for _, p := range []string{"times/t1", "times/t2"} {
		st := ours["/"+p]
		out := string(testenv.Output(t, "istat", "-z", "UTC", img, strconv.FormatUint(st.Inode, 10)))
		for label, got := range map[string]time.Time{"Accessed:": st.Atime, "File Modified:": st.Mtime, "Inode Modified:": st.Ctime, "File Created:": st.Btime} {
			if (st.Btime.IsZero() || typ != "ext4") && label == "File Created:" { // TSK shows crtime for ext4 only
				continue
			}
			// TSK keeps the low 32 bits of seconds; compare those. It
			// prints nanoseconds for ext4 only.
			layout := "2006-01-02 15:04:05"
			if typ == "ext4" {
				layout += ".000000000"
			}
			want := time.Unix(int64(uint32(got.Unix())), int64(got.Nanosecond())).UTC().Format(layout)
			if !strings.Contains(out, label+"\t"+want+" (UTC)") {
				t.Errorf("%s: istat has no %q %s:\n%s", p, label, want, out)
			}
		}
	}
	t1 := ours["/times/t1"]
	if want := time.Date(2026, 9, 12, 2, 15, 30, 123456789, time.UTC); t1.Mtime.Equal(want) != (t1.Btime.IsZero() == false) && !t1.Btime.IsZero() {
		t.Errorf("times/t1 mtime %v, want %v", t1.Mtime, want)
	}
	if t2 := ours["/times/t2"]; !t1.Btime.IsZero() && t2.Mtime.Year() != 2040 {
		t.Errorf("times/t2 mtime %v, want 2040", t2.Mtime)
	}

	// xattrs, against debugfs ea_get and the setcap-format value written.
	cap, err := os.ReadFile(filepath.Join(dir, "cap.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ours["/xattr/ping"].Xattrs["security.capability"]; !bytes.Equal(got, cap) {
		t.Errorf("security.capability = %x, want %x", got, cap)
	}
	tmp := t.TempDir()
	for _, p := range []string{"/xattr/plain", "/xattr/ping", "/xattr/bigattr"} {
		st := ours[p]
		if len(st.Xattrs) == 0 {
			t.Errorf("%s: no xattrs", p)
		}
		var cmds strings.Builder
		fmt.Fprintf(&cmds, "ea_list %s\n", p)
		names := []string{}
		for name := range st.Xattrs {
			names = append(names, name)
			fmt.Fprintf(&cmds, "ea_get -f %s/%d %s %s\n", tmp, len(names), p, name)
		}
		out := string(runDebugfs(t, img, cmds.String()))
		for i, name := range names {
			want, err := os.ReadFile(fmt.Sprintf("%s/%d", tmp, i+1))
			if err != nil || !bytes.Equal(want, st.Xattrs[name]) {
				t.Errorf("%s %s: ours %q, debugfs %q (%v)", p, name, st.Xattrs[name], want, err)
			}
		}
		if n := strings.Count(out, " ("); n != len(names) {
			t.Errorf("%s: debugfs lists %d xattrs, we %d:\n%s", p, n, len(names), out)
		}
	}
	if in, _ := f.inode(ours["/xattr/bigattr"].Inode); in.FileACL == 0 {
		t.Error("xattr/bigattr has no external xattr block; the test does not cover them")
	}

	// symlinks: fast, slow, long, absolute, chains; ReadLink and Lstat do not follow.
	for link, to := range map[string]string{"links/fast": "tree/d00/f01", "links/chain": "tree/d00/f01", "links/absolute": "tree/d02/f03", "links/todir": "tree/d03"} {
		fi, err := f.Stat(link)
		if err != nil {
			t.Errorf("stat %s: %v", link, err)
			continue
		}
		if got, want := cfs.StatOf(fi).Inode, ours["/"+to].Inode; got != want {
			t.Errorf("stat %s: inode %d, want %d (%s)", link, got, want, to)
		}
	}
	if _, err := f.Stat("links/dangling"); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("stat dangling: %v", err)
	}
	if ents, err := f.ReadDir("links/todir"); err != nil || len(ents) != 91 {
		t.Errorf("readdir through symlink: %d entries, %v", len(ents), err)
	}
	if tgt, err := f.ReadLink("links/long"); err != nil || len(tgt) != 1003 {
		t.Errorf("readlink long: %d bytes, %v", len(tgt), err)
	}
	if _, err := f.ReadLink("links/hard1"); err == nil {
		t.Error("readlink of a regular file succeeded")
	}
	if fi, err := f.Lstat("links/fast"); err != nil || fi.Mode().Type() != iofs.ModeSymlink {
		t.Errorf("lstat fast: %v %v", fi, err)
	}
	if a, b := ours["/links/hard1"], ours["/links/hard2"]; a.Inode != b.Inode || a.Nlink != 3 {
		t.Errorf("hard links: inodes %d %d links %d", a.Inode, b.Inode, a.Nlink)
	}
	if n := len(strings.Repeat("n", 255)); ours["/names/"+strings.Repeat("n", n)] == nil {
		t.Error("255-byte name missing")
	}
	if ours["/names/caf\xe9"] == nil || ours["/names/\xff\xfe\x80bad"] == nil {
		t.Error("non-UTF-8 names missing")
	}
	if !debugfsLists(t, img, "/big", "entry_00001_with_a_longer_name_to_fill_blocks") || debugfsLists(t, img, "/big", "no such entry") {
		t.Error("debugfsLists does not tell names apart")
	}
	if ents, err := f.ReadDir("big"); err != nil || len(ents) != 2500 {
		t.Errorf("big: %d entries, %v", len(ents), err)
	}
	if in, _ := f.inode(ours["/big"].Inode); in.Flags&flagIndex == 0 {
		t.Error("big is not an htree directory; the test does not cover them")
	}
	runs, err := f.Runs(ours["/frag/fragmented"].Inode)
	if err != nil || len(runs) < 10 {
		t.Errorf("frag/fragmented: %d runs, %v; want a fragmented file", len(runs), err)
	}
	if st := ours["/special/suid"]; st.Mode&iofs.ModeSetuid == 0 {
		t.Errorf("suid mode %v", st.Mode)
	}
	if st := ours["/tree/d03/f00"]; st.UID != 123456 || st.GID != 654321 {
		t.Errorf("32-bit owner %d:%d", st.UID, st.GID)
	}
}

// checkDeleted compares Deleted with fls's deleted entries and istat.
func checkDeleted(t *testing.T, f *FS, img string, tsk map[uint64]string) {
	del, err := f.Deleted()
	if err != nil {
		t.Fatal(err)
	}
	ours := map[uint64]cfs.DeletedEntry{}
	for _, d := range del {
		ours[d.Stat.Inode] = d
		if !d.Stat.Deleted {
			t.Errorf("%s not marked deleted", d.Path)
		}
	}
	for ino, name := range tsk {
		if ino == 0 {
			continue // a removed first entry of a block: its inode field is zeroed, nothing to match
		}
		d, ok := ours[ino]
		switch {
		case !ok:
			t.Errorf("fls lists deleted inode %d (%s), we do not", ino, name)
		case d.Path != name:
			t.Errorf("deleted inode %d: path %q, fls %q", ino, d.Path, name)
		}
	}
	for ino, d := range ours {
		if _, ok := tsk[ino]; !ok {
			t.Errorf("we list deleted inode %d (%s), fls does not", ino, d.Path)
		}
	}
	var victim *cfs.DeletedEntry
	for i := range del {
		if del[i].Path == "del/victim" {
			victim = &del[i]
		}
	}
	if victim == nil {
		t.Fatal("del/victim not among the deleted")
	}
	out := string(testenv.Output(t, "istat", "-z", "UTC", img, strconv.FormatUint(victim.Stat.Inode, 10)))
	if want := "Deleted:\t" + victim.Stat.Dtime.Format("2006-01-02 15:04:05") + " (UTC)"; victim.Stat.Dtime.IsZero() || !strings.Contains(out, want) {
		t.Errorf("victim dtime %v; istat:\n%s", victim.Stat.Dtime, out)
	}
	if want := "File Modified:\t" + victim.Stat.Mtime.Format("2006-01-02 15:04:05"); !strings.Contains(out, want) {
		t.Errorf("victim mtime %v; istat:\n%s", victim.Stat.Mtime, out)
	}
}

// TestMetaBG checks group descriptors placed by meta_bg (64-bit, 16 per
// 1 KiB block, in the first blocks of each meta group) against dumpe2fs.
func TestMetaBG(t *testing.T) {
	testenv.NeedTool(t, "mkfs.ext4", "dumpe2fs")
	dir := t.TempDir()
	img := filepath.Join(dir, "mb.img")
	testenv.Run(t, "mkfs.ext4", "-q", "-F", "-b", "1024", "-O", "meta_bg,^resize_inode", img, "300M")
	f := openFile(t, img)
	if f.sb.FeatureIncompat&incompatMetaBG == 0 || len(f.gds) < 33 {
		t.Fatalf("meta_bg %v, %d groups: the test needs several meta groups", f.sb.FeatureIncompat&incompatMetaBG != 0, len(f.gds))
	}
	g := -1
	found := 0
	for _, l := range strings.Split(dumpe2fs(t, img), "\n") {
		if strings.HasPrefix(l, "Group ") {
			fmt.Sscanf(l, "Group %d:", &g)
		}
		var lo uint64
		if _, err := fmt.Sscanf(strings.TrimSpace(l), "Inode table at %d-", &lo); err == nil {
			found++
			if g < 0 || g >= len(f.gds) || f.gds[g].InodeTable != lo {
				t.Errorf("group %d: inode table at %d, dumpe2fs %d", g, f.gds[min(max(g, 0), len(f.gds)-1)].InodeTable, lo)
			}
		}
	}
	if found != len(f.gds) {
		t.Errorf("dumpe2fs lists %d groups, we %d", found, len(f.gds))
	}
}
