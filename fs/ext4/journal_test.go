package ext4

import (
	"bytes"
	"encoding/binary"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"testing"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// TestJournalReplay writes committed transactions into the journal of an
// ext4 with debugfs (jo/jw/jc: a data block, one whose first bytes are the
// JBD2 magic so it is escaped, and an inode-table block with a changed
// mtime), leaving needs_recovery set. OpenReplayed must show what the
// same image shows after e2fsck replays the journal; Open shows the disk.
func TestJournalReplay(t *testing.T) {
	testenv.NeedTool(t, "mkfs.ext4", "debugfs", "e2fsck")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "d"), 0o755)
	os.WriteFile(filepath.Join(src, "d", "f"), []byte("original contents\n"), 0o644)
	os.WriteFile(filepath.Join(src, "d", "g"), bytes.Repeat([]byte("g"), 5000), 0o644)
	img := filepath.Join(dir, "j.img")
	testenv.Run(t, "mkfs.ext4", "-q", "-F", "-b", "4096", "-O", "^metadata_csum", "-d", src, img, "16M")

	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	f := openBytes(t, raw)
	runs := func(p string) []Run {
		fi, err := f.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.Runs(cfs.StatOf(fi).Inode)
		if err != nil || len(r) == 0 {
			t.Fatal(p, r, err)
		}
		return r
	}
	fBlock, gBlock := runs("d/f")[0].Physical, runs("d/g")[0].Physical
	fi, _ := f.Lstat("d/f")
	in, _ := f.inode(cfs.StatOf(fi).Inode)
	itBlock := uint64(in.Offset / f.bs)

	block := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newF := make([]byte, f.bs)
	copy(newF, "replayed contents!\n")
	newG := bytes.Repeat([]byte("h"), int(f.bs))
	binary.BigEndian.PutUint32(newG, jbdMagic)
	it := bytes.Clone(raw[int64(itBlock)*f.bs : int64(itBlock+1)*f.bs])
	binary.LittleEndian.PutUint32(it[in.Offset%f.bs+0x10:], 1234567890) // i_mtime
	cmds := fmt.Sprintf("jo\njw -b %d %s\njc\njo\njw -b %d,%d %s\njc\n", fBlock, block("f.blk", newF),
		gBlock, itBlock, block("gi.blk", append(newG, it...)))
	testenv.Run(t, "debugfs", "-w", "-f", block("cmds", []byte(cmds)), img)

	dirty := filepath.Join(dir, "dirty.img")
	fixed := filepath.Join(dir, "fixed.img")
	b, _ := os.ReadFile(img)
	os.WriteFile(dirty, b, 0o644)
	os.WriteFile(fixed, b, 0o644)
	testenv.Fsck(t, fixed)

	asIs := openFile(t, dirty)
	if !asIs.Info().Dirty {
		t.Fatal("debugfs left no needs_recovery; the test does not test replay")
	}
	if got := readAll(t, asIs, "d/f"); !bytes.HasPrefix(got, []byte("original")) {
		t.Errorf("Open (as on disk) d/f = %q", got)
	}
	fh, err := os.Open(dirty)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, _ := fh.Stat()
	replayed, err := OpenReplayed(fh, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	truth := openFile(t, fixed)
	want, got := walkStats(t, truth), walkStats(t, replayed)
	if len(want) != len(got) {
		t.Errorf("%d objects after replay, e2fsck's %d", len(got), len(want))
	}
	for p, w := range want {
		g := got[p]
		if g == nil || g.Inode != w.Inode || g.Size != w.Size || !g.Mtime.Equal(w.Mtime) || !g.Ctime.Equal(w.Ctime) {
			t.Errorf("%s: replayed %+v, e2fsck %+v", p, g, w)
			continue
		}
		if w.Mode.IsRegular() {
			if a, b := readAll(t, replayed, p[1:]), readAll(t, truth, p[1:]); !bytes.Equal(a, b) {
				t.Errorf("%s: replayed %q…, e2fsck %q…", p, a[:min(len(a), 20)], b[:min(len(b), 20)])
			}
		}
	}
	if m := got["/d/f"]; m == nil || m.Mtime.Unix() != 1234567890 {
		t.Errorf("replayed d/f mtime %v, want the journaled 1234567890", m)
	}
	if g := readAll(t, replayed, "d/g"); binary.BigEndian.Uint32(g) != jbdMagic {
		t.Errorf("escaped block: first bytes %x", g[:4])
	}
	if _, err := iofs.ReadDir(replayed, "d"); err != nil {
		t.Error(err)
	}
	t.Logf("notes: %q", replayed.Info().Notes)
}
