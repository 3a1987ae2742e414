package image

import (
	"path/filepath"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// TestQemuFormats builds each container from the same raw disk with
// qemu-img and checks that our reader gives the bytes qemu-img convert
// -O raw gives.
func TestQemuFormats(t *testing.T) {
	testenv.NeedTool(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	writeTestRaw(t, raw, testRawSize)
	cases := []struct {
		name, format string
		opts         []string
		sub          string
	}{
		{"qcow2-v3", "qcow2", nil, "v3"},
		{"qcow2-v2", "qcow2", []string{"-o", "compat=0.10"}, "v2 (compat=0.10)"},
		{"qcow2-zlib", "qcow2", []string{"-c"}, "v3"},
		{"qcow2-zstd", "qcow2", []string{"-c", "-o", "compression_type=zstd"}, "v3"},
		{"qcow2-v2-zlib-4k", "qcow2", []string{"-c", "-o", "compat=0.10,cluster_size=4096"}, "v2 (compat=0.10)"},
		{"qcow2-extl2", "qcow2", []string{"-o", "extended_l2=on,cluster_size=128k"}, "v3 extended_l2"},
		{"qcow2-extl2-zstd", "qcow2", []string{"-c", "-o", "extended_l2=on,cluster_size=128k,compression_type=zstd"}, "v3 extended_l2"},
		{"vmdk-sparse", "vmdk", nil, "monolithicSparse"},
		{"vmdk-stream", "vmdk", []string{"-o", "subformat=streamOptimized"}, "streamOptimized"},
		{"vmdk-flat", "vmdk", []string{"-o", "subformat=monolithicFlat"}, "monolithicFlat"},
		{"vmdk-split-sparse", "vmdk", []string{"-o", "subformat=twoGbMaxExtentSparse"}, "twoGbMaxExtentSparse"},
		{"vhd-dynamic", "vpc", []string{"-o", "subformat=dynamic"}, "dynamic"},
		{"vhd-fixed", "vpc", []string{"-o", "subformat=fixed"}, "fixed"},
		{"vhd-dynamic-forcesize", "vpc", []string{"-o", "subformat=dynamic,force_size=on"}, "dynamic"},
		{"vhdx-dynamic", "vhdx", nil, "dynamic"},
		{"vhdx-fixed", "vhdx", []string{"-o", "subformat=fixed"}, "fixed"},
		{"vhdx-1m", "vhdx", []string{"-o", "block_size=1M"}, "dynamic"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(dir, c.name+".img")
			args := append([]string{"convert", "-O", c.format}, c.opts...)
			testenv.Run(t, "qemu-img", append(args, raw, img)...)
			im := checkEqual(t, img, qemuRaw(t, img, c.format))
			format := c.format
			if format == "vpc" {
				format = "vhd"
			}
			comp := map[string]string{"qcow2-zlib": "zlib", "qcow2-zstd": "zstd", "qcow2-v2-zlib-4k": "zlib",
				"qcow2-extl2-zstd": "zstd", "vmdk-stream": "deflate"}[c.name]
			if im.Format() != format || im.Layers[0].Subformat != c.sub || im.Layers[0].Compression != comp {
				t.Errorf("layers %+v, want format %s subformat %s compression %q", im.Layers, format, c.sub, comp)
			}
		})
	}
}
