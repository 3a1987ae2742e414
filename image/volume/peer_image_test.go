package volume_test

import (
	"archive/zip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/coldcase-dfir/coldcase/image"
	"github.com/coldcase-dfir/coldcase/image/volume"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// Peer images in containers, opened through image.Open: the volume layout
// their projects assert (MANIFEST.md).
func TestPeerContainers(t *testing.T) {
	ntfs := func(b []byte) bool { return string(b[3:11]) == "NTFS    " }
	ext := func(b []byte) bool { return b[1024+56] == 0x53 && b[1024+57] == 0xef }
	for _, c := range []struct {
		rel   string
		start int64 // of the one data volume
		fs    func([]byte) bool
		why   string
	}{
		{"images/dfvfs/windows_volume.qcow2", 0, ntfs, "dfvfs volume_scanner.py: one base path spec, a bare NTFS volume"},
		{"images/plaso/vsstest.qcow2", 0, ntfs, "plaso storage_media_tool.py: QCOW node holds the NTFS file system (and VSS)"},
		{"images/plaso/image.qcow2", 0, ext, "plaso storage_media_tool.py: ext file system directly, no partition table"},
		{"images/dfvfs/ext2.qcow2", 0, ext, "dfvfs: inner file system is ext2"},
		{"images/dfvfs/ext2.vhd", 0, ext, "dfvfs: inner file system is ext2"},
		{"images/dfvfs/ext2.vmdk", 0, ext, "dfvfs: inner file system is ext2"},
		{"images/velociraptor/test.vhdx.zip", 65536, ntfs, "velociraptor vhdx.in.yaml: vhdx → offset 65536 → raw_ntfs"},
	} {
		t.Run(filepath.Base(c.rel), func(t *testing.T) {
			path := testenv.PeerData(t, c.rel)
			if filepath.Ext(path) == ".zip" {
				path = unzipOne(t, path)
			}
			im, err := image.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			vols, err := volume.List(im)
			if err != nil {
				t.Fatal(err)
			}
			var data []volume.Volume
			for _, v := range vols {
				if !v.Container {
					data = append(data, v)
				}
			}
			if len(data) != 1 || data[0].Start != c.start {
				t.Fatalf("%s: volumes %+v, want one data volume at %d", c.why, vols, c.start)
			}
			if c.start == 0 && data[0].Scheme != "whole" {
				t.Errorf("%s: scheme %s, want whole", c.why, data[0].Scheme)
			}
			head := make([]byte, 2048)
			if _, err := data[0].ReadAt(head, 0); err != nil || !c.fs(head) {
				t.Errorf("%s: no filesystem signature at the volume start (%v)", c.why, err)
			}
		})
	}
}

func unzipOne(t *testing.T, path string) string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f := zr.File[0]
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := filepath.Join(t.TempDir(), filepath.Base(f.Name))
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := io.Copy(w, io.LimitReader(rc, 64<<20)); err != nil {
		t.Fatal(err)
	}
	return out
}
