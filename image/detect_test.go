package image

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestDetect: formats come from magic and checksums, never names; a raw
// disk that merely contains a magic can still be read as raw.
func TestDetect(t *testing.T) {
	dir := t.TempDir()
	disk := bytes.Repeat([]byte("guest data "), 1000)[:8192]
	copy(disk[8192-512:], "conectix") // looks like a VHD footer, checksum wrong
	p := filepath.Join(dir, "disk.vhd")
	os.WriteFile(p, disk, 0o644)
	im, err := Open(p)
	if err != nil || im.Format() != "raw" || im.Size() != 8192 {
		t.Fatalf("raw ending in conectix: %v, %+v", err, im)
	}
	im.Close()

	q := append([]byte("QFI\xfb"), disk[4:]...) // a raw disk starting with qcow2's magic
	p = filepath.Join(dir, "disk.raw")
	os.WriteFile(p, q, 0o644)
	if _, err := Open(p); err == nil {
		t.Fatal("garbage qcow2 header opened")
	}
	im, err = OpenFormat(p, "raw")
	if err != nil || im.Format() != "raw" {
		t.Fatalf("OpenFormat raw: %v", err)
	}
	got := make([]byte, len(q))
	if _, err := im.ReadAt(got, 0); err != nil || !bytes.Equal(got, q) {
		t.Fatalf("ReadAt: %v", err)
	}
	im.Close()
	for _, magic := range []string{"<<< Oracle VM VirtualBox Disk Image >>>\n", "EVF\x09\x0d\x0a\xff\x00", "COWD"} {
		os.WriteFile(p, append([]byte(magic), disk...), 0o644)
		if _, err := Open(p); err == nil {
			t.Errorf("%q opened as something", magic)
		}
	}
}
