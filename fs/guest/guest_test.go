package guest

import (
	"errors"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/image/volume"
)

// mapFS gives an fstest.MapFS (which has symlinks and ReadLink since Go
// 1.25) the Info method of a coldcase filesystem.
type mapFS struct {
	fstest.MapFS
	info cfs.Info
}

func (m mapFS) Info() cfs.Info { return m.info }

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: iofs.ModeSymlink | 0o777}
}

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: 0o644} }

func testGuest(t *testing.T, loops bool) *Guest {
	root := mapFS{fstest.MapFS{
		"etc/fstab": file(`# <file system> <mount point> <type> <options> <dump> <pass>
UUID=1111-root / ext4 errors=remount-ro 0 1
UUID=2222-VAR /var xfs defaults 0 2
/dev/mapper/vg0-log /var/log xfs defaults 0 2
LABEL=audit /var/log/audit xfs defaults 0 2
PARTUUID=aaaa-efi /boot/efi vfat umask=0077 0 1
/dev/vdb1 none swap sw 0 0
tmpfs /tmp tmpfs defaults 0 0
UUID=deadbeef /srv ext4 defaults 0 2
`),
		"etc/os-release":                   file("ID=debian\n"),
		"etc/localtime":                    link("/usr/share/zoneinfo/Europe/Berlin"),
		"usr/share/zoneinfo/Europe/Berlin": file("TZif"),
		"var":                              &fstest.MapFile{Mode: iofs.ModeDir | 0o755},
		"boot/efi":                         &fstest.MapFile{Mode: iofs.ModeDir | 0o755},
		"root/authlink":                    link("../var/log/auth.log"),
		"root/escape":                      link("../../../../../../etc/os-release"),
		"root/varlink":                     link("/var"),
	}, cfs.Info{Type: "ext4", UUID: "1111-root"}}
	if loops {
		root.MapFS["root/loop1"] = link("loop2")
		root.MapFS["root/loop2"] = link("/root/loop1")
	}
	varFS := mapFS{fstest.MapFS{
		"lib/dpkg/status": file("Package: bash\n"),
		"log":             &fstest.MapFile{Mode: iofs.ModeDir | 0o755},
	}, cfs.Info{Type: "xfs", UUID: "2222-var"}}
	logFS := mapFS{fstest.MapFS{
		"auth.log": file("Sep 12 02:15:30 host sshd[1]: Accepted password for root from 203.0.113.7 port 5 ssh2\n"),
		"syslog":   file("x\n"),
		"audit":    &fstest.MapFile{Mode: iofs.ModeDir | 0o700},
	}, cfs.Info{Type: "xfs", UUID: "3333"}}
	auditFS := mapFS{fstest.MapFS{"audit.log": file("type=USER_LOGIN\n")}, cfs.Info{Type: "xfs", Label: "audit"}}
	efiFS := mapFS{fstest.MapFS{"EFI/BOOT/BOOTX64.EFI": file("MZ")}, cfs.Info{Type: "vfat", UUID: "ABCD-1234"}}
	stray := mapFS{fstest.MapFS{"x": file("y")}, cfs.Info{Type: "ext4", UUID: "9999"}}
	g, err := Assemble([]Filesystem{
		{volume.Volume{Selector: "p1", Scheme: "gpt", UUID: "AAAA-EFI"}, efiFS},
		{volume.Volume{Selector: "vg0/log", Scheme: "lvm", Name: "vg0/log"}, logFS},
		{volume.Volume{Selector: "vg0/var", Scheme: "lvm", Name: "vg0/var"}, varFS},
		{volume.Volume{Selector: "p2", Scheme: "gpt"}, root},
		{volume.Volume{Selector: "vg0/audit", Scheme: "lvm", Name: "vg0/audit"}, auditFS},
		{volume.Volume{Selector: "p3", Scheme: "gpt"}, stray},
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestAssembleMounts(t *testing.T) {
	g := testGuest(t, false)
	var got []string
	for _, m := range g.Mounts {
		got = append(got, m.Point+"="+m.Volume)
	}
	want := "/=p2 /var=vg0/var /var/log=vg0/log /boot/efi=p1 /var/log/audit=vg0/audit"
	if strings.Join(got, " ") != want {
		t.Errorf("mounts %q, want %q", strings.Join(got, " "), want)
	}
	probs := strings.Join(g.Problems, "\n")
	for _, p := range []string{"/dev/vdb1 is swap", "tmpfs on /tmp is tmpfs", "UUID=deadbeef for /srv matches no volume", "volume p3 (ext4) is not mounted"} {
		if !strings.Contains(probs, p) {
			t.Errorf("problems lack %q:\n%s", p, probs)
		}
	}
}

func TestGuestPaths(t *testing.T) {
	g := testGuest(t, false)
	read := func(name string) string {
		b, err := iofs.ReadFile(g, name)
		if err != nil {
			return "ERR " + err.Error()
		}
		return string(b)
	}
	for name, want := range map[string]string{
		"var/log/audit/audit.log":       "type=USER_LOGIN\n",
		"var/lib/dpkg/status":           "Package: bash\n",
		"root/authlink":                 "Sep 12",
		"root/escape":                   "ID=debian\n", // ../ above the root stays at the root
		"boot/efi/EFI/BOOT/BOOTX64.EFI": "MZ",
		"root/varlink/log/syslog":       "x\n",
	} {
		if got := read(name); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want prefix %q", name, got, want)
		}
	}
	if _, err := testGuest(t, true).Open("root/loop1"); err == nil || !strings.Contains(err.Error(), "too many levels") {
		t.Errorf("symlink loop: %v", err)
	}
	if _, err := g.Open("root/varlink/nothing"); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("dangling cross-mount link: %v", err)
	}
	if tgt, err := g.ReadLink("etc/localtime"); err != nil || tgt != "/usr/share/zoneinfo/Europe/Berlin" {
		t.Errorf("ReadLink = %q, %v", tgt, err)
	}
	if fi, err := g.Lstat("root/authlink"); err != nil || fi.Mode()&iofs.ModeSymlink == 0 {
		t.Errorf("Lstat did not stop at the link: %v %v", fi, err)
	}
	if v := g.VolumeOf("/var/log/audit/audit.log"); v != "vg0/audit" {
		t.Errorf("VolumeOf = %q", v)
	}
	// A walk crosses every mount once and never leaves the guest.
	var paths []string
	err := iofs.WalkDir(g, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	all := strings.Join(paths, "\n")
	for _, p := range []string{"var/log/audit/audit.log", "var/log/auth.log", "boot/efi/EFI/BOOT/BOOTX64.EFI", "var/lib/dpkg/status"} {
		if !strings.Contains(all, p) {
			t.Errorf("walk misses %s", p)
		}
	}
	if err := fstest.TestFS(g, "var/log/audit/audit.log", "etc/os-release", "boot/efi/EFI/BOOT/BOOTX64.EFI"); err != nil {
		t.Error(err)
	}
}

func TestDevToSelector(t *testing.T) {
	for dev, want := range map[string]string{
		"/dev/sda2": "p2", "/dev/vda1": "p1", "/dev/xvdb3": "d2p3", "/dev/nvme0n1p2": "p2", "/dev/hdc1": "d3p1",
	} {
		if got, ok := devToSelector(dev); !ok || got != want {
			t.Errorf("%s → %q %v, want %q", dev, got, ok, want)
		}
	}
	if _, ok := devToSelector("/dev/mapper/vg0-root"); ok {
		t.Error("mapper name taken for a partition")
	}
}

func TestParseFstabEscapes(t *testing.T) {
	es := ParseFstab([]byte("LABEL=my\\040disk /mnt/my\\040data ext4 ro 0 0\n  # c\n\nbad\n"))
	if len(es) != 1 || es[0].Spec != "LABEL=my disk" || es[0].Point != "/mnt/my data" || es[0].Line != 1 {
		t.Errorf("%+v", es)
	}
}

func FuzzParseFstab(f *testing.F) {
	f.Add([]byte("UUID=1 / ext4 defaults 0 1\n/dev/sda2 /var xfs rw 0 2\n"))
	f.Add([]byte("a\\0 b\\12 c\\777 \\"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, e := range ParseFstab(b) {
			if e.Line <= 0 {
				t.Fatal("line number lost")
			}
		}
	})
}

// TestDirStaysInside: an extracted tree's absolute symlinks resolve inside
// the tree, not on the host.
func TestDirStaysInside(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "usr/share/zoneinfo"), 0o755))
	must(os.WriteFile(filepath.Join(root, "usr/share/zoneinfo/Guest"), []byte("guest zone"), 0o644))
	must(os.Symlink("/usr/share/zoneinfo/Guest", filepath.Join(root, "etc/localtime")))
	must(os.Symlink("/etc/passwd", filepath.Join(root, "etc/hostpasswd"))) // exists on the host, not in the tree
	d, err := NewDir(root)
	must(err)
	g := Single(d, "")
	b, err := iofs.ReadFile(g, "etc/localtime")
	if err != nil || string(b) != "guest zone" {
		t.Errorf("etc/localtime = %q, %v", b, err)
	}
	if _, err := iofs.ReadFile(g, "etc/hostpasswd"); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("absolute link read the host's /etc/passwd: %v", err)
	}
}
