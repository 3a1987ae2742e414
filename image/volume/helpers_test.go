package volume

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// fileDisk is a read-only disk image file.
type fileDisk struct {
	*os.File
	size int64
}

func (f fileDisk) Size() int64 { return f.size }

func openDisk(t testing.TB, path string) fileDisk {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return fileDisk{f, fi.Size()}
}

// xzPeer decompresses a util-linux peer image into memory and into a temp
// file (for the independent tools).
func xzPeer(t testing.TB, rel string) (*bytes.Reader, string) {
	t.Helper()
	b := testenv.PeerXZ(t, rel)
	p := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(rel), ".xz"))
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b), p
}

func mustList(t testing.TB, disks ...Disk) []Volume {
	t.Helper()
	vols, err := List(disks...)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return vols
}

func byIndex(t testing.TB, vols []Volume, disk, idx int) Volume {
	t.Helper()
	for _, v := range vols {
		if v.Scheme != "lvm" && v.Disk == disk && v.Index == idx {
			return v
		}
	}
	t.Fatalf("no partition %d on disk %d in %+v", idx, disk, vols)
	return Volume{}
}

// sfdiskTable is what `sfdisk --json` prints.
type sfdiskTable struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		SectorSize int    `json:"sectorsize"`
		Partitions []struct {
			Node  string `json:"node"`
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
			UUID  string `json:"uuid"`
			Name  string `json:"name"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

var trailingNum = regexp.MustCompile(`(\d+)$`)

// checkAgainstSfdisk compares the partitions of disk 0 with `sfdisk --json`.
func checkAgainstSfdisk(t *testing.T, path string, vols []Volume) {
	t.Helper()
	testenv.NeedTool(t, "sfdisk")
	var tab sfdiskTable
	if err := json.Unmarshal(testenv.Output(t, "sfdisk", "--json", path), &tab); err != nil {
		t.Fatal(err)
	}
	pt := tab.PartitionTable
	wantScheme := map[string]string{"dos": "mbr", "gpt": "gpt"}[pt.Label]
	n := 0
	for _, v := range vols {
		if v.Disk == 0 && v.Scheme != "lvm" {
			n++
		}
	}
	if n != len(pt.Partitions) {
		t.Errorf("sfdisk lists %d partitions, List %d", len(pt.Partitions), n)
	}
	for _, sp := range pt.Partitions {
		idx, _ := strconv.Atoi(trailingNum.FindString(sp.Node))
		v := byIndex(t, vols, 0, idx)
		ss := int64(pt.SectorSize)
		if v.Scheme != wantScheme || v.Start != sp.Start*ss || v.Size != sp.Size*ss {
			t.Errorf("p%d: List %s start %d size %d; sfdisk %s start %d size %d", idx, v.Scheme, v.Start, v.Size, pt.Label, sp.Start*ss, sp.Size*ss)
		}
		switch pt.Label {
		case "gpt":
			if !strings.EqualFold(v.TypeID, sp.Type) || !strings.EqualFold(v.UUID, sp.UUID) || v.Name != sp.Name {
				t.Errorf("p%d: List type %s uuid %s name %q; sfdisk %s %s %q", idx, v.TypeID, v.UUID, v.Name, sp.Type, sp.UUID, sp.Name)
			}
		case "dos":
			typ, _ := strconv.ParseUint(sp.Type, 16, 8)
			want := strconv.FormatUint(typ, 16)
			if len(want) < 2 {
				want = "0" + want
			}
			if v.TypeID != "0x"+want {
				t.Errorf("p%d: List type %s; sfdisk %s", idx, v.TypeID, sp.Type)
			}
			id := strings.TrimPrefix(pt.ID, "0x")
			if wantUUID := id + "-" + pad2(idx); v.UUID != wantUUID {
				t.Errorf("p%d: List PARTUUID %s; sfdisk disk id gives %s", idx, v.UUID, wantUUID)
			}
		}
	}
}

func pad2(n int) string {
	s := strconv.FormatInt(int64(n), 16)
	if len(s) < 2 {
		s = "0" + s
	}
	return s
}

type extent struct{ start, size int64 }

var mmlsRow = regexp.MustCompile(`^\d+:\s+(\d+(?::\d+)?)\s+(\d+)\s+(\d+)\s+(\d+)\s`)

// checkAgainstMmls compares the data partitions with TSK's mmls.
func checkAgainstMmls(t *testing.T, path string, ss int, vols []Volume) {
	t.Helper()
	testenv.NeedTool(t, "mmls")
	out := testenv.Output(t, "mmls", "-b", strconv.Itoa(ss), path)
	var tsk, ours []extent
	for _, line := range strings.Split(string(out), "\n") {
		m := mmlsRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		start, _ := strconv.ParseInt(m[2], 10, 64)
		length, _ := strconv.ParseInt(m[4], 10, 64)
		tsk = append(tsk, extent{start * int64(ss), length * int64(ss)})
	}
	for _, v := range vols {
		if v.Disk == 0 && (v.Scheme == "mbr" || v.Scheme == "gpt") && !(v.Scheme == "mbr" && isExtendedID(v.TypeID)) {
			ours = append(ours, extent{v.Start, v.Size})
		}
	}
	sortExt := func(e []extent) {
		sort.Slice(e, func(i, j int) bool { return e[i].start < e[j].start })
	}
	sortExt(tsk)
	sortExt(ours)
	if len(tsk) == 0 || !equalExt(tsk, ours) {
		t.Errorf("mmls data partitions %v, List %v\n%s", tsk, ours, out)
	}
}

func isExtendedID(id string) bool { return id == "0x05" || id == "0x0f" || id == "0x85" }

func equalExt(a, b []extent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
