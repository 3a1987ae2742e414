package fat

import (
	"bytes"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// images are built by testdata/fat/mkimage.sh, once per FAT width.
var images = testenv.ImageSet{Script: "testdata/fat/mkimage.sh", Shell: "sh", Name: "fat.img"}

func TestMain(m *testing.M) {
	code := m.Run()
	images.Remove()
	os.Exit(code)
}

// buildImage returns the image for one FAT width; tests must not modify it.
func buildImage(t testing.TB, bits int) string {
	t.Helper()
	testenv.NeedTool(t, "mkfs.vfat", "mcopy", "mdel")
	return images.Build(t, strconv.Itoa(bits))
}

func openImage(t testing.TB, path string) *FS {
	t.Helper()
	fh, size := testenv.OpenImage(t, path)
	if !Probe(fh, size) {
		t.Fatalf("Probe(%s) = false", path)
	}
	f, err := Open(fh, size)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// tskEntry is one line of `fls -m` (TSK 3 bodyfile).
type tskEntry struct {
	path                       string
	inode                      uint64
	dir                        bool
	size                       int64
	atime, mtime, ctime, btime int64
}

// flsBody runs fls -r -p -m / with TZ=UTC: TSK renders FAT's zone-less
// local times through the C library's local time, so UTC makes them the
// same wall-clock values this package returns.
func flsBody(t *testing.T, img string, extra ...string) (live, deleted map[string]tskEntry) {
	t.Helper()
	live, deleted = map[string]tskEntry{}, map[string]tskEntry{}
	for _, l := range testenv.Fls(t, img, extra...) {
		name := strings.TrimPrefix(l.Name, "/")
		if strings.HasSuffix(name, "(Volume Label Entry)") || strings.HasPrefix(name, "$") {
			continue // TSK's pseudo files: label slot, $MBR, $FAT1/2, $OrphanFiles
		}
		ino, _, _ := strings.Cut(l.Inode, "-")
		num, err := strconv.ParseUint(ino, 10, 64)
		if err != nil {
			t.Fatalf("fls inode %q: %v", l.Inode, err)
		}
		e := tskEntry{inode: num, dir: strings.HasPrefix(l.Mode, "d/"), size: l.Size,
			atime: l.Atime, mtime: l.Mtime, ctime: l.Ctime, btime: l.Crtime}
		if n, ok := strings.CutSuffix(name, " (deleted)"); ok {
			e.path = n
			deleted[n] = e
		} else {
			e.path = name
			live[name] = e
		}
	}
	return live, deleted
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func compareEntry(t *testing.T, p string, st *cfs.Stat, isDir bool, want tskEntry) {
	t.Helper()
	got := tskEntry{path: p, inode: st.Inode, dir: isDir, size: st.Size,
		atime: unixOrZero(st.Atime), mtime: unixOrZero(st.Mtime), ctime: unixOrZero(st.Ctime), btime: unixOrZero(st.Btime)}
	if got != want {
		t.Errorf("%s:\n got %+v\nwant %+v (fls)", p, got, want)
	}
}

func TestAgainstTSK(t *testing.T) {
	for _, bits := range []int{12, 16, 32} {
		t.Run(fmt.Sprintf("FAT%d", bits), func(t *testing.T) {
			testenv.NeedTool(t, "fls", "icat")
			img := buildImage(t, bits)
			f := openImage(t, img)
			if f.Bits() != bits {
				t.Fatalf("Bits() = %d, want %d", f.Bits(), bits)
			}
			live, deleted := flsBody(t, img)
			if len(live) < 300 {
				t.Fatalf("fls lists only %d entries; the image script changed?", len(live))
			}
			seen := map[string]bool{}
			var files []string
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
				want, ok := live[p]
				if !ok {
					t.Errorf("we list %q, fls does not", p)
					return nil
				}
				seen[p] = true
				compareEntry(t, p, cfs.StatOf(fi), d.IsDir(), want)
				if !d.IsDir() {
					files = append(files, p)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for p := range live {
				if !seen[p] {
					t.Errorf("fls lists %q, we do not", p)
				}
			}
			// Bytes equal mtools' for every file (one mcopy of the whole
			// tree) and icat's for a sample (one process per file).
			testenv.NeedTool(t, "mcopy")
			out := t.TempDir()
			mcopy, _ := testenv.LookPath("mcopy")
			cmd := exec.Command(mcopy, "-s", "-n", "-i", img, "::/*", out+"/")
			cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C.UTF-8")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mcopy: %v\n%s", err, b)
			}
			icat, _ := testenv.LookPath("icat")
			for i, p := range files {
				got, err := iofs.ReadFile(f, p)
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				want, err := os.ReadFile(filepath.Join(out, p))
				if err != nil {
					t.Fatalf("mcopy output: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes differ from mcopy's %d", p, len(got), len(want))
				}
				if i%25 != 0 && !strings.HasSuffix(p, "big.log") {
					continue
				}
				want, err = exec.Command(icat, img, strconv.FormatUint(live[p].inode, 10)).Output()
				if err != nil {
					t.Fatalf("icat %s: %v", p, err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes differ from icat's %d", p, len(got), len(want))
				}
			}
			// Deleted entries.
			del, err := f.Deleted()
			if err != nil {
				t.Fatal(err)
			}
			if len(del) == 0 || len(del) != len(deleted) {
				t.Errorf("Deleted() gives %d entries, fls -d %d", len(del), len(deleted))
			}
			for _, d := range del {
				want, ok := deleted[d.Path]
				if !ok {
					t.Errorf("deleted %q not in fls", d.Path)
					continue
				}
				if !d.Stat.Deleted {
					t.Errorf("%s: Deleted flag not set", d.Path)
				}
				compareEntry(t, d.Path, &d.Stat, d.Stat.Mode.IsDir(), want)
			}
			info := f.Info()
			if info.Label != fmt.Sprintf("COLD%d", bits) || info.UUID != "1234-ABCD" || info.Type != "vfat" {
				t.Errorf("Info() = %+v", info)
			}
			// The EFI boot loader path a guest's /boot/efi would hold,
			// also found case-insensitively as firmware does.
			for _, p := range []string{"EFI/BOOT/BOOTX64.EFI", "efi/boot/bootx64.efi"} {
				b, err := iofs.ReadFile(f, p)
				if err != nil || string(b) != "MZ fake efi loader\n" {
					t.Errorf("%s: %q, %v", p, b, err)
				}
			}
		})
	}
}

// TestAgainstMdir compares names, 8.3 names and sizes with mtools' mdir.
func TestAgainstMdir(t *testing.T) {
	testenv.NeedTool(t, "mdir")
	img := buildImage(t, 32)
	f := openImage(t, img)
	p, _ := testenv.LookPath("mdir")
	cmd := exec.Command(p, "-/", "-a", "-i", img, "::/")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C.UTF-8")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mdir: %v", err)
	}
	dir := ""
	checked := 0
	for _, line := range strings.Split(string(out), "\n") {
		if d, ok := strings.CutPrefix(line, "Directory for ::/"); ok {
			dir = d
			continue
		}
		r := []rune(line)
		if len(r) < 40 || r[8] != ' ' || r[12] != ' ' || line[0] == ' ' {
			continue
		}
		base, ext := strings.TrimRight(string(r[0:8]), " "), strings.TrimRight(string(r[9:12]), " ")
		if base == "." || base == ".." {
			continue
		}
		short := base
		if ext != "" {
			short += "." + ext
		}
		name := short
		if len(r) > 42 {
			name = string(r[42:])
		}
		sizeField := strings.TrimSpace(string(r[12:22]))
		fi, err := f.Stat(strings.TrimPrefix(dir+"/"+name, "/"))
		if err != nil {
			t.Errorf("mdir lists %s/%s: %v", dir, name, err)
			continue
		}
		if fi.Name() != name {
			t.Errorf("%s/%s: our name %q", dir, name, fi.Name())
		}
		if isASCII(short) && !strings.EqualFold(ShortName(fi), short) {
			t.Errorf("%s/%s: 8.3 name %q, mdir %q", dir, name, ShortName(fi), short)
		}
		if sizeField != "<DIR>" {
			if want, err := strconv.ParseInt(strings.ReplaceAll(sizeField, " ", ""), 10, 64); err != nil || fi.Size() != want {
				t.Errorf("%s/%s: size %d, mdir %q", dir, name, fi.Size(), sizeField)
			}
		}
		checked++
	}
	if checked < 300 {
		t.Fatalf("only %d mdir entries checked", checked)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// TestLFNSurrogates builds long-name slots by the VFAT rules for a name
// outside the BMP (mtools cannot write one) and checks the decoding, and
// that a wrong checksum makes the reader fall back to the 8.3 name.
func TestLFNSurrogates(t *testing.T) {
	long := "smile 😀 face.txt"
	short := []byte("SMILE_~1TXT")
	dir := buildLFNSlots(long, short, shortChecksum(short))
	b := &bpb{bytesPerSector: 512, bits: 32}
	l := parseDir(dir, func(i int) int64 { return int64(i) * 32 }, b)
	if len(l.live) != 1 || l.live[0].name != long || l.live[0].short != "SMILE_~1.TXT" {
		t.Fatalf("got %+v", l.live[0])
	}
	bad := buildLFNSlots(long, short, shortChecksum(short)+1)
	l = parseDir(bad, func(i int) int64 { return int64(i) * 32 }, b)
	if len(l.live) != 1 || l.live[0].name != "SMILE_~1.TXT" {
		t.Fatalf("bad checksum: got %q", l.live[0].name)
	}
}

func buildLFNSlots(long string, short []byte, sum byte) []byte {
	u := utf16Encode(long)
	u = append(u, 0)
	for len(u)%13 != 0 {
		u = append(u, 0xffff)
	}
	n := len(u) / 13
	var out []byte
	for seq := n; seq >= 1; seq-- {
		e := make([]byte, 32)
		e[0] = byte(seq)
		if seq == n {
			e[0] |= 0x40
		}
		e[11] = attrLFN
		e[13] = sum
		part := u[(seq-1)*13 : seq*13]
		for i, o := range [13]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
			e[o], e[o+1] = byte(part[i]), byte(part[i]>>8)
		}
		out = append(out, e...)
	}
	e := make([]byte, 32)
	copy(e, short)
	e[11] = attrArchive
	out = append(out, e...)
	return append(out, make([]byte, 32)...)
}

func utf16Encode(s string) []uint16 {
	var u []uint16
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			u = append(u, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
		} else {
			u = append(u, uint16(r))
		}
	}
	return u
}

func TestDosTime(t *testing.T) {
	// 2023-09-23 09:33:49.72: date ((43<<9)|(9<<5)|23), time (9<<11|33<<5|24), 10ms count 172.
	got := dosTime(43<<9|9<<5|23, 9<<11|33<<5|24, 172)
	want := time.Date(2023, 9, 23, 9, 33, 49, 720_000_000, time.UTC)
	if !got.Equal(want) {
		t.Fatalf("dosTime = %v, want %v", got, want)
	}
	if !dosTime(0, 0, 0).IsZero() || !dosTime(43<<9|13<<5|1, 0, 0).IsZero() {
		t.Fatal("invalid dates must give the zero time")
	}
}

var _ = io.EOF

// TestIstat compares the 8.3 name, size and the three times istat prints
// for a sample of entries (istat shows whole seconds).
func TestIstat(t *testing.T) {
	testenv.NeedTool(t, "istat")
	img := buildImage(t, 16)
	f := openImage(t, img)
	istat, _ := testenv.LookPath("istat")
	n := 0
	err := iofs.WalkDir(f, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		if n++; n%20 != 1 && !strings.Contains(p, "MixedCase") && !strings.Contains(p, "lower") {
			return nil
		}
		fi, _ := d.Info()
		st := cfs.StatOf(fi)
		cmd := exec.Command(istat, img, strconv.FormatUint(st.Inode, 10))
		cmd.Env = append(os.Environ(), "TZ=UTC")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("istat %d: %v", st.Inode, err)
		}
		field := func(label string) string {
			for _, l := range strings.Split(string(out), "\n") {
				if v, ok := strings.CutPrefix(l, label); ok {
					return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "(UTC)"))
				}
			}
			t.Fatalf("istat %d: no %q in\n%s", st.Inode, label, out)
			return ""
		}
		ts := func(tm time.Time) string {
			if tm.IsZero() {
				return "0000-00-00 00:00:00"
			}
			return tm.Format("2006-01-02 15:04:05")
		}
		// ShortName is the 8.3 name as stored; istat applies the NT
		// lower-case flags, so names compare case-insensitively.
		got := fmt.Sprintf("%s|%d|%s|%s|%s", strings.ToUpper(ShortName(fi)), st.Size, ts(st.Mtime), ts(st.Atime), ts(st.Btime))
		want := fmt.Sprintf("%s|%s|%s|%s|%s", strings.ToUpper(field("Name:")), field("Size:"), field("Written:"), field("Accessed:"), field("Created:"))
		if got != want {
			t.Errorf("%s: %s; istat %s", p, got, want)
		}
		return nil
	})
	if err != nil || n < 300 {
		t.Fatalf("walk: %v, %d entries", err, n)
	}
}
