package ntfs

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// toRaw converts a container image to raw with qemu-img (the independent
// reader for containers), so these tests do not depend on image/.
func toRaw(t *testing.T, src string) string {
	t.Helper()
	testenv.NeedTool(t, "qemu-img")
	dst := filepath.Join(t.TempDir(), "disk.raw")
	testenv.Run(t, "qemu-img", "convert", "-O", "raw", src, dst)
	return dst
}

// dfvfs volume_scanner.py: C:\Windows\System32\config\syslog exists,
// C:\bogus does not, config is a directory; the observed volume is 70143
// sectors of 512 bytes, 8 sectors per cluster. The whole tree is also
// compared with fls/icat.
func TestPeerDfvfsWindowsVolume(t *testing.T) {
	raw := toRaw(t, testenv.PeerData(t, "images/dfvfs/windows_volume.qcow2"))
	f := openFile(t, raw)
	if f.boot.totalSectors != 70143 || f.boot.clusterSize != 4096 {
		t.Errorf("%d sectors, cluster %d; want 70143, 4096", f.boot.totalSectors, f.boot.clusterSize)
	}
	fi, err := f.Stat("Windows/System32/config/syslog")
	if err != nil || fi.IsDir() {
		t.Errorf("syslog: %v %v", fi, err)
	}
	if _, err := f.Stat("bogus"); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("bogus: %v", err)
	}
	fi, err = f.Stat("Windows/System32/config")
	if err != nil || !fi.IsDir() {
		t.Errorf("config: %v %v", fi, err)
	}
	if fl, err := f.Open("Windows/System32/config"); err == nil {
		if _, err := fl.Read(make([]byte, 1)); err == nil {
			t.Error("reading a directory as a file succeeded")
		}
	}
	// Windows paths are case-insensitive.
	if _, err := f.Stat("WINDOWS/system32/CONFIG/SysLog"); err != nil {
		t.Errorf("case-insensitive lookup: %v", err)
	}
	testenv.NeedTool(t, "fls", "icat")
	compareTree(t, f, raw, flsNTFS(t, raw), true)
}

// Velociraptor vhdx.out.yaml: the NTFS root inside test.vhdx (at byte
// 65536) lists 19 entries, data streams included, with these sizes.
func TestPeerVelociraptorVHDX(t *testing.T) {
	zr, err := zip.OpenReader(testenv.PeerData(t, "images/velociraptor/test.vhdx.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	vhdx := filepath.Join(t.TempDir(), "test.vhdx")
	for _, zf := range zr.File {
		if zf.Name != "test.vhdx" {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		out, _ := os.Create(vhdx)
		_, err = io.Copy(out, io.LimitReader(rc, 64<<20))
		rc.Close()
		out.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	raw := toRaw(t, vhdx)
	fh, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, _ := fh.Stat()
	part := io.NewSectionReader(fh, 65536, st.Size()-65536)
	f, err := Open(part, part.Size())
	if err != nil {
		t.Fatal(err)
	}
	ents, err := f.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	dirs := map[string]bool{}
	for _, e := range ents {
		fi, _ := e.Info()
		sizes[e.Name()] = fi.Size()
		dirs[e.Name()] = e.IsDir()
		ss, err := f.Streams(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			sizes[e.Name()+":"+s.Name] = s.Size
		}
	}
	if len(sizes) != 19 {
		var names []string
		for n := range sizes {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Errorf("%d root entries and streams, want 19: %q", len(sizes), names)
	}
	for name, want := range map[string]int64{
		"$AttrDef": 2560, "$BadClus:$Bad": 3141632, "$Bitmap": 96, "$Boot": 8192,
		"$LogFile": 2097152, "$MFT": 262144, "$MFTMirr": 4096, "$Secure:$SDS": 263836,
		"$UpCase": 131072, "$UpCase:$Info": 32, "Hello.txt.txt": 11,
	} {
		if got, ok := sizes[name]; !ok || got != want {
			t.Errorf("%s: %d (listed %v), want %d", name, got, ok, want)
		}
	}
	for _, d := range []string{"$Extend", "$RECYCLE.BIN", "System Volume Information", "Users", "Windows"} {
		if !dirs[d] {
			t.Errorf("%s is not a listed directory", d)
		}
	}
	if b, err := iofs.ReadFile(f, "$UpCase:$Info"); err != nil || len(b) != 32 {
		t.Errorf("$UpCase:$Info: %d bytes, %v", len(b), err)
	}
}

// util-linux blkid on ntfs.img: label "Новый том", serial
// 09CBB6DE30C87310.
func TestPeerUtilLinux(t *testing.T) {
	b := testenv.PeerXZ(t, "images/util-linux/ntfs.img.xz")
	f, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	info := f.Info()
	if info.Label != "Новый том" || info.UUID != "09CBB6DE30C87310" || info.Size != 10485248 || info.BlockSize != 4096 {
		t.Errorf("Info = %+v", info)
	}
	if _, err := f.ReadDir("."); err != nil {
		t.Error(err)
	}
}
