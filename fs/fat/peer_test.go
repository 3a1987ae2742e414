package fat

import (
	"bytes"
	iofs "io/fs"
	"os"
	"strings"
	"testing"
	"time"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

func openBytes(t *testing.T, b []byte) *FS {
	t.Helper()
	r := bytes.NewReader(b)
	if got := cfs.Detect(r, int64(len(b))); got != "vfat" {
		t.Fatalf("fs.Detect = %q, want vfat", got)
	}
	f, err := Open(r, int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// rust-fatfs tests/read.rs on resources/fat12.img.
func TestPeerRustFatfs(t *testing.T) {
	b, err := os.ReadFile(testenv.PeerData(t, "images/rust-fatfs/fat12.img"))
	if err != nil {
		t.Fatal(err)
	}
	f := openBytes(t, b)
	if f.Bits() != 12 || f.ClusterCount() != 1955 || f.b.clusterSize != 512 {
		t.Errorf("FAT%d, %d clusters of %d; want FAT12, 1955 of 512", f.Bits(), f.ClusterCount(), f.b.clusterSize)
	}
	info := f.Info()
	if info.Label != "Test!" || info.UUID != "1234-5678" || info.Dirty {
		t.Errorf("Info = %+v; want label Test!, id 1234-5678, clean", info)
	}
	ents, err := f.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var long, short []string
	for _, e := range ents {
		fi, _ := e.Info()
		long = append(long, e.Name())
		short = append(short, ShortName(fi))
	}
	if strings.Join(long, ",") != "long.txt,short.txt,very,very-long-dir-name" ||
		strings.Join(short, ",") != "LONG.TXT,SHORT.TXT,VERY,VERY-L~1" {
		t.Errorf("root: %v / %v", long, short)
	}
	line := "Rust is cool!\n"
	for p, want := range map[string]string{
		"short.txt":               line,
		"long.txt":                strings.Repeat(line, 1000),
		"very/long/path/test.txt": line,
		"very-long-dir-name/very-long-file-name.txt": line,
	} {
		got, err := iofs.ReadFile(f, p)
		if err != nil || string(got) != want {
			t.Errorf("%s: %d bytes, %v", p, len(got), err)
		}
	}
	ents, err = f.ReadDir("very/long/path")
	if err != nil || len(ents) != 1 || ents[0].Name() != "test.txt" {
		t.Errorf("very/long/path: %v %v", ents, err)
	}
}

// util-linux blkid expectations for its fat.img (FAT12) and
// small-fat32.img.
func TestPeerUtilLinux(t *testing.T) {
	for _, tc := range []struct {
		file, label, uuid string
		bits              int
	}{
		{"images/util-linux/fat.img.xz", "TEST-FAT", "DEAD-BEEF", 12},
		{"images/util-linux/small-fat32.img.xz", "TESTVFAT", "1423-AAE1", 32},
	} {
		b := testenv.PeerXZ(t, tc.file)
		f := openBytes(t, b)
		info := f.Info()
		if info.Label != tc.label || info.UUID != tc.uuid || f.Bits() != tc.bits || info.Size != 1474560 {
			t.Errorf("%s: FAT%d %+v; want FAT%d label %s uuid %s size 1474560", tc.file, f.Bits(), info, tc.bits, tc.label, tc.uuid)
		}
		if _, err := f.ReadDir("."); err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
	}
}

// Velociraptor's fat.out.yaml on fat_very_small.dd.
func TestPeerVelociraptor(t *testing.T) {
	b, err := os.ReadFile(testenv.PeerData(t, "images/velociraptor/fat_very_small.dd"))
	if err != nil {
		t.Fatal(err)
	}
	f := openBytes(t, b)
	fi, err := f.Stat("a/b")
	if err != nil {
		t.Fatal(err)
	}
	st := cfs.StatOf(fi)
	if !fi.IsDir() || ShortName(fi) != "B" || f.nodeOf(t, "a/b").cluster != 4 ||
		!st.Mtime.Equal(time.Date(2023, 9, 23, 9, 33, 48, 0, time.UTC)) ||
		!st.Btime.Equal(time.Date(2023, 9, 23, 9, 33, 49, 720_000_000, time.UTC)) {
		t.Errorf("a/b: dir=%v short=%q mtime=%v btime=%v", fi.IsDir(), ShortName(fi), st.Mtime, st.Btime)
	}
	fi, err = f.Stat("a/b/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := iofs.ReadFile(f, "a/b/hello.txt")
	if err != nil || string(got) != "hello world\n" || fi.Size() != 12 || ShortName(fi) != "HELLO.TXT" || f.nodeOf(t, "a/b/hello.txt").cluster != 5 {
		t.Errorf("hello.txt: %q %v size %d short %q", got, err, fi.Size(), ShortName(fi))
	}
}

func (f *FS) nodeOf(t *testing.T, p string) *node {
	t.Helper()
	n, err := f.resolve("test", p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
