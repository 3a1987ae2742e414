package volume

import (
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// List on an sgdisk-made GPT disk against `sfdisk --json` on the same file
// (process start included: that is what a user pays for the other tool).
func BenchmarkListGPT(b *testing.B) {
	testenv.NeedTool(b, "sgdisk", "sfdisk")
	path := filepath.Join(b.TempDir(), "gpt.raw")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	os.Truncate(path, 48<<20)
	testenv.Run(b, "sgdisk", append(sgdiskArgs, path)...)
	d := openDisk(b, path)

	const runs = 20
	sf, _ := testenv.LookPath("sfdisk")
	start := time.Now()
	for range runs {
		if err := exec.Command(sf, "--json", path).Run(); err != nil {
			b.Fatal(err)
		}
	}
	tool := time.Since(start) / runs

	b.ResetTimer()
	for b.Loop() {
		if _, err := List(d); err != nil {
			b.Fatal(err)
		}
	}
	ours := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(tool)/float64(ours), "x_vs_sfdisk")
	b.Logf("List %v, sfdisk --json %v per disk", ours, tool)
}

// Reading a 2-stripe LV (64 KiB chunks) of 256 MiB through the segment map
// against dd reading the same number of bytes straight from the file.
// Only with COLDCASE_BENCH=1 (it writes a 260 MiB file).
func BenchmarkLVMStripedRead(b *testing.B) {
	if os.Getenv("COLDCASE_BENCH") == "" {
		b.Skip("set COLDCASE_BENCH=1")
	}
	testenv.NeedTool(b, "dd")
	const lvMiB = 256
	lv := `s { id = "S" status = ["VISIBLE"] segment1 { start_extent = 0 extent_count = ` + strconv.Itoa(lvMiB) +
		` type = "striped" stripe_count = 2 stripe_size = 128 stripes = ["pv0", 0, "pv0", ` + strconv.Itoa(lvMiB/2) + `] } }`
	pv := buildPV(2<<20, 64<<10, 512, synthVG(lvMiB, lv))
	path := filepath.Join(b.TempDir(), "pv.raw")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	f.Write(pv[:1<<20])
	if _, err := io.CopyN(f, rand.Reader, lvMiB<<20); err != nil {
		b.Fatal(err)
	}
	f.Close()

	dd, _ := testenv.LookPath("dd")
	start := time.Now()
	if err := exec.Command(dd, "if="+path, "of=/dev/null", "bs=1M", "skip=1", "count="+strconv.Itoa(lvMiB)).Run(); err != nil {
		b.Fatal(err)
	}
	tool := time.Since(start)

	vols := mustList(b, openDisk(b, path))
	v, err := Select(vols, "synth/s")
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	b.SetBytes(v.Size)
	b.ResetTimer()
	for b.Loop() {
		for off := int64(0); off < v.Size; off += int64(len(buf)) {
			if _, err := v.ReadAt(buf, off); err != nil {
				b.Fatal(err)
			}
		}
	}
	ours := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(tool)/float64(ours), "x_vs_dd")
	b.Logf("LV read %v, dd of the same bytes %v", ours, tool)
}
