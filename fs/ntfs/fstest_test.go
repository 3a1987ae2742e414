package ntfs

import (
	"testing"
	"testing/fstest"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// TestIOFSConformance runs the standard library's io/fs checker on the
// dfvfs Windows volume.
func TestIOFSConformance(t *testing.T) {
	raw := toRaw(t, testenv.PeerData(t, "images/dfvfs/windows_volume.qcow2"))
	f := openFile(t, raw)
	if err := fstest.TestFS(f, "Windows/System32/config/syslog"); err != nil {
		t.Fatal(err)
	}
}
