package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/coldcase-dfir/coldcase/image"
	"github.com/coldcase-dfir/coldcase/image/volume"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// mactime runs TSK's mactime over a bodyfile and returns its CSV rows.
func mactime(t *testing.T, body []byte) string {
	t.Helper()
	cmd := exec.Command("mactime", "-b", "-", "-d", "-y", "-z", "UTC")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mactime: %v", err)
	}
	return string(out)
}

// TestTimelineBodyfileMatchesFls: for each volume TSK can read, our
// "timeline --no-artifacts -o bodyfile" through mactime gives exactly the
// rows of "fls -r -m / | mactime". TSK's virtual entries ($OrphanFiles on
// ext4, the FAT volume-label pseudo-file) have no counterpart in the
// guest's tree and are left out of its side.
func TestTimelineBodyfileMatchesFls(t *testing.T) {
	testenv.NeedTool(t, "qemu-img", "fls", "mactime")
	_, img := readKey(t)
	raw := filepath.Join(t.TempDir(), "sample.raw")
	testenv.Run(t, "qemu-img", "convert", "-O", "raw", img, raw)
	im, err := image.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	vols, err := volume.List(im)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, v := range vols {
		if v.Type == "Linux filesystem" && v.Name == "var" {
			continue // XFS: this TSK does not read it
		}
		var ours bytes.Buffer
		root := newRoot()
		root.SetOut(&ours)
		root.SetArgs([]string{"timeline", img, "--volume", v.Selector, "--no-artifacts", "-o", "bodyfile"})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		fls := testenv.Output(t, "fls", "-r", "-m", "/", "-o", strconv.FormatInt(v.Start/512, 10), raw)
		var keep []string
		for _, l := range strings.SplitAfter(string(fls), "\n") {
			if strings.Contains(l, "/$OrphanFiles") || strings.Contains(l, "(Volume Label Entry)") {
				continue
			}
			keep = append(keep, l)
		}
		a, b := mactime(t, ours.Bytes()), mactime(t, []byte(strings.Join(keep, "")))
		if a != b {
			t.Errorf("volume %s: mactime rows differ\ncoldcase:\n%s\nfls:\n%s", v.Selector, a, b)
		}
		if strings.Count(a, "\n") < 10 {
			t.Errorf("volume %s: only %d rows", v.Selector, strings.Count(a, "\n"))
		}
		checked++
	}
	if checked != 2 {
		t.Errorf("checked %d volumes, want the EFI FAT and the ext4 root", checked)
	}
}
