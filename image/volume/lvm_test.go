package volume

import (
	"bytes"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// lvmCmd runs an lvm2 command restricted to the given devices, without
// device-mapper and without writing /etc/lvm/backup.
func lvmCmd(t *testing.T, devs []string, name string, args ...string) string {
	t.Helper()
	p := mustLook(t, name)
	full := append([]string{"--driverloaded", "n", "--devices", strings.Join(devs, ","),
		"--config", "backup { backup = 0 archive = 0 }"}, args...)
	cmd := exec.Command(p, full...)
	cmd.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	return string(out)
}

type lvSegReport struct {
	start, size int64 // bytes in the LV
	stripeSize  int64
	ranges      []pvRange
}

type pvRange struct {
	dev         string
	first, last int64 // PEs
}

// lvmSegments parses `lvs --segments` for one LV.
func lvmSegments(t *testing.T, devs []string, lv string) []lvSegReport {
	t.Helper()
	out := lvmCmd(t, devs, "lvs", "--noheadings", "--units", "b", "--nosuffix", "--segments",
		"-o", "seg_start,seg_size,stripe_size,seg_pe_ranges", lv)
	var segs []lvSegReport
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			t.Fatalf("lvs line %q", line)
		}
		s := lvSegReport{}
		s.start, _ = strconv.ParseInt(f[0], 10, 64)
		s.size, _ = strconv.ParseInt(f[1], 10, 64)
		s.stripeSize, _ = strconv.ParseInt(f[2], 10, 64)
		for _, r := range f[3:] {
			dev, span, ok := strings.Cut(r, ":")
			a, b, ok2 := strings.Cut(span, "-")
			if !ok || !ok2 {
				t.Fatalf("PE range %q", r)
			}
			pr := pvRange{dev: dev}
			pr.first, _ = strconv.ParseInt(a, 10, 64)
			pr.last, _ = strconv.ParseInt(b, 10, 64)
			s.ranges = append(s.ranges, pr)
		}
		segs = append(segs, s)
	}
	return segs
}

type pvPlace struct {
	file    string
	off     int64 // of the PV in the file
	peStart int64
}

// writeLV writes data into the disk files where LVM's report says the LV's
// bytes live: linear segments map straight, striped ones chunk by chunk in
// device-mapper's order (chunk i goes to stripe i mod n).
func writeLV(t *testing.T, data []byte, segs []lvSegReport, pvs map[string]pvPlace, extBytes int64) {
	t.Helper()
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	write := func(dev string, pe int64, rel int64, b []byte) {
		pl, ok := pvs[dev]
		if !ok {
			t.Fatalf("unknown PV %s", dev)
		}
		f := files[pl.file]
		if f == nil {
			var err error
			if f, err = os.OpenFile(pl.file, os.O_WRONLY, 0); err != nil {
				t.Fatal(err)
			}
			files[pl.file] = f
		}
		if _, err := f.WriteAt(b, pl.off+pl.peStart+pe*extBytes+rel); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range segs {
		seg := data[s.start : s.start+s.size]
		if len(s.ranges) == 1 {
			write(s.ranges[0].dev, s.ranges[0].first, 0, seg)
			continue
		}
		n := int64(len(s.ranges))
		for c := int64(0); c*s.stripeSize < s.size; c++ {
			r := s.ranges[c%n]
			write(r.dev, r.first, (c/n)*s.stripeSize, seg[c*s.stripeSize:min((c+1)*s.stripeSize, s.size)])
		}
	}
}

func lvByName(t *testing.T, vols []Volume, name string) Volume {
	t.Helper()
	for _, v := range vols {
		if v.Scheme == "lvm" && v.Name == name {
			return v
		}
	}
	t.Fatalf("no LV %s in %+v", name, vols)
	return Volume{}
}

func readAll(t *testing.T, v Volume) []byte {
	t.Helper()
	b := make([]byte, v.Size)
	// Odd-sized reads cross stripe and segment boundaries.
	for off := int64(0); off < v.Size; {
		n := min(int64(97*1024+13), v.Size-off)
		if _, err := v.ReadAt(b[off:off+n], off); err != nil {
			t.Fatalf("%s: ReadAt(%d, %d): %v", v.Name, off, n, err)
		}
		off += n
	}
	return b
}

// A VG across two disks (a GPT partition on one, the whole other disk) with
// a linear LV spanning both PVs and a striped LV (-i2 -I64k), built with
// lvm2 on loop devices; the LVs read back equal to what was written where
// LVM's own segment report places them.
func TestLVMTwoDisks(t *testing.T) {
	testenv.LoopLock(t)
	testenv.NeedTool(t, "losetup", "sgdisk", "pvcreate", "vgcreate", "lvcreate", "lvs", "pvs", "vgs")
	needRoot(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.raw"), filepath.Join(dir, "b.raw")
	for _, f := range []string{a, b} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(f, 48<<20); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Run(t, "sgdisk", "-n1:2048:0", "-t1:8e00", a)
	aOff := int64(2048 * 512)
	aSize := int64(48<<20) - aOff - 33*512
	partEnd := strings.Fields(string(testenv.Output(t, "partx", "-g", "-o", "END", "-n", "1", a)))[0]
	if end, _ := strconv.ParseInt(partEnd, 10, 64); (end+1)*512 != aOff+aSize {
		t.Fatalf("partition ends at sector %s", partEnd)
	}
	la := attachLoop(t, "-o", strconv.FormatInt(aOff, 10), "--sizelimit", strconv.FormatInt(aSize, 10), a)
	lb := attachLoop(t, b)
	devs := []string{la, lb}
	vg := fmt.Sprintf("cc%08x", mrand.Uint32())
	lvmCmd(t, devs, "pvcreate", "-qq", "-ff", "-y", la)
	lvmCmd(t, devs, "pvcreate", "-qq", "-ff", "-y", "--pvmetadatacopies", "2", lb) // a second area at the PV's end
	lvmCmd(t, devs, "vgcreate", "-qq", "-s", "1m", vg, la, lb)
	lvmCmd(t, devs, "lvcreate", "-qq", "-an", "-Zn", "-y", "-L", "16m", "-i2", "-I64k", "-n", "data-str", vg)
	bOld := filepath.Join(dir, "b-old.raw")
	testenv.Run(t, "cp", "--sparse=always", b, bOld)
	lvmCmd(t, devs, "lvcreate", "-qq", "-an", "-Zn", "-y", "-L", "60m", "-n", "lin", vg)
	extOut := strings.TrimSpace(lvmCmd(t, devs, "vgs", "--noheadings", "--units", "b", "--nosuffix", "-o", "vg_extent_size", vg))
	extBytes, _ := strconv.ParseInt(extOut, 10, 64)
	pvs := map[string]pvPlace{}
	for _, line := range strings.Split(strings.TrimSpace(lvmCmd(t, devs, "pvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "pv_name,pe_start")), "\n") {
		f := strings.Fields(line)
		pe, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case la:
			pvs[la] = pvPlace{a, aOff, pe}
		case lb:
			pvs[lb] = pvPlace{b, 0, pe}
		}
	}
	type lvWant struct {
		name, uuid string
		size       int64
		data       []byte
		segs       []lvSegReport
	}
	var wants []*lvWant
	for _, lv := range []string{"lin", "data-str"} {
		w := &lvWant{name: lv}
		f := strings.Fields(lvmCmd(t, devs, "lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "lv_uuid,lv_size", vg+"/"+lv))
		w.uuid = f[0]
		w.size, _ = strconv.ParseInt(f[1], 10, 64)
		w.segs = lvmSegments(t, devs, vg+"/"+lv)
		wants = append(wants, w)
	}
	if len(wants[0].segs) < 2 || wants[0].segs[0].ranges[0].dev == wants[0].segs[len(wants[0].segs)-1].ranges[0].dev {
		t.Fatalf("lin does not span both PVs: %+v", wants[0].segs)
	}
	if s := wants[1].segs; len(s) != 1 || len(s[0].ranges) != 2 || s[0].stripeSize != 64<<10 {
		t.Fatalf("data-str is not 2 stripes of 64 KiB: %+v", s)
	}
	detachLoop(t, la)
	detachLoop(t, lb)

	for _, w := range wants {
		w.data = make([]byte, w.size)
		rand.Read(w.data)
		writeLV(t, w.data, w.segs, pvs, extBytes)
	}

	da, db := openDisk(t, a), openDisk(t, b)
	vols := mustList(t, da, db)
	for _, w := range wants {
		v := lvByName(t, vols, vg+"/"+w.name)
		if v.Size != w.size || v.UUID != w.uuid || v.Selector != vg+"/"+w.name || v.Unsupported != "" {
			t.Errorf("%s: %+v; lvs says size %d uuid %s", w.name, v, w.size, w.uuid)
		}
		wantType := map[string]string{"lin": "lvm linear", "data-str": "lvm striped"}[w.name]
		if v.Type != wantType {
			t.Errorf("%s: type %q, want %q", w.name, v.Type, wantType)
		}
		if got := readAll(t, v); !bytes.Equal(got, w.data) {
			t.Errorf("%s: bytes differ from those written (first at %d)", w.name, firstDiff(got, w.data))
		}
	}
	if p1 := byIndex(t, vols, 0, 1); !p1.Container {
		t.Errorf("PV partition not marked container: %+v", p1)
	}
	if d2, err := Select(vols, "d2"); err != nil || !d2.Container || d2.TypeID != "LVM2_member" {
		t.Errorf("whole-disk PV: %+v %v", d2, err)
	}
	for _, sel := range []string{vg + "/data-str", "/dev/" + vg + "/data-str", "/dev/mapper/" + vg + "-data--str", vg + "-data--str", strings.ToLower(wants[1].uuid), strings.ReplaceAll(wants[1].uuid, "-", "")} {
		if v, err := Select(vols, sel); err != nil || v.Name != vg+"/data-str" {
			t.Errorf("Select(%q) = %s, %v", sel, v.Name, err)
		}
	}
	// Newest seqno wins: disk b as it was before lin was created holds an
	// older copy, disk a the newer one; in either order.
	for _, order := range [][]Disk{{da, openDisk(t, bOld)}, {openDisk(t, bOld), da}} {
		lvByName(t, mustList(t, order...), vg+"/lin")
	}

	// Disk b's first metadata area damaged: its second one (at the end of
	// the PV) and disk a still describe the VG; the damage is reported.
	bImg, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	bImg[4096+600] ^= 0xff // inside the first area's text or ring
	bImg[4096+8] ^= 0xff   // the mda_header magic: CRC fails
	dmg := mustList(t, da, bytes.NewReader(bImg))
	if v := lvByName(t, dmg, vg+"/data-str"); v.Size != wants[1].size {
		t.Errorf("data-str with b's first area damaged: %+v", v)
	}
	if d2, _ := Select(dmg, "d2"); !strings.Contains(strings.Join(d2.Warnings, ";"), "mda_header at 0x1000") {
		t.Errorf("no warning about the damaged area: %q", d2.Warnings)
	}
	bl, err := findPVLabel(bytes.NewReader(bImg), int64(len(bImg)))
	if err != nil || bl == nil || len(bl.mdas) != 2 {
		t.Fatalf("disk b label %+v %v: want 2 metadata areas", bl, err)
	}
	if text, err := readMetadata(bytes.NewReader(bImg), int64(len(bImg)), bl.mdas[1]); err != nil || !bytes.Contains(text, []byte("data-str")) {
		t.Errorf("second metadata area: %v", err)
	}

	// Only one disk given: the LVs on the missing PV say so when read.
	vols1 := mustList(t, da)
	lin := lvByName(t, vols1, vg+"/lin")
	if !strings.Contains(lin.Unsupported, "missing") {
		t.Errorf("lin with a PV missing: %+v", lin)
	}
	if _, err := lin.ReadAt(make([]byte, 1), 0); err == nil {
		t.Error("lin read with a PV missing")
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// mklvm.sh builds the disks others use; check what it promises: each
// FSIMAGE readable at its LV through List, in every table layout.
func TestMklvmScript(t *testing.T) {
	testenv.LoopLock(t)
	testenv.NeedTool(t, "losetup", "sgdisk", "sfdisk", "partx", "pvcreate", "lvcreate")
	needRoot(t)
	script := filepath.Join(testenv.RepoRoot(t), "testdata", "volume", "mklvm.sh")
	dir := t.TempDir()
	img1, img2 := filepath.Join(dir, "fs1.img"), filepath.Join(dir, "fs2.img")
	d1, d2 := make([]byte, 5<<20+123), make([]byte, 3<<20)
	rand.Read(d1)
	rand.Read(d2)
	os.WriteFile(img1, d1, 0o600)
	os.WriteFile(img2, d2, 0o600)
	run := func(env []string, args ...string) string {
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("mklvm.sh %v: %v\n%s", args, err, stderr.String())
		}
		return string(out)
	}
	check := func(t *testing.T, disk, vg string, scheme string) {
		vols := mustList(t, openDisk(t, disk))
		for _, c := range []struct {
			lv   string
			data []byte
			size int64
		}{{"var", d1, 8 << 20}, {"srv-data", d2, 4 << 20}} {
			v, err := Select(vols, vg+"/"+c.lv)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(c.data))
			if _, err := v.ReadAt(got, 0); err != nil || !bytes.Equal(got, c.data) || v.Size != c.size {
				t.Errorf("%s: size %d, read %v, equal %v", c.lv, v.Size, err, bytes.Equal(got, c.data))
			}
		}
		if _, err := Select(vols, vg+"/swap"); err != nil {
			t.Error(err)
		}
		pv := false
		for _, v := range vols {
			pv = pv || v.Scheme == scheme && v.Container
		}
		if !pv {
			t.Errorf("no %s PV in %+v", scheme, vols)
		}
	}
	for _, table := range []string{"gpt", "mbr", "none"} {
		t.Run(table, func(t *testing.T) {
			disk := filepath.Join(dir, table+".raw")
			out := run([]string{"MKLVM_TABLE=" + table}, disk, "64", "vg"+table, "var:8:"+img1, "srv-data:4:"+img2, "swap:4")
			if n := strings.Count(out, "\n"); n != 3 {
				t.Errorf("output %q", out)
			}
			check(t, disk, "vg"+table, map[string]string{"none": "whole"}[table]+map[string]string{"gpt": "gpt", "mbr": "mbr"}[table])
		})
	}
	t.Run("partition", func(t *testing.T) {
		disk := makeFile(t, "two.raw", 64<<20)
		testenv.Run(t, "sgdisk", "-n1:2048:+16M", "-t1:8300", "-n2:0:0", "-t2:8e00", disk)
		run([]string{"MKLVM_PARTITION=2"}, disk, "0", "vgp", "var:8:"+img1, "srv-data:4:"+img2, "swap:4")
		vols := mustList(t, openDisk(t, disk))
		if p2 := byIndex(t, vols, 0, 2); !p2.Container {
			t.Errorf("p2 %+v", p2)
		}
		check(t, disk, "vgp", "gpt")
	})
	t.Run("bad args", func(t *testing.T) {
		cmd := exec.Command("bash", script, filepath.Join(dir, "x.raw"), "64", "vg", "lv:1:"+img1)
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "larger than 1 MiB") {
			t.Errorf("oversized FSIMAGE: %v %s", err, out)
		}
	})
}
