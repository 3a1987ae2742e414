package volume

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

func makeFile(t *testing.T, name string, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// An MBR with a primary, an extended partition and three logical ones, made
// by sfdisk, read as sfdisk and TSK's mmls read it.
func TestSfdiskExtended(t *testing.T) {
	testenv.NeedTool(t, "sfdisk", "mmls")
	path := makeFile(t, "mbr.raw", 64<<20)
	script := "label: dos\nlabel-id: 0x1234abcd\n" +
		"start=2048, size=16384, type=83, bootable\n" +
		"start=18432, size=8192, type=82\n" +
		"start=26624, type=5\n" +
		"size=8192, type=83\n" +
		"size=16384, type=8e\n" +
		"type=7\n"
	cmd := exec.Command(mustLook(t, "sfdisk"), "-q", path)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	vols := mustList(t, openDisk(t, path))
	var sels []string
	for _, v := range vols {
		sels = append(sels, v.Selector)
	}
	if got := strings.Join(sels, " "); got != "p1 p2 p3 p5 p6 p7" {
		t.Errorf("selectors %q", got)
	}
	checkAgainstSfdisk(t, path, vols)
	checkAgainstMmls(t, path, 512, vols)
	if v := byIndex(t, vols, 0, 3); !v.Container {
		t.Errorf("p3 extended not marked container: %+v", v)
	}
	if v, err := Select(vols, "p6"); err != nil || v.TypeID != "0x8e" || v.Type != "Linux LVM" {
		t.Errorf("Select p6: %+v %v", v, err)
	}
}

func mustLook(t *testing.T, name string) string {
	t.Helper()
	p, err := testenv.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type sgdiskPart struct {
	typ, uuid, name string
	first, last     int64
}

var (
	sgType  = regexp.MustCompile(`Partition GUID code: ([0-9A-F-]+)`)
	sgUUID  = regexp.MustCompile(`Partition unique GUID: ([0-9A-F-]+)`)
	sgFirst = regexp.MustCompile(`First sector: (\d+)`)
	sgLast  = regexp.MustCompile(`Last sector: (\d+)`)
	sgName  = regexp.MustCompile(`Partition name: '(.*)'`)
)

// sgdiskInfo parses `sgdisk -i N dev`.
func sgdiskInfo(t *testing.T, dev string, n int) sgdiskPart {
	t.Helper()
	out := string(testenv.Output(t, "sgdisk", "-i", strconv.Itoa(n), dev))
	get := func(re *regexp.Regexp) string {
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("sgdisk -i %d: no %s in\n%s", n, re, out)
		}
		return m[1]
	}
	p := sgdiskPart{typ: get(sgType), uuid: get(sgUUID), name: get(sgName)}
	p.first, _ = strconv.ParseInt(get(sgFirst), 10, 64)
	p.last, _ = strconv.ParseInt(get(sgLast), 10, 64)
	return p
}

func checkAgainstSgdisk(t *testing.T, dev string, ss int64, vols []Volume, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		sp := sgdiskInfo(t, dev, i)
		v := byIndex(t, vols, 0, i)
		if v.Start != sp.first*ss || v.Size != (sp.last-sp.first+1)*ss || !strings.EqualFold(v.TypeID, sp.typ) ||
			!strings.EqualFold(v.UUID, sp.uuid) || v.Name != sp.name || v.SectorSize != int(ss) {
			t.Errorf("p%d: List %+v; sgdisk %+v", i, v, sp)
		}
	}
}

var sgdiskArgs = []string{
	"-U", "5a1e5a1e-0000-4000-8000-00000000d15c",
	"-n1:2048:+8M", "-t1:8300", "-c1:root", "-u1:11111111-2222-4333-8444-555555555555",
	"-n2:0:+4M", "-t2:ef00", "-c2:EFI system partition", "-u2:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
	"-n3:0:+16M", "-t3:8e00", "-c3:lvm ÄÖ", "-u3:0fedcba9-8765-4321-8fed-cba987654321",
}

// A GPT with names and GUIDs made by sgdisk, compared with sgdisk -i,
// sfdisk --json and mmls; then with a corrupt primary header or entry array
// read through the backup.
func TestSgdiskGPT(t *testing.T) {
	testenv.NeedTool(t, "sgdisk", "sfdisk", "mmls")
	path := makeFile(t, "gpt.raw", 48<<20)
	testenv.Run(t, "sgdisk", append(sgdiskArgs, path)...)
	vols := mustList(t, openDisk(t, path))
	if len(vols) != 3 {
		t.Fatalf("volumes %+v", vols)
	}
	checkAgainstSgdisk(t, path, 512, vols, 3)
	checkAgainstSfdisk(t, path, vols)
	checkAgainstMmls(t, path, 512, vols)
	for _, v := range vols {
		if len(v.Warnings) > 0 {
			t.Errorf("%s: warnings %q", v.Selector, v.Warnings)
		}
	}
	if v, err := Select(vols, "{11111111-2222-4333-8444-555555555555}"); err != nil || v.Name != "root" {
		t.Errorf("Select GUID: %+v %v", v, err)
	}

	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lastLBA := int64(len(img))/512 - 1
	for _, c := range []struct {
		name string
		off  int
		want string // in the warning
	}{
		{"header field", 512 + 40, "header CRC32"},
		{"signature", 512, "no \"EFI PART\" signature"},
		{"entry array", 1024 + 56, "entry array at 0x400: CRC32"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := bytes.Clone(img)
			bad[c.off] ^= 0x5a
			bvols := mustList(t, bytes.NewReader(bad))
			if len(bvols) != len(vols) {
				t.Fatalf("%d volumes through the backup", len(bvols))
			}
			for i := range vols {
				a, b := vols[i], bvols[i]
				if a.Start != b.Start || a.Size != b.Size || a.UUID != b.UUID || a.Name != b.Name {
					t.Errorf("backup p%d %+v, primary %+v", i+1, b, a)
				}
				w := strings.Join(b.Warnings, "; ")
				if !strings.Contains(w, c.want) || !strings.Contains(w, fmt.Sprintf("backup header at %#x", lastLBA*512)) {
					t.Errorf("warnings %q: want %q and the backup's offset", w, c.want)
				}
			}
		})
	}
	t.Run("both corrupt", func(t *testing.T) {
		bad := bytes.Clone(img)
		bad[512+40] ^= 1
		bad[lastLBA*512+40] ^= 1
		_, err := List(bytes.NewReader(bad))
		if err == nil || !strings.Contains(err.Error(), "header at 0x200") || !strings.Contains(err.Error(), fmt.Sprintf("header at %#x", lastLBA*512)) {
			t.Errorf("err %v, want both header offsets", err)
		}
	})
	t.Run("backup corrupt", func(t *testing.T) {
		bad := bytes.Clone(img)
		bad[lastLBA*512+40] ^= 1
		bvols := mustList(t, bytes.NewReader(bad))
		if w := strings.Join(bvols[0].Warnings, ";"); !strings.Contains(w, "backup GPT unusable") {
			t.Errorf("no warning about the bad backup: %q", w)
		}
	})
}

// A GPT on 4096-byte sectors: sgdisk writes it on a loop device with
// 4096-byte logical sectors, and we read the file.
func TestSgdiskGPT4096(t *testing.T) {
	testenv.LoopLock(t)
	testenv.NeedTool(t, "sgdisk", "losetup", "mmls")
	needRoot(t)
	path := makeFile(t, "gpt4k.raw", 64<<20)
	loop := attachLoop(t, "--sector-size", "4096", path)
	testenv.Run(t, "sgdisk", "-n1:256:+8M", "-t1:8300", "-c1:root4k", "-n2:0:+16M", "-t2:8e00", "-c2:lvm4k", loop)
	want := []sgdiskPart{sgdiskInfo(t, loop, 1), sgdiskInfo(t, loop, 2)}
	detachLoop(t, loop)

	d := openDisk(t, path)
	if ss := detectGPTSectorSize(d, d.Size()); ss != 4096 {
		t.Fatalf("sector size %d", ss)
	}
	vols := mustList(t, d)
	if len(vols) != 2 {
		t.Fatalf("volumes %+v", vols)
	}
	for i, sp := range want {
		v := vols[i]
		if v.Start != sp.first*4096 || v.Size != (sp.last-sp.first+1)*4096 || !strings.EqualFold(v.UUID, sp.uuid) ||
			v.Name != sp.name || !strings.EqualFold(v.TypeID, sp.typ) || v.SectorSize != 4096 || len(v.Warnings) > 0 {
			t.Errorf("p%d: %+v; sgdisk %+v", i+1, v, sp)
		}
	}
	checkAgainstMmls(t, path, 4096, vols)

	// The backup alone (primary signature wiped) also finds 4096.
	img, _ := os.ReadFile(path)
	img[4096] = 'X'
	bvols := mustList(t, bytes.NewReader(img))
	if len(bvols) != 2 || bvols[1].Start != vols[1].Start || bvols[1].SectorSize != 4096 {
		t.Errorf("through backup: %+v", bvols)
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("loop devices need root; CI runs as root")
		}
		t.Skip("loop devices need root")
	}
}

// attachLoop attaches a loop device, skipping when none is available.
func attachLoop(t *testing.T, args ...string) string {
	t.Helper()
	p := mustLook(t, "losetup")
	out, err := exec.Command(p, append([]string{"-f", "--show"}, args...)...).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("losetup %v: %v\n%s", args, err, out)
		}
		t.Skipf("no loop device: losetup %v: %v %s", args, err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command(p, "-d", dev).Run() })
	return dev
}

func detachLoop(t *testing.T, dev string) {
	t.Helper()
	testenv.Run(t, "losetup", "-d", dev)
}
