package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

func sha256File(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestDumpEqualsQemuImg: "coldcase dump" of the sample in each container
// format qemu-img writes equals "qemu-img convert -O raw", and a dumped
// volume equals the same byte range of qemu-img's raw.
func TestDumpEqualsQemuImg(t *testing.T) {
	testenv.NeedTool(t, "qemu-img")
	_, sample := readKey(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "truth.raw")
	testenv.Run(t, "qemu-img", "convert", "-O", "raw", sample, raw)
	want := sha256File(t, raw)
	for _, f := range []struct{ name, format, opts string }{
		{"sample.qcow2", "", ""},
		{"v2.qcow2", "qcow2", "compat=0.10"},
		{"zstd.qcow2", "qcow2", "compression_type=zstd"},
		{"stream.vmdk", "vmdk", "subformat=streamOptimized"},
		{"dyn.vhd", "vpc", "subformat=dynamic"},
		{"dyn.vhdx", "vhdx", ""},
	} {
		img := sample
		if f.format != "" {
			img = filepath.Join(dir, f.name)
			args := []string{"convert", "-O", f.format}
			if f.opts != "" {
				args = append(args, "-o", f.opts)
			}
			if f.format == "qcow2" && f.opts == "compression_type=zstd" {
				args = append(args, "-c")
			}
			testenv.Run(t, "qemu-img", append(args, raw, img)...)
			// qemu's own reading of what it wrote is the truth for this file
			truth := filepath.Join(dir, f.name+".truth")
			testenv.Run(t, "qemu-img", "convert", "-O", "raw", img, truth)
			want = sha256File(t, truth)
			os.Remove(truth)
		}
		out := filepath.Join(dir, f.name+".dump")
		if err := run(t, "dump", img, "-o", out); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if got := sha256File(t, out); got != want {
			t.Errorf("%s: dump sha256 %s, qemu-img %s", f.name, got, want)
		}
		os.Remove(out)
	}
	// one volume: partition 2 of the sample starts at sector 71680
	out := filepath.Join(dir, "p2.dump")
	if err := run(t, "dump", sample, "--volume", "p2", "-o", out); err != nil {
		t.Fatal(err)
	}
	slice := filepath.Join(dir, "p2.truth")
	testenv.Run(t, "dd", "if="+raw, "of="+slice, "bs=512", "skip="+strconv.Itoa(71680), "count="+strconv.Itoa(98304), "status=none")
	if a, b := sha256File(t, out), sha256File(t, slice); a != b {
		t.Errorf("dump --volume p2: %s, dd of qemu-img raw: %s", a, b)
	}
	if err := run(t, "dump", sample, "-o", sample); err == nil {
		t.Error("dump over the evidence file was not refused")
	}
}
