package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// TestReplayJournal: a VM snapshotted while running leaves an ext4 whose
// journal holds committed changes not yet written in place. debugfs
// journals a new block for /etc/motd (jo/jw/jc) and leaves needs_recovery
// set; cat shows the disk as TSK would, cat --replay-journal as the kernel
// would after mounting, which is what e2fsck's replay gives.
func TestReplayJournal(t *testing.T) {
	testenv.NeedTool(t, "mkfs.ext4", "debugfs", "e2fsck")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "etc"), 0o755)
	os.WriteFile(filepath.Join(tree, "etc", "motd"), []byte("original motd\n"), 0o644)
	img := filepath.Join(dir, "disk.img")
	testenv.Run(t, "mkfs.ext4", "-q", "-F", "-b", "4096", "-d", tree, img, "8M")
	bmap := strings.TrimSpace(string(testenv.Output(t, "debugfs", "-R", "bmap /etc/motd 0", img)))
	blk, err := strconv.Atoi(bmap)
	if err != nil {
		t.Fatalf("debugfs bmap: %q", bmap)
	}
	// The journaled block keeps the file's size: a new first line only.
	newBlock := make([]byte, 4096)
	copy(newBlock, "hacked motd!\n\n")
	blkFile := filepath.Join(dir, "b")
	os.WriteFile(blkFile, newBlock, 0o644)
	cmds := filepath.Join(dir, "cmds")
	os.WriteFile(cmds, []byte(fmt.Sprintf("jo\njw -b %d %s\njc\n", blk, blkFile)), 0o644)
	testenv.Run(t, "debugfs", "-w", "-f", cmds, img)

	fixed := filepath.Join(dir, "fixed.img")
	b, _ := os.ReadFile(img)
	os.WriteFile(fixed, b, 0o644)
	testenv.Fsck(t, fixed)
	truth := string(testenv.Output(t, "debugfs", "-R", "cat /etc/motd", fixed))

	asIs, err := runOut(t, "cat", img, "/etc/motd")
	if err != nil || asIs != "original motd\n" {
		t.Fatalf("cat as on disk: %q, %v", asIs, err)
	}
	replayed, err := runOut(t, "cat", img, "/etc/motd", "--replay-journal")
	if err != nil || replayed != truth || !strings.HasPrefix(replayed, "hacked") {
		t.Fatalf("cat --replay-journal: %q, %v; e2fsck's replay gives %q", replayed, err, truth)
	}
	info, err := runOut(t, "info", img, "-o", "json", "--replay-journal")
	if err != nil || !strings.Contains(info, "replayed in memory") {
		t.Errorf("info --replay-journal does not say the journal was replayed: %v\n%s", err, info)
	}
	if after, _ := os.ReadFile(img); string(after) != string(b) {
		t.Error("the image was written")
	}
}
