package main

// End-to-end tests of guest assembly through the CLI: "coldcase ls IMAGE...
// / -r" must list the guest as it mounted itself, one tree over several
// filesystems, and every part of that tree must agree with an independent
// reader of the volume it came from (TSK fls for ext4 and FAT, xfs_db for
// XFS) and with the source trees the images were built from.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// e2eEntry is one object of "coldcase ls -o json".
type e2eEntry struct {
	Path     string `json:"path"`
	Inode    string `json:"inode"`
	RawMode  uint32 `json:"mode"`
	UID      uint32 `json:"uid"`
	GID      uint32 `json:"gid"`
	Size     int64  `json:"size"`
	Target   string `json:"target"`
	Deleted  bool   `json:"deleted"`
	Evidence struct {
		Volume string `json:"volume"`
		Path   string `json:"path"`
		Inode  uint64 `json:"inode"`
	} `json:"evidence"`
	Volume string `json:"-"` // Evidence.Volume, copied after decoding
}

// e2eCLI runs the CLI in-process and returns what it wrote to stdout.
func e2eCLI(t *testing.T, args ...string) []byte {
	t.Helper()
	var out bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetErr(&bytes.Buffer{})
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("coldcase %s: %v", strings.Join(args, " "), err)
	}
	return out.Bytes()
}

// e2eLs lists the whole assembled guest, keyed by path.
func e2eLs(t *testing.T, images ...string) map[string]e2eEntry {
	t.Helper()
	args := append([]string{"ls"}, images...)
	args = append(args, "/", "-r", "-o", "json")
	var list []e2eEntry
	if err := json.Unmarshal(e2eCLI(t, args...), &list); err != nil {
		t.Fatalf("ls -o json: %v", err)
	}
	m := make(map[string]e2eEntry, len(list))
	for _, e := range list {
		e.Volume = e.Evidence.Volume
		if e.Evidence.Path != e.Path || (e.Inode != "0" && strconv.FormatUint(e.Evidence.Inode, 10) != e.Inode) {
			t.Errorf("%s: evidence reference %+v does not point at it", e.Path, e.Evidence)
		}
		if _, dup := m[e.Path]; dup {
			t.Errorf("ls lists %q twice", e.Path)
		}
		m[e.Path] = e
	}
	if len(m) == 0 {
		t.Fatal("ls listed nothing")
	}
	return m
}

// under reports whether p is mount point mp or below it.
func under(p, mp string) bool {
	return mp == "/" || p == mp || strings.HasPrefix(p, mp+"/")
}

// flsList runs TSK "fls -r -p" on the filesystem at sector off of img and
// returns allocated names ("etc/passwd") with their inode numbers. TSK's
// virtual entries ($MBR, $FAT1, $OrphanFiles, the FAT volume label) have no
// counterpart in a guest's tree and are left out.
func flsList(t *testing.T, img string, off int64) map[string]string {
	t.Helper()
	out := testenv.Output(t, "fls", "-r", "-p", "-o", strconv.FormatInt(off, 10), img)
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		head, name, ok := strings.Cut(line, "\t")
		if !ok || strings.Contains(head, "*") || strings.HasPrefix(head, "v/v") || strings.HasPrefix(head, "V/V") ||
			strings.HasSuffix(name, "(Volume Label Entry)") {
			continue
		}
		f := strings.Fields(head)
		if len(f) != 2 {
			t.Fatalf("fls: unexpected line %q", line)
		}
		m[name] = strings.TrimSuffix(f[1], ":")
	}
	return m
}

var xfsDBEntry = regexp.MustCompile(`^\s*\d+\s+(\d+)\s+(\S+)\s+0x[0-9a-f]+\s+\d+\s+(.*) \((good|bad[^)]*)\)$`)

// xfsList lists an XFS image with xfs_db's "ls", one xfs_db run per
// directory level, and returns names ("log/auth.log") with inode numbers.
func xfsList(t *testing.T, img string) map[string]string {
	t.Helper()
	m := map[string]string{}
	level := []string{""}
	for depth := 0; len(level) > 0; depth++ {
		if depth > 64 {
			t.Fatal("xfs_db: directory tree deeper than 64")
		}
		args := []string{"-r"}
		for _, d := range level {
			args = append(args, "-c", "ls /"+d)
		}
		out := testenv.Output(t, "xfs_db", append(args, img)...)
		var next []string
		cur := ""
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "/") && strings.HasSuffix(line, ":") {
				cur = strings.Trim(strings.TrimSuffix(line, ":"), "/")
				continue
			}
			sm := xfsDBEntry.FindStringSubmatch(line)
			if sm == nil {
				continue
			}
			if sm[4] != "good" {
				t.Fatalf("xfs_db: %q", line)
			}
			if sm[3] == "." || sm[3] == ".." {
				continue
			}
			name := path.Join(cur, sm[3])
			m[name] = sm[1]
			if sm[2] == "directory" {
				next = append(next, name)
			}
		}
		level = next
	}
	return m
}

// partStart is the first sector of partition n, read with util-linux partx.
func partStart(t *testing.T, disk string, n int) int64 {
	t.Helper()
	out := strings.TrimSpace(string(testenv.Output(t, "partx", "-g", "-o", "START", "-n", strconv.Itoa(n), disk)))
	s, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		t.Fatalf("partx %s %d: %q", disk, n, out)
	}
	return s
}

// extractRange copies length bytes at off of src into dst at dstOff.
func extractRange(t *testing.T, src, dst string, off, length, dstOff int64) {
	t.Helper()
	testenv.Run(t, "dd", "if="+src, "of="+dst, "bs=1M", "iflag=skip_bytes,count_bytes,fullblock", "oflag=seek_bytes",
		"skip="+strconv.FormatInt(off, 10), "count="+strconv.FormatInt(length, 10), "seek="+strconv.FormatInt(dstOff, 10),
		"conv=notrunc,sparse", "status=none")
}

// checkInodes compares the guest's entries under mount point mp with an
// independent listing of the volume mounted there (names relative to the
// volume's root). Mount points inside the volume are shadowed by the
// filesystem mounted on them, and what lies below them belongs to that one.
func checkInodes(t *testing.T, ls map[string]e2eEntry, mp, vol string, indep map[string]string, shadowed []string, tool string) {
	t.Helper()
	isShadowed := func(p string) bool {
		for _, s := range shadowed {
			if under(p, s) {
				return true
			}
		}
		return false
	}
	n := 0
	for name, ino := range indep {
		p := path.Join(mp, name)
		if isShadowed(p) {
			continue
		}
		e, ok := ls[p]
		if !ok {
			t.Errorf("%s lists %s (inode %s) on %s; coldcase ls does not", tool, p, ino, vol)
			continue
		}
		if e.Inode != ino {
			t.Errorf("%s: inode %s, %s says %s", p, e.Inode, tool, ino)
		}
		if e.Volume != vol {
			t.Errorf("%s: volume %q, want %q", p, e.Volume, vol)
		}
		n++
	}
	for p, e := range ls {
		if e.Volume != vol || p == mp {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, mp), "/")
		if _, ok := indep[rel]; !ok {
			t.Errorf("coldcase ls lists %s on %s; %s does not", p, vol, tool)
		}
	}
	if n == 0 {
		t.Errorf("%s on %s: nothing compared", tool, vol)
	}
	t.Logf("%s: %d objects agree with %s", vol, n, tool)
}

// TestGuestSampleOneTree: the shipped sample (GPT, EFI FAT p1, ext4 root
// p2, XFS /var p3) lists as one tree, each part from the volume its fstab
// mounts there, and each part agrees name by name and inode by inode with
// fls (ext4, FAT) and xfs_db (XFS) on that volume alone.
func TestGuestSampleOneTree(t *testing.T) {
	testenv.NeedTool(t, "qemu-img", "fls", "xfs_db", "partx", "dd")
	img := filepath.Join(testenv.RepoRoot(t), "testdata", "sample", "sample.qcow2")
	ls := e2eLs(t, img)

	// What testdata/sample/build.sh plants, and on which volume.
	want := map[string]struct {
		vol  string
		mode uint32
	}{
		"/etc/passwd":                    {"p2", 0o100644},
		"/etc/fstab":                     {"p2", 0o100644},
		"/root/.bash_history":            {"p2", 0o100600},
		"/tmp/.X11-unix/.s/kworkerd":     {"p2", 0o100755},
		"/tmp/.X11-unix/.s/.bash":        {"p2", 0o104755},
		"/tmp/.X11-unix":                 {"p2", 0o041777},
		"/var":                           {"p3", 0o040755},
		"/var/log/auth.log":              {"p3", 0o100644},
		"/var/log/wtmp":                  {"p3", 0o100644},
		"/var/log/btmp":                  {"p3", 0o100660},
		"/var/lib/dpkg/status":           {"p3", 0o100644},
		"/boot/efi/EFI/BOOT/BOOTX64.EFI": {"p1", 0},
		"/boot/efi/EFI/debian/grub.cfg":  {"p1", 0},
		"/etc/systemd/system/multi-user.target.wants/dbus-helper.service": {"p2", 0o120777},
	}
	for p, w := range want {
		e, ok := ls[p]
		if !ok {
			t.Errorf("%s missing from ls -r /", p)
			continue
		}
		if e.Volume != w.vol {
			t.Errorf("%s: volume %q, want %q", p, e.Volume, w.vol)
		}
		if w.mode != 0 && e.RawMode != w.mode {
			t.Errorf("%s: mode %o, want %o", p, e.RawMode, w.mode)
		}
	}
	if e := ls["/etc/systemd/system/multi-user.target.wants/dbus-helper.service"]; e.Target != "/etc/systemd/system/dbus-helper.service" {
		t.Errorf("dbus-helper.service link target %q", e.Target)
	}
	for p, e := range ls {
		var vol string
		switch {
		case under(p, "/var"):
			vol = "p3"
		case under(p, "/boot/efi"):
			vol = "p1"
		default:
			vol = "p2"
		}
		if e.Volume != vol {
			t.Errorf("%s: volume %q, want %q", p, e.Volume, vol)
		}
	}

	raw := filepath.Join(t.TempDir(), "sample.raw")
	testenv.Run(t, "qemu-img", "convert", "-O", "raw", img, raw)
	checkInodes(t, ls, "/", "p2", flsList(t, raw, partStart(t, raw, 2)), []string{"/var", "/boot/efi"}, "fls")
	checkInodes(t, ls, "/boot/efi", "p1", flsList(t, raw, partStart(t, raw, 1)), nil, "fls")
	xfs := filepath.Join(t.TempDir(), "var.xfs")
	extractRange(t, raw, xfs, partStart(t, raw, 3)*512, 300<<20, 0)
	checkInodes(t, ls, "/var", "p3", xfsList(t, xfs), nil, "xfs_db")

	// the mount points are the mounted filesystems' roots
	if e := ls["/var"]; e.Inode != "128" {
		t.Errorf("/var: inode %s, want the XFS root 128", e.Inode)
	}
}

// lvmGuest builds testdata/guest/build-lvm-guest.sh into a temporary
// folder once per test binary run.
type lvmGuest struct {
	dir      string
	segments map[string][]lvSegment // "root" → where its bytes lie
}

type lvSegment struct {
	lvOff, size int64
	disk        string
	diskOff     int64
}

var segLine = regexp.MustCompile(`^vg0/(\S+) segment at (\d+)\+(\d+): (\S+) byte (\d+)$`)

func buildLVMGuest(t *testing.T) *lvmGuest {
	t.Helper()
	// lvm2 writes the PVs through loop devices: root, and a free loop
	// device. CI runs as root with loop devices, so there this fails.
	skip := func(why string) {
		if os.Getenv("CI") != "" {
			t.Fatal(why + "; CI must run this test as root with loop devices")
		}
		t.Skip(why + " (the LVM guest is built with lvm2 on loop devices)")
	}
	if os.Geteuid() != 0 {
		skip("not root")
	}
	testenv.NeedTool(t, "losetup", "pvcreate", "lvcreate", "sgdisk", "partx", "mkfs.ext4", "mkfs.xfs", "mkfs.vfat", "mcopy", "dd")
	if p, _ := testenv.LookPath("losetup"); p != "" {
		if out, err := exec.Command(p, "-f").CombinedOutput(); err != nil {
			skip(fmt.Sprintf("no free loop device: losetup -f: %v %s", err, bytes.TrimSpace(out)))
		}
	}
	dir := t.TempDir()
	testenv.LoopLock(t)
	out := testenv.Output(t, "bash", filepath.Join(testenv.RepoRoot(t), "testdata", "guest", "build-lvm-guest.sh"), dir)
	g := &lvmGuest{dir: dir, segments: map[string][]lvSegment{}}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		m := segLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("build-lvm-guest.sh: unexpected output %q", line)
		}
		n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
		g.segments[m[1]] = append(g.segments[m[1]], lvSegment{n(m[2]), n(m[3]), filepath.Join(dir, m[4]), n(m[5])})
	}
	return g
}

// lvImage copies an LV out of the disks along the segment map lvm2
// reported, for the independent listers.
func (g *lvmGuest) lvImage(t *testing.T, lv string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), lv+".img")
	for _, s := range g.segments[lv] {
		extractRange(t, s.disk, img, s.diskOff, s.size, s.lvOff)
	}
	return img
}

// srcObject is one object of a source tree, at its guest path.
type srcObject struct {
	src   string // host path in OUTDIR/src
	mount string // name of the source tree
	fi    fs.FileInfo
}

// TestGuestLVMOneTree: the hardened layout — /var, /var/log and
// /var/log/audit on separate XFS LVs, /home on a second disk, one LV
// spanning both disks, the EFI partition by PARTUUID — lists as the union of
// the source trees at their fstab mount points, with their modes, owners,
// sizes, link targets and bytes; inode numbers agree with fls/xfs_db on
// each LV; info shows the mounts where fstab puts them; symlinks that cross
// mounts resolve inside the guest.
func TestGuestLVMOneTree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a two-disk LVM guest (~20 s)")
	}
	testenv.NeedTool(t, "qemu-img", "fls", "xfs_db")
	g := buildLVMGuest(t)
	// The second disk as qcow2: a VG may span images of different formats.
	disk2 := filepath.Join(g.dir, "disk2.qcow2")
	testenv.Run(t, "qemu-img", "convert", "-O", "qcow2", filepath.Join(g.dir, "disk2.raw"), disk2)
	images := []string{filepath.Join(g.dir, "disk1.raw"), disk2}
	ls := e2eLs(t, images...)

	// OUTDIR/mounts: "NAME MOUNTPOINT FSTYPE", root first.
	sel := map[string]string{"root": "vg0/root", "efi": "p1", "var": "vg0/var", "varlog": "vg0/varlog", "varlogaudit": "vg0/varlogaudit", "home": "vg0/home"}
	mb, err := os.ReadFile(filepath.Join(g.dir, "mounts"))
	if err != nil {
		t.Fatal(err)
	}
	type mountLine struct{ name, point, typ string }
	var mounts []mountLine
	for _, l := range strings.Split(strings.TrimSpace(string(mb)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || sel[f[0]] == "" {
			t.Fatalf("mounts: bad line %q", l)
		}
		mounts = append(mounts, mountLine{f[0], f[1], f[2]})
	}
	sort.SliceStable(mounts, func(i, j int) bool { return len(mounts[i].point) < len(mounts[j].point) })

	// The expected tree: each source tree at its mount point, deeper mounts
	// over shallower ones (a mount point shows the mounted root).
	want := map[string]srcObject{}
	for _, m := range mounts {
		root := filepath.Join(g.dir, "src", m.name)
		for p := range want {
			if p != m.point && under(p, m.point) {
				t.Fatalf("source tree %s has %s under the mount point %s", want[p].mount, p, m.point)
			}
		}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			gp := path.Join(m.point, filepath.ToSlash(rel))
			if gp == "/" {
				return nil
			}
			want[gp] = srcObject{p, m.name, fi}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	for gp, w := range want {
		e, ok := ls[gp]
		if !ok {
			t.Errorf("%s (from %s) missing from coldcase ls", gp, w.mount)
			continue
		}
		if e.Volume != sel[w.mount] {
			t.Errorf("%s: volume %q, want %q", gp, e.Volume, sel[w.mount])
		}
		st := w.fi.Sys().(*syscall.Stat_t)
		if e.RawMode&0o170000 != st.Mode&0o170000 {
			t.Errorf("%s: type %o, source %o", gp, e.RawMode&0o170000, st.Mode&0o170000)
			continue
		}
		if w.mount != "efi" { // FAT keeps no modes or owners
			if e.RawMode&0o7777 != st.Mode&0o7777 {
				t.Errorf("%s: mode %o, source %o", gp, e.RawMode&0o7777, st.Mode&0o7777)
			}
			if e.UID != st.Uid || e.GID != st.Gid {
				t.Errorf("%s: owner %d:%d, source %d:%d", gp, e.UID, e.GID, st.Uid, st.Gid)
			}
		}
		switch {
		case w.fi.Mode().IsRegular():
			if e.Size != w.fi.Size() {
				t.Errorf("%s: size %d, source %d", gp, e.Size, w.fi.Size())
			}
		case w.fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(w.src)
			if e.Target != target {
				t.Errorf("%s: target %q, source %q", gp, e.Target, target)
			}
		}
	}
	for p, e := range ls {
		if _, ok := want[p]; ok {
			continue
		}
		// mkfs.ext4 adds lost+found to each ext4 filesystem
		if (p == "/lost+found" && e.Volume == "vg0/root") || (p == "/home/lost+found" && e.Volume == "vg0/home") {
			continue
		}
		t.Errorf("coldcase ls lists %s (%s), which no source tree holds", p, e.Volume)
	}
	if a, b := ls["/usr/bin/vi"], ls["/usr/bin/vim"]; a.Inode == "" || a.Inode != b.Inode {
		t.Errorf("hard link /usr/bin/vi (inode %s) and /usr/bin/vim (inode %s) differ", a.Inode, b.Inode)
	}

	// Inode numbers against the independent listers, each LV copied out
	// along lvm2's own segment map.
	checkInodes(t, ls, "/", "vg0/root", flsList(t, g.lvImage(t, "root"), 0), []string{"/var", "/home", "/boot/efi"}, "fls")
	checkInodes(t, ls, "/home", "vg0/home", flsList(t, g.lvImage(t, "home"), 0), nil, "fls")
	checkInodes(t, ls, "/boot/efi", "p1", flsList(t, images[0], partStart(t, images[0], 1)), nil, "fls")
	checkInodes(t, ls, "/var", "vg0/var", xfsList(t, g.lvImage(t, "var")), []string{"/var/log"}, "xfs_db")
	checkInodes(t, ls, "/var/log", "vg0/varlog", xfsList(t, g.lvImage(t, "varlog")), []string{"/var/log/audit"}, "xfs_db")
	checkInodes(t, ls, "/var/log/audit", "vg0/varlogaudit", xfsList(t, g.lvImage(t, "varlogaudit")), nil, "xfs_db")
	if len(g.segments["varlogaudit"]) < 2 {
		t.Errorf("vg0/varlogaudit has %d segments; the layout wants it across both disks", len(g.segments["varlogaudit"]))
	}

	// File bytes through coldcase cat: a spread of files from every tree,
	// and links that cross mounts, compared with the source files.
	cat := func(gp string) []byte {
		return e2eCLI(t, append(append([]string{"cat"}, images...), gp)...)
	}
	var files []string
	for gp, w := range want {
		if w.fi.Mode().IsRegular() {
			files = append(files, gp)
		}
	}
	sort.Strings(files)
	perTree := map[string]int{}
	for i, gp := range files {
		w := want[gp]
		if perTree[w.mount] >= 2 && i%37 != 0 {
			continue
		}
		perTree[w.mount]++
		src, err := os.ReadFile(w.src)
		if err != nil {
			t.Fatal(err)
		}
		if got := cat(gp); !bytes.Equal(got, src) {
			t.Errorf("cat %s: %d bytes differ from the source's %d", gp, len(got), len(src))
		}
	}
	links := map[string]string{
		"/etc/alternatives/auditlog": "varlogaudit/audit.log", // absolute, root → 3 mounts down
		"/etc/logdir/latest":         "varlogaudit/audit.log", // absolute dir link, then a relative link into a deeper mount
		"/home/alice/passwd":         "root/etc/passwd",       // relative, climbs out of /home's filesystem
		"/etc/ssh/hostname-link":     "root/etc/hostname",
	}
	for gp, rel := range links {
		src, err := os.ReadFile(filepath.Join(g.dir, "src", rel))
		if err != nil {
			t.Fatal(err)
		}
		if got := cat(gp); !bytes.Equal(got, src) {
			t.Errorf("cat %s: got %q, want the bytes of %s", gp, firstLine(got), rel)
		}
	}

	// info: the mount table is the fstab's, each entry on the right volume.
	var info struct {
		Guest struct {
			Mounts []struct {
				Point  string `json:"mount_point"`
				Volume string `json:"volume"`
				Type   string `json:"type"`
				Spec   string `json:"spec"`
			} `json:"mounts"`
			Problems []string `json:"problems"`
		} `json:"guest"`
	}
	if err := json.Unmarshal(e2eCLI(t, append(append([]string{"info"}, images...), "-o", "json")...), &info); err != nil {
		t.Fatal(err)
	}
	fstab := map[string]string{} // mount point → source, read from the source tree's fstab
	fb, err := os.ReadFile(filepath.Join(g.dir, "src", "root", "etc", "fstab"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(fb), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && !strings.HasPrefix(f[0], "#") {
			fstab[f[1]] = f[0]
		}
	}
	got := map[string]string{}
	for _, m := range info.Guest.Mounts {
		got[m.Point] = fmt.Sprintf("%s %s", m.Volume, m.Type)
		if m.Point != "/" && m.Spec != fstab[m.Point] {
			t.Errorf("info: %s mounted by %q, fstab says %q", m.Point, m.Spec, fstab[m.Point])
		}
	}
	for _, m := range mounts {
		if w := sel[m.name] + " " + m.typ; got[m.point] != w {
			t.Errorf("info: %s is %q, want %q", m.point, got[m.point], w)
		}
	}
	if len(got) != len(mounts) {
		t.Errorf("info: %d mounts %v, want %d", len(got), got, len(mounts))
	}
	if !strings.Contains(strings.Join(info.Guest.Problems, "\n"), "/tmp") {
		t.Errorf("info: the tmpfs /tmp line is not reported: %q", info.Guest.Problems)
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
