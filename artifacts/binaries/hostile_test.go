package binaries

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

func TestTruncatedAndCorrupt(t *testing.T) {
	elfData := testenv.PeerFile(t, "binaries/pyelftools/sample_exe64.elf")
	for _, n := range []int{52, 64, 100, 600, 2000, len(elfData) - 1} {
		info, err := ReadELF(bytes.NewReader(elfData[:n]), int64(n))
		if err != nil {
			if n >= 64 {
				t.Errorf("%d bytes: %v", n, err)
			}
			continue
		}
		if info.Machine != "EM_X86_64" {
			t.Errorf("%d bytes: %+v", n, info)
		}
		if n < 600 && len(info.Errors) == 0 {
			t.Errorf("%d bytes: program headers cut but no error", n)
		}
	}
	// Program header count and string offsets pointing far away.
	bad := bytes.Clone(elfData)
	bad[56], bad[57] = 0xff, 0xff // e_phnum
	if info, err := ReadELF(bytes.NewReader(bad), int64(len(bad))); err != nil || len(info.Errors) == 0 {
		t.Errorf("huge phnum: %+v %v", info, err)
	}
	pe := testenv.PeerFile(t, "binaries/plaso/test_pe.exe")
	for _, n := range []int{64, 300, 1024, 2000} {
		ReadPE(pe[:n]) // must not panic; errors are fine
	}
	garbage := bytes.Repeat([]byte("MZ\x00\xff"), 4096)
	if _, err := ReadPE(garbage); err == nil {
		t.Log("garbage MZ parsed without error")
	}
}

// BenchmarkInventoryVsSha256sum walks the host's /usr/bin with our
// extractor (sha256 + md5 + ELF/PE metadata) and hashes the same files with
// sha256sum, and reports our time over the tool's. COLDCASE_BENCH=1 only.
func BenchmarkInventoryVsSha256sum(b *testing.B) {
	if os.Getenv("COLDCASE_BENCH") == "" {
		b.Skip("set COLDCASE_BENCH=1")
	}
	testenv.NeedTool(b, "sha256sum", "find")
	const dir = "/usr/bin"
	var ours, tool time.Duration
	for i := 0; i < b.N; i++ {
		env := &artifacts.Env{FS: os.DirFS(dir), Zone: time.UTC}
		start := time.Now()
		rep, err := Extract(context.Background(), env, DefaultOptions())
		if err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)
		start = time.Now()
		cmd := exec.Command("sh", "-c", "find "+dir+" -type f -print0 | xargs -0 -P "+strconv.Itoa(runtime.NumCPU())+" -n 64 sha256sum >/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(out), "Permission") {
			b.Fatalf("%v %s", err, out)
		}
		tool += time.Since(start)
		b.Logf("%d executables, %d hashed", rep.Total, rep.Hashed)
	}
	b.ReportMetric(float64(ours)/float64(tool), "ours/sha256sum")
}
