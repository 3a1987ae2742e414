package image

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// dfvfs' ext2 family: /passwords.txt has exactly this content
// (log2timeline/dfvfs tests/file_io/test_lib.py#L127-137).
const dfvfsPasswords = "place,user,password\nbank,joesmith,superrich\nalarm system,-,1234\ntreasure chest,-,1111\nuber secret laire,admin,admin\n"

func readAll(t *testing.T, im *Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := im.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if int64(b.Len()) != im.Size() {
		t.Fatalf("read %d bytes of %d", b.Len(), im.Size())
	}
	return b.Bytes()
}

// TestPeerImages checks the values MANIFEST.md lists for the peer
// projects' container test images.
func TestPeerImages(t *testing.T) {
	cases := []struct {
		rel, format, sub string
		size             int64
		sha              string // decoded raw, where MANIFEST gives it
		passwords        bool   // holds dfvfs' passwords.txt
		label            string // ext2 volume name at 1024+120
	}{
		{"images/dfvfs/ext2.qcow2", "qcow2", "v3", 4194304, "a6c2f0e39afe6c6ab432ca5465349fcefe8dc944398e97b2d957d3f89dbb5d80", true, "ext2_test"},
		{"images/dfvfs/ext2.vhd", "vhd", "dynamic", 4212736, "", true, "ext2_test"},
		{"images/dfvfs/ext2.vmdk", "vmdk", "monolithicSparse", 4194304, "", true, "ext2_test"},
		{"images/dfvfs/windows_volume.qcow2", "qcow2", "v3", 35913728, "44abe9deca9658f331a2bdba2deb53192d04f35d157a1fb3ba0597b03f0524f2", false, ""},
		{"images/plaso/image.qcow2", "qcow2", "v2 (compat=0.10)", 102400, "", false, ""},
		{"images/qcow2-rs/test.qcow2", "qcow2", "v3", 1048576000, "", false, ""},
		{"images/go-vmdk-parser/vmdk-monolith.img", "vmdk", "monolithicSparse", 65536, "", false, ""},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.rel), func(t *testing.T) {
			p := testenv.PeerData(t, c.rel)
			im, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			if im.Size() != c.size || im.Format() != c.format || im.Layers[0].Subformat != c.sub {
				t.Fatalf("size %d format %s/%s, want %d %s/%s", im.Size(), im.Format(), im.Layers[0].Subformat, c.size, c.format, c.sub)
			}
			if c.size > 64<<20 {
				return // the sparse 1000 MiB one: its asserted bytes are checked below
			}
			disk := readAll(t, im)
			if c.sha != "" {
				if got := sha(disk); got != c.sha {
					t.Errorf("decoded sha256 %s, want %s", got, c.sha)
				}
			}
			if c.passwords && !bytes.Contains(disk, []byte(dfvfsPasswords)) {
				t.Errorf("passwords.txt content not found on the disk")
			}
			if c.label != "" {
				if got := string(bytes.TrimRight(disk[1024+120:1024+136], "\x00")); got != c.label {
					t.Errorf("ext2 volume name %q, want %q", got, c.label)
				}
			}
			if testenvHas("qemu-img") {
				qf := map[string]string{"vhd": "vpc"}[c.format]
				if qf == "" {
					qf = c.format
				}
				if want := qemuRaw(t, p, qf); !bytes.Equal(disk, want) {
					t.Errorf("differs from qemu-img convert")
				}
			}
		})
	}

	t.Run("image.qcow2", func(t *testing.T) {
		// plaso: one zlib cluster holding an ext2 file system with
		// /passwords.txt, /a_directory/a_file and another_file.
		im, err := Open(testenv.PeerData(t, "images/plaso/image.qcow2"))
		if err != nil {
			t.Fatal(err)
		}
		defer im.Close()
		disk := readAll(t, im)
		if disk[1024+56] != 0x53 || disk[1024+57] != 0xef {
			t.Errorf("no ext2 magic at 1080")
		}
		for _, n := range []string{"passwords.txt", "a_directory", "a_file", "another_file"} {
			if !bytes.Contains(disk, []byte(n)) {
				t.Errorf("directory entry %q not found", n)
			}
		}
	})
	t.Run("test.qcow2", func(t *testing.T) {
		// qcow2-rs tests/lib.rs#L9-16: 11 bytes at 200 MiB are "Lorem ipsum".
		im, err := Open(testenv.PeerData(t, "images/qcow2-rs/test.qcow2"))
		if err != nil {
			t.Fatal(err)
		}
		defer im.Close()
		b := make([]byte, 11)
		if _, err := im.ReadAt(b, 209715200); err != nil || string(b) != "Lorem ipsum" {
			t.Errorf("ReadAt(200 MiB) = %q, %v", b, err)
		}
	})
	t.Run("vmdk-monolith.img", func(t *testing.T) {
		// go-vmdk-parser vmdk_test.go#L96-278: every byte 0, ReadAt(65024,
		// 512) gives 512 bytes, ReadAt(65536) gives 0 and EOF.
		im, err := Open(testenv.PeerData(t, "images/go-vmdk-parser/vmdk-monolith.img"))
		if err != nil {
			t.Fatal(err)
		}
		defer im.Close()
		if disk := readAll(t, im); !bytes.Equal(disk, make([]byte, 65536)) {
			t.Error("not all zero")
		}
		b := make([]byte, 512)
		if n, err := im.ReadAt(b, 65024); n != 512 || (err != nil && err != io.EOF) {
			t.Errorf("ReadAt(65024) = %d, %v", n, err)
		}
		if n, err := im.ReadAt(b, 65536); n != 0 || err != io.EOF {
			t.Errorf("ReadAt(65536) = %d, %v; want 0, EOF", n, err)
		}
	})
	t.Run("vmdk-invalid.img", func(t *testing.T) {
		// go-vmdk-parser vmdk_test.go#L62-66: the descriptor has no extent.
		if im, err := Open(testenv.PeerData(t, "images/go-vmdk-parser/vmdk-invalid.img")); err == nil {
			im.Close()
			t.Fatal("Open succeeded on a vmdk without extents")
		} else {
			t.Log(err)
		}
	})
	t.Run("vsstest.qcow2", func(t *testing.T) {
		if testing.Short() {
			t.Skip("1 GiB decode")
		}
		// 371 zlib clusters, 1 GiB; decoded SHA-256 from MANIFEST.md.
		im, err := Open(testenv.PeerData(t, "images/plaso/vsstest.qcow2"))
		if err != nil {
			t.Fatal(err)
		}
		defer im.Close()
		h := sha256.New()
		if n, err := im.WriteTo(h); err != nil || n != 1073741824 {
			t.Fatalf("WriteTo = %d, %v", n, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != "5cba558cfac0916cae697d2231dc1e17874aa262f2890f5236fb9c90b9610d0a" {
			t.Errorf("sha256 %s", got)
		}
		boot := make([]byte, 512)
		im.ReadAt(boot, 0)
		if string(boot[3:11]) != "NTFS    " {
			t.Errorf("OEM id %q", boot[3:11])
		}
	})
	t.Run("test.vhdx", func(t *testing.T) {
		// Velociraptor: a dynamic VHDX of 5242880 bytes whose NTFS
		// partition starts 65536 bytes in.
		zr, err := zip.OpenReader(testenv.PeerData(t, "images/velociraptor/test.vhdx.zip"))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		var body []byte
		for _, f := range zr.File {
			if filepath.Base(f.Name) == "test.vhdx" {
				r, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				body, err = io.ReadAll(io.LimitReader(r, 64<<20))
				r.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		if sha(body) != "e0d25d8c92d86dec24253374f91f3d83e00b391f56586e810e589dc34ec68e03" {
			t.Fatalf("test.vhdx from the zip has sha256 %s", sha(body))
		}
		p := filepath.Join(t.TempDir(), "test.vhdx")
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		im, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer im.Close()
		if im.Size() != 5242880 || im.Format() != "vhdx" || im.Layers[0].Subformat != "dynamic" {
			t.Fatalf("size %d, layers %+v", im.Size(), im.Layers)
		}
		boot := make([]byte, 512)
		if _, err := im.ReadAt(boot, 65536); err != nil || string(boot[3:11]) != "NTFS    " {
			t.Errorf("boot sector at 65536: %q, %v", boot[3:11], err)
		}
		if testenvHas("qemu-img") {
			if want := qemuRaw(t, p, "vhdx"); !bytes.Equal(readAll(t, im), want) {
				t.Errorf("differs from qemu-img convert")
			}
		}
	})
}

func testenvHas(tool string) bool {
	_, err := testenv.LookPath(tool)
	return err == nil
}
