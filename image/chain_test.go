package image

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

func qemuIO(t *testing.T, format, img string, cmds ...string) {
	t.Helper()
	args := []string{"-f", format}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	testenv.Run(t, "qemu-io", append(args, img)...)
}

// TestBackingChains builds overlays with qemu-img and writes into each with
// qemu-io, then compares the top with qemu-img convert.
func TestBackingChains(t *testing.T) {
	testenv.NeedTool(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	writeTestRaw(t, raw, testRawSize)

	t.Run("qcow2-3deep", func(t *testing.T) {
		// base (v2, zlib) ← mid (v3, in a subfolder) ← top (extended L2,
		// 128k clusters, written in subclusters). Backing names are
		// relative to each overlay's folder, not to the test's cwd.
		base := filepath.Join(dir, "base.qcow2")
		testenv.Run(t, "qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compat=0.10", raw, base)
		sub := filepath.Join(dir, "sub")
		os.Mkdir(sub, 0o755)
		mid := filepath.Join(sub, "mid.qcow2")
		testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "../base.qcow2", "-F", "qcow2", mid)
		qemuIO(t, "qcow2", mid, "write -P 0xaa 1M 64k", "write -z 3M 128k", "write -P 0x11 4608 1024",
			"write -c -P 0x5a 6M 64k", "write -P 0x77 24M 3584")
		top := filepath.Join(dir, "top.qcow2")
		testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=128k",
			"-b", "sub/mid.qcow2", "-F", "qcow2", top)
		qemuIO(t, "qcow2", top, "write -P 0xcc 8M 512", "write -P 0xdd 1M 4096", "write -z 9M 4k",
			"write -P 0xee 1052672 8192", "write -z 6M 4096", "discard 2M 128k")
		im := checkEqual(t, top, qemuRaw(t, top, "qcow2"))
		if len(im.Layers) != 3 || im.Layers[0].Backing != "sub/mid.qcow2" || im.Layers[1].Backing != "../base.qcow2" || im.Layers[2].Backing != "" {
			t.Errorf("layers: %+v", im.Layers)
		}
	})
	t.Run("qcow2-raw-backing", func(t *testing.T) {
		// A raw backing file named as raw is not probed.
		top := filepath.Join(dir, "over-raw.qcow2")
		testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "disk.raw", "-F", "raw", top)
		qemuIO(t, "qcow2", top, "write -P 0x42 100k 4k")
		im := checkEqual(t, top, qemuRaw(t, top, "qcow2"))
		if im.Layers[1].Format != "raw" {
			t.Errorf("layers: %+v", im.Layers)
		}
	})
	t.Run("qcow2-short-backing", func(t *testing.T) {
		// A backing file shorter than the overlay reads as zeros past its end.
		small := filepath.Join(dir, "small.qcow2")
		testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", small, "1M")
		qemuIO(t, "qcow2", small, "write -P 0x31 0 1M")
		top := filepath.Join(dir, "bigger.qcow2")
		testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "small.qcow2", "-F", "qcow2", top, "5M")
		qemuIO(t, "qcow2", top, "write -P 0x32 3M 4k")
		checkEqual(t, top, qemuRaw(t, top, "qcow2"))
	})
	t.Run("qcow2-internal-snapshot", func(t *testing.T) {
		// Open reads the current state and lists the snapshots;
		// OpenSnapshot reads one, by ID or name, as qemu-img convert -l
		// does — also one taken before the disk grew, over a backing file.
		base := filepath.Join(dir, "snapbase.qcow2")
		testenv.Run(t, "qemu-img", "convert", "-O", "qcow2", raw, base)
		img := filepath.Join(dir, "snap.qcow2")
		testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "snapbase.qcow2", "-F", "qcow2", img)
		qemuIO(t, "qcow2", img, "write -P 0x61 64k 128k")
		testenv.Run(t, "qemu-img", "snapshot", "-c", "before", img)
		qemuIO(t, "qcow2", img, "write -P 0x66 0 1M")
		testenv.Run(t, "qemu-img", "snapshot", "-c", "middle", img)
		testenv.Run(t, "qemu-img", "resize", "-q", img, "+3M")
		qemuIO(t, "qcow2", img, "write -P 0x67 512k 8M", "discard 2M 1M")
		im := checkEqual(t, img, qemuRaw(t, img, "qcow2"))
		snaps := im.Layers[0].Snapshots
		if len(snaps) != 2 || snaps[0].Name != "before" || snaps[1].Name != "middle" || snaps[0].ID == "" || snaps[0].Date.IsZero() {
			t.Fatalf("snapshots %+v", snaps)
		}
		if snaps[0].DiskSize != im.Size()-3<<20 {
			t.Errorf("snapshot disk size %d, want %d", snaps[0].DiskSize, im.Size()-3<<20)
		}
		im.Close()
		for _, sel := range []string{"before", snaps[1].ID} {
			want := filepath.Join(t.TempDir(), "snap.raw")
			testenv.Run(t, "qemu-img", "convert", "-l", snapOpt(snaps, sel), "-O", "raw", img, want)
			truth, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			sim, err := OpenSnapshot(img, sel)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, sim.Size())
			if _, err := sim.ReadAt(got, 0); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			// qemu-img convert -l keeps the current disk size; the disk the
			// guest saw then is the snapshot's size, and that is ours.
			if len(truth) < len(got) || sha(got) != sha(truth[:len(got)]) {
				t.Errorf("snapshot %s: %d bytes differ from qemu-img convert -l (%d bytes)", sel, len(got), len(truth))
			}
			if sim.Layers[0].Snapshot == "" {
				t.Errorf("snapshot %s: layer does not say which snapshot it reads", sel)
			}
			sim.Close()
		}
		if _, err := OpenSnapshot(img, "nosuch"); err == nil || !strings.Contains(err.Error(), "no internal snapshot") {
			t.Errorf("missing snapshot: %v", err)
		}
		if _, err := OpenSnapshot(base, "before"); err == nil {
			t.Error("a snapshot of a file without snapshots opened")
		}
	})
	t.Run("vmdk-parent", func(t *testing.T) {
		base := filepath.Join(dir, "base.vmdk")
		testenv.Run(t, "qemu-img", "convert", "-O", "vmdk", raw, base)
		top := filepath.Join(dir, "delta.vmdk")
		testenv.Run(t, "qemu-img", "create", "-q", "-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk", top)
		qemuIO(t, "vmdk", top, "write -P 0xab 1M 64k", "write -P 0xcd 5000k 1k")
		im := checkEqual(t, top, qemuRaw(t, top, "vmdk"))
		if len(im.Layers) != 2 || im.Layers[0].Backing != "base.vmdk" {
			t.Errorf("layers: %+v", im.Layers)
		}
	})
	t.Run("loop", func(t *testing.T) {
		a, b := filepath.Join(dir, "a.qcow2"), filepath.Join(dir, "b.qcow2")
		testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", b, "1M")
		testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", a)
		testenv.Run(t, "qemu-img", "rebase", "-u", "-b", "a.qcow2", "-F", "qcow2", b)
		_, err := Open(a)
		if err == nil || !strings.Contains(err.Error(), "loop") || !strings.Contains(err.Error(), "a.qcow2") {
			t.Fatalf("Open(a→b→a) = %v, want a loop error naming a.qcow2", err)
		}
		self := filepath.Join(dir, "self.qcow2")
		testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", self, "1M")
		testenv.Run(t, "qemu-img", "rebase", "-u", "-b", "self.qcow2", "-F", "qcow2", self)
		if _, err := Open(self); err == nil || !strings.Contains(err.Error(), "loop") {
			t.Fatalf("Open(self→self) = %v, want a loop error", err)
		}
	})
	t.Run("depth", func(t *testing.T) {
		cd := filepath.Join(dir, "deep")
		os.Mkdir(cd, 0o755)
		prev := "d0.qcow2"
		testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", filepath.Join(cd, prev), "1M")
		for i := 1; i <= MaxChain; i++ {
			cur := fmt.Sprintf("d%d.qcow2", i)
			testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", prev, "-F", "qcow2", filepath.Join(cd, cur), "1M")
			prev = cur
		}
		_, err := Open(filepath.Join(cd, prev))
		if err == nil || !strings.Contains(err.Error(), "deeper than") {
			t.Fatalf("Open(chain of %d) = %v, want a depth error", MaxChain+1, err)
		}
		im, err := Open(filepath.Join(cd, fmt.Sprintf("d%d.qcow2", MaxChain-1)))
		if err != nil {
			t.Fatalf("chain of %d files: %v", MaxChain, err)
		}
		im.Close()
	})
}

// TestCopiedChain: a chain moved into a case folder keeps the absolute
// backing path of the host it came from; the copy beside the overlay is
// what is read.
func TestCopiedChain(t *testing.T) {
	testenv.NeedTool(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	host, cas := filepath.Join(dir, "host"), filepath.Join(dir, "case")
	os.Mkdir(host, 0o755)
	os.Mkdir(cas, 0o755)
	raw := filepath.Join(host, "disk.raw")
	writeTestRaw(t, raw, 12<<20)
	base := filepath.Join(host, "base.qcow2")
	testenv.Run(t, "qemu-img", "convert", "-O", "qcow2", raw, base)
	top := filepath.Join(host, "top.qcow2")
	testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top)
	qemuIO(t, "qcow2", top, "write -P 0x99 2M 64k")
	want := qemuRaw(t, top, "qcow2")
	for _, n := range []string{"base.qcow2", "top.qcow2"} {
		b, _ := os.ReadFile(filepath.Join(host, n))
		os.WriteFile(filepath.Join(cas, n), b, 0o644)
	}
	os.Remove(base)
	im := checkEqual(t, filepath.Join(cas, "top.qcow2"), want)
	if im.Layers[0].Backing != base || im.Layers[1].Path != filepath.Join(cas, "base.qcow2") {
		t.Errorf("layers %+v", im.Layers)
	}
}

// snapOpt is qemu-img convert's -l option for the snapshot sel (an ID or a
// name).
func snapOpt(snaps []Snapshot, sel string) string {
	for _, s := range snaps {
		if s.ID == sel {
			return "snapshot.id=" + sel
		}
	}
	return "snapshot.name=" + sel
}
