package ntfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

var images = testenv.ImageSet{Script: "testdata/ntfs/mkimage.sh", Shell: "sh", Name: "ntfs.img"}

func TestMain(m *testing.M) {
	code := m.Run()
	images.Remove()
	os.Exit(code)
}

// buildImage runs testdata/ntfs/mkimage.sh once per test binary and
// returns a private copy of the image for the caller.
func buildImage(t testing.TB) string {
	t.Helper()
	testenv.NeedTool(t, "mkntfs", "ntfscp", "ntfsls", "ntfstruncate")
	b, err := os.ReadFile(images.Build(t))
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "ntfs.img")
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return cp
}

func openFile(t testing.TB, p string) *FS {
	t.Helper()
	fh, size := testenv.OpenImage(t, p)
	if got := cfs.Detect(fh, size); got != "ntfs" {
		t.Fatalf("Detect = %q", got)
	}
	f, err := Open(fh, size)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// tskFile gathers what fls -m says about one path: the $SI line, the
// $FILE_NAME line and the named $DATA streams.
type tskFile struct {
	inode       int64
	dir         bool
	size        int64
	si, fn      [4]int64 // atime, mtime, ctime, crtime
	hasFN       bool
	hasMain     bool // a line for the file itself (files without unnamed $DATA have none)
	streams     map[string]int64
	streamInode map[string]string
}

// tskZeroFiletime is how TSK 4.11 prints a FILETIME of 0 (unset, as
// mkntfs leaves $MFT's $STANDARD_INFORMATION): the 1601→1970 shift
// underflows to 2076-11-29 08:54:34.
const tskZeroFiletime = 3373865674

func flsNTFS(t *testing.T, img string) map[string]*tskFile {
	t.Helper()
	files := map[string]*tskFile{}
	get := func(p string) *tskFile {
		if files[p] == nil {
			files[p] = &tskFile{streams: map[string]int64{}, streamInode: map[string]string{}}
		}
		return files[p]
	}
	for _, l := range testenv.Fls(t, img) {
		name := strings.TrimPrefix(l.Name, "/")
		if strings.HasPrefix(name, "$OrphanFiles") || name == "." || strings.HasSuffix(name, " (deleted)") {
			continue
		}
		parts := strings.Split(l.Inode, "-")
		ino, _ := strconv.ParseInt(parts[0], 10, 64)
		times := [4]int64{l.Atime, l.Mtime, l.Ctime, l.Crtime}
		for i, v := range times {
			if v == tskZeroFiletime {
				times[i] = 0
			}
		}
		if base, ok := strings.CutSuffix(name, " ($FILE_NAME)"); ok {
			e := get(base)
			e.fn, e.hasFN = times, true
			continue
		}
		dir, last := path.Split(name)
		if file, stream, ok := strings.Cut(last, ":"); ok {
			if len(parts) > 1 && parts[1] == "128" {
				e := get(dir + file)
				e.streams[stream] = l.Size
				e.streamInode[stream] = l.Inode
			}
			continue // index streams ($I30 aside) such as $Secure:$SDH
		}
		e := get(name)
		e.inode, e.dir, e.size, e.si, e.hasMain = ino, strings.HasPrefix(l.Mode, "d/"), l.Size, times, true
	}
	return files
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// compareTree walks f and checks every path against fls; with icat it
// also compares the bytes of every file and stream.
func compareTree(t *testing.T, f *FS, img string, want map[string]*tskFile, withBytes bool) int {
	t.Helper()
	icat, _ := testenv.LookPath("icat")
	seen := map[string]bool{}
	checked := 0
	err := iofs.WalkDir(f, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		w := want[p]
		if w == nil {
			t.Errorf("we list %q, fls does not", p)
			return nil
		}
		seen[p] = true
		withBytesHere := true
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := cfs.StatOf(fi)
		if !w.hasMain {
			// Only $FILE_NAME and index streams in fls ($Secure, $Quota…).
			w.inode, w.dir, w.si = int64(st.Inode), d.IsDir(), [4]int64{unix(st.Atime), unix(st.Mtime), unix(st.Ctime), unix(st.Btime)}
			w.size = st.Size
			withBytesHere = false
		}
		got := [4]int64{unix(st.Atime), unix(st.Mtime), unix(st.Ctime), unix(st.Btime)}
		if int64(st.Inode) != w.inode || d.IsDir() != w.dir || got != w.si {
			t.Errorf("%s: inode %d dir %v $SI %v; fls %d %v %v", p, st.Inode, d.IsDir(), got, w.inode, w.dir, w.si)
		}
		if w.hasFN {
			fn := [4]int64{unix(st.Extra["fn_atime"]), unix(st.Extra["fn_mtime"]), unix(st.Extra["fn_ctime"]), unix(st.Extra["fn_btime"])}
			if fn != w.fn {
				t.Errorf("%s: $FN %v; fls %v", p, fn, w.fn)
			}
		}
		if d.IsDir() {
			return nil
		}
		if st.Size != w.size {
			t.Errorf("%s: size %d; fls %d", p, st.Size, w.size)
		}
		ss, err := f.Streams(p)
		if err != nil {
			t.Fatal(err)
		}
		gotS := map[string]int64{}
		for _, s := range ss {
			gotS[s.Name] = s.Size
		}
		if fmt.Sprint(gotS) != fmt.Sprint(w.streams) {
			t.Errorf("%s: streams %v; fls %v", p, gotS, w.streams)
		}
		checked++
		if !withBytes || !withBytesHere {
			return nil
		}
		check := func(name, inode string) {
			got, err := iofs.ReadFile(f, name)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			exp, err := exec.CommandContext(ctx, icat, img, inode).Output()
			if err != nil {
				t.Fatalf("icat %s: %v", inode, err)
			}
			if !bytes.Equal(got, exp) {
				t.Errorf("%s: %d bytes differ from icat's %d", name, len(got), len(exp))
			}
		}
		check(p, strconv.FormatInt(w.inode, 10))
		for s := range w.streams {
			if p == "$BadClus" && s == "$Bad" {
				continue // all sparse, volume-sized; icat writes nothing for it
			}
			check(p+":"+s, w.streamInode[s])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for p := range want {
		if !seen[p] {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("fls lists, we do not: %q", missing)
	}
	return checked
}

func TestAgainstTSK(t *testing.T) {
	testenv.NeedTool(t, "fls", "icat")
	img := buildImage(t)
	f := openFile(t, img)
	want := flsNTFS(t, img)
	if n := compareTree(t, f, img, want, true); n < 60 {
		t.Fatalf("only %d files compared", n)
	}
	info := f.Info()
	if info.Label != "COLDNTFS" || info.Type != "ntfs" || len(info.UUID) != 16 {
		t.Errorf("Info = %+v", info)
	}
	// The ADS, the sparse file and the -t mtime are really there.
	ss, _ := f.Streams("small.txt")
	if len(ss) != 2 {
		t.Errorf("small.txt streams %v", ss)
	}
	if b, err := iofs.ReadFile(f, "small.txt:hidden"); err != nil || string(b) != "secret stream\n" {
		t.Errorf("small.txt:hidden = %q, %v", b, err)
	}
	if fi, err := f.Stat("sparse.bin"); err != nil || fi.Size() != 4000000 {
		t.Errorf("sparse.bin: %v %v", fi, err)
	}
	if fi, err := f.Stat("TIMED BIG.TXT"); err != nil || !fi.ModTime().Equal(time.Date(2020, 2, 29, 12, 34, 56, 0, time.UTC)) {
		t.Errorf("timed big.txt (case-insensitive lookup): %v %v", fi, err)
	}
	if _, err := f.Stat("bogus"); err == nil {
		t.Error("bogus exists")
	}
}

// istat prints $FILE_NAME times that fls -m also has, but with the
// fractional seconds; check those for one file.
func TestIstatFractions(t *testing.T) {
	testenv.NeedTool(t, "istat")
	img := buildImage(t)
	f := openFile(t, img)
	fi, err := f.Stat("big.txt")
	if err != nil {
		t.Fatal(err)
	}
	st := cfs.StatOf(fi)
	p, _ := testenv.LookPath("istat")
	cmd := exec.Command(p, img, strconv.FormatUint(st.Inode, 10))
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	// "$STANDARD_INFORMATION Attribute Values:" … "Created:\t2026-11-23 18:38:30.123456700 (UTC)"
	sections := strings.Split(string(out), "Attribute Values:")
	if len(sections) < 3 {
		t.Fatalf("istat output:\n%s", out)
	}
	parse := func(sec, label string) time.Time {
		for _, l := range strings.Split(sec, "\n") {
			if v, ok := strings.CutPrefix(l, label+":\t"); ok {
				v = strings.TrimSuffix(v, " (UTC)")
				tm, err := time.Parse("2006-01-02 15:04:05.999999999", v)
				if err != nil {
					t.Fatalf("%q: %v", l, err)
				}
				return tm
			}
		}
		t.Fatalf("no %s in %q", label, sec)
		return time.Time{}
	}
	si, fn := sections[1], sections[2]
	for _, c := range []struct {
		label string
		got   time.Time
		sec   string
	}{
		{"Created", st.Btime, si}, {"File Modified", st.Mtime, si}, {"MFT Modified", st.Ctime, si}, {"Accessed", st.Atime, si},
		{"Created", st.Extra["fn_btime"], fn}, {"File Modified", st.Extra["fn_mtime"], fn}, {"MFT Modified", st.Extra["fn_ctime"], fn}, {"Accessed", st.Extra["fn_atime"], fn},
	} {
		if w := parse(c.sec, c.label); !w.Equal(c.got) {
			t.Errorf("%s: %v, istat %v", c.label, c.got, w)
		}
	}
}

// TestDeletedAgainstTSK clears the in-use flag of one file's MFT record
// (what deletion does to the record; the stale index entry stays) and
// compares Deleted() with fls -d: the same entries, names, sizes and
// $SI times.
func TestDeletedAgainstTSK(t *testing.T) {
	testenv.NeedTool(t, "fls")
	img := buildImage(t)
	f := openFile(t, img)
	victim := "file 7 with a longer name.txt"
	fi, err := f.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	id := cfs.StatOf(fi).Inode
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	rs := int(f.boot.recordSize)
	patched := false
	for o := 0; o+rs <= len(raw); o += 512 {
		if string(raw[o:o+4]) == "FILE" && binary.LittleEndian.Uint32(raw[o+0x2c:]) == uint32(id) {
			raw[o+0x16] &^= 1 // MFT_RECORD_IN_USE
			patched = true
			break
		}
	}
	if !patched {
		t.Fatalf("MFT record %d not found", id)
	}
	if err := os.WriteFile(img, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	f = openFile(t, img)
	if _, err := f.Stat(victim); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("deleted file still resolves: %v", err)
	}
	del, err := f.Deleted()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := testenv.LookPath("fls")
	cmd := exec.Command(p, "-r", "-d", "-p", "-m", "/", img)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		name string
		size int64
		si   [4]int64
	}
	want := map[uint64]rec{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fs := strings.Split(l, "|")
		if len(fs) != 11 || strings.Contains(fs[1], "($FILE_NAME)") {
			continue
		}
		ino, _ := strconv.ParseUint(strings.Split(fs[2], "-")[0], 10, 64)
		var n [5]int64
		for i, s := range fs[6:] {
			n[i], _ = strconv.ParseInt(s, 10, 64)
		}
		want[ino] = rec{path.Base(strings.TrimSuffix(fs[1], " (deleted)")), n[0], [4]int64{n[1], n[2], n[3], n[4]}}
	}
	got := map[uint64]rec{}
	for _, d := range del {
		st := d.Stat
		got[st.Inode] = rec{path.Base(d.Path), st.Size, [4]int64{unix(st.Atime), unix(st.Mtime), unix(st.Ctime), unix(st.Btime)}}
		if !st.Deleted {
			t.Errorf("%s: Deleted flag not set", d.Path)
		}
	}
	if _, ok := got[id]; !ok || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Deleted():\n%v\nfls -d:\n%v", got, want)
	}
	for _, d := range del {
		if d.Stat.Inode == id && d.Path != victim {
			t.Errorf("path %q, want %q (parent is the live root)", d.Path, victim)
		}
	}
}
