package libvirt

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// TestQcow2Chain compares the chain read from the headers with qemu-img's
// own, for relative and absolute names, version 2 and 3 headers, named and
// probed backing formats.
func TestQcow2Chain(t *testing.T) {
	testenv.NeedTool(t, "qemu-img")
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	raw := filepath.Join(dir, "base.raw")
	testenv.Run(t, "qemu-img", "create", "-q", "-f", "raw", raw, "4M")
	mid := filepath.Join(sub, "mid.qcow2")
	testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-F", "raw", "-b", "../base.raw", mid)
	top := filepath.Join(dir, "top.qcow2")
	testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", mid, top)
	// No backing format named (as qemu-img made them before 6.1): QEMU
	// probes, and so does qcow2Chain. The backing-format extension of the
	// top is turned into an unknown one, which QEMU skips.
	data, err := os.ReadFile(top)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data[:4096], []byte{0xe2, 0x79, 0x2a, 0xca})
	if i < 0 {
		t.Fatal("no backing format extension in the top's header")
	}
	copy(data[i:], []byte{0x0c, 0x01, 0xdc, 0xa5})
	if err := os.WriteFile(top, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := qcow2Chain(top)
	if err != nil {
		t.Fatal(err)
	}
	var info []struct {
		Filename string `json:"filename"`
		Format   string `json:"format"`
	}
	if err := json.Unmarshal(testenv.Run(t, "qemu-img", "info", "--backing-chain", "--output=json", top), &info); err != nil {
		t.Fatal(err)
	}
	if len(info) != len(got)+1 {
		t.Fatalf("chain %+v, qemu-img says %+v", got, info)
	}
	for i, b := range got {
		want := info[i+1]
		if filepath.Clean(b.Source) != filepath.Clean(want.Filename) || b.Format != want.Format {
			t.Errorf("backing %d: %s (%s), qemu-img says %s (%s)", i+1, b.Source, b.Format, want.Filename, want.Format)
		}
	}
}

func FuzzQcow2Backing(f *testing.F) {
	if _, err := testenv.LookPath("qemu-img"); err == nil {
		dir := f.TempDir()
		for _, args := range [][]string{
			{"-o", "compat=0.10", "-F", "raw", "-b", "base.raw"},
			{"-F", "qcow2", "-b", "/abs/base.qcow2"},
			{},
		} {
			p := filepath.Join(dir, "x.qcow2")
			os.Remove(p)
			cmd := append([]string{"create", "-q", "-f", "qcow2", "-u"}, args...)
			testenv.Run(f, "qemu-img", append(cmd, p, "1M")...)
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data[:min(len(data), 4096)])
		}
	}
	f.Add([]byte("QFI\xfb\x00\x00\x00\x03"))
	f.Fuzz(func(t *testing.T, data []byte) {
		name, format, err := qcow2Backing(bytes.NewReader(data), "fuzz")
		if err == nil && (len(name) > 1023 || len(format) > 64) {
			t.Fatalf("backing %d bytes, format %d bytes", len(name), len(format))
		}
	})
}
