package fat

import (
	"os"
	"testing"
	"testing/fstest"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// TestIOFSConformance runs the standard library's io/fs checker (Open,
// ReadDir, Stat, Seek, ReadAt and ReadFile agree with each other).
func TestIOFSConformance(t *testing.T) {
	b, err := os.ReadFile(testenv.PeerData(t, "images/rust-fatfs/fat12.img"))
	if err != nil {
		t.Fatal(err)
	}
	f := openBytes(t, b)
	if err := fstest.TestFS(f, "short.txt", "very/long/path/test.txt", "very-long-dir-name/very-long-file-name.txt"); err != nil {
		t.Fatal(err)
	}
}
