package libvirt

import (
	"context"
	"debug/elf"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
	"github.com/coldcase-dfir/coldcase/snapshot"
)

// needLibvirtd returns the URI of a running libvirtd (started in CI by
// .ci/services), skipping locally when there is none and failing in CI.
func needLibvirtd(t *testing.T) string {
	t.Helper()
	uri := os.Getenv("COLDCASE_LIBVIRT_URI")
	if uri == "" {
		uri = "qemu:///system"
	}
	sock := "/run/libvirt/libvirt-sock"
	if _, err := os.Stat(sock); err != nil {
		msg := fmt.Sprintf("no libvirtd socket at %s (start it as .ci/services does: virtlogd -d; libvirtd -d)", sock)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return uri
}

// qemuDir makes a folder the QEMU user (libvirt-qemu) can read and write:
// t.TempDir's parents are private to root.
func qemuDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "coldcase-libvirt-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	return dir
}

func chownQemu(p string) {
	u, err := user.Lookup("libvirt-qemu")
	if err != nil {
		return
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	os.Chown(p, uid, gid)
}

const domainXML = `<domain type='qemu'>
  <name>%s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='%s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='user'>
      <mac address='52:54:00:c0:1d:ca'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
    <interface type='user'>
      <mac address='52:54:00:c0:1d:cb'/>
      <model type='e1000'/>
      <rom enabled='no'/>
      <link state='up'/>
    </interface>
    <memballoon model='none'/>
  </devices>
</domain>`

// TestAcquireRealDomain runs a transient TCG domain with a small qcow2 disk
// of known content on a real libvirtd and acquires it with quarantine and
// memory capture.
func TestAcquireRealDomain(t *testing.T) {
	uri := needLibvirtd(t)
	testenv.NeedTool(t, "qemu-img", "qemu-io")
	work := qemuDir(t)
	disk := filepath.Join(work, "suspect.qcow2")
	testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", disk, "64M")
	testenv.Run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 1M", "-c", "write -P 0x5c 40M 512k", disk)
	chownQemu(disk)

	u, _ := url.Parse(uri)
	l, err := golibvirt.ConnectToURI(u)
	if err != nil {
		t.Fatalf("connect %s: %v", uri, err)
	}
	defer l.Disconnect()
	name := fmt.Sprintf("coldcase-test-%d", os.Getpid())
	dom, err := l.DomainCreateXML(fmt.Sprintf(domainXML, name, disk), 0)
	if err != nil {
		t.Fatalf("create transient domain: %v", err)
	}
	defer l.DomainDestroy(dom)

	caseDir := t.TempDir()
	p := New(Config{URI: uri, Domain: name, StagingDir: filepath.Join(work, "staging")})
	defer p.Close()
	a, err := snapshot.NewAcquisition(caseDir, "libvirt-test", "test", snapshot.Options{Quarantine: true, Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Acquire(context.Background(), p, a); err != nil {
		t.Fatalf("acquire: %v\nactions: %+v", err, a.Manifest().Actions)
	}

	// Link down on every interface, as the daemon reports it.
	x, err := l.DomainGetXMLDesc(dom, 0)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ParseDomainXML([]byte(x))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Interfaces) != 2 {
		t.Fatalf("%d interfaces in the domain XML, want 2", len(info.Interfaces))
	}
	for _, ifc := range info.Interfaces {
		if ifc.Link != "down" {
			t.Errorf("interface %s link %q after quarantine", ifc.MAC, ifc.Link)
		}
	}
	// Paused (quarantine keeps it paused).
	state, _, err := l.DomainGetState(dom, 0)
	if err != nil || golibvirt.DomainState(state) != golibvirt.DomainPaused {
		t.Errorf("domain state %d (%v), want paused", state, err)
	}
	// The image equals the source disk, by qemu-img's own comparison.
	img := filepath.Join(caseDir, "disk-vda.raw")
	testenv.Run(t, "qemu-img", "compare", "-U", "-f", "raw", "-F", "qcow2", img, disk)
	// The memory dump is an ELF core file.
	ef, err := elf.Open(filepath.Join(caseDir, "memory.elf"))
	if err != nil {
		t.Fatalf("memory dump: %v", err)
	}
	if ef.Type != elf.ET_CORE {
		t.Errorf("memory dump ELF type %v, want ET_CORE", ef.Type)
	}
	ef.Close()
	// Hashes in the manifest verify.
	if r, err := snapshot.Verify(caseDir, nil); err != nil {
		t.Fatalf("verify: %v %+v", err, r)
	}
	m := a.Manifest()
	if m.Source.InstanceName != name || len(m.Evidence) != 2 {
		t.Errorf("manifest source %+v, %d evidence files", m.Source, len(m.Evidence))
	}
	var lock bool
	for _, act := range m.Actions {
		if strings.Contains(act.Detail, "lock") && act.Result == snapshot.ResultNotSupported {
			lock = true
		}
	}
	if !lock {
		t.Error("lock, which libvirt cannot do, is not recorded as not supported")
	}
	if _, err := os.Stat(filepath.Join(work, "staging", "memory.elf")); err == nil {
		t.Error("staged memory dump left behind")
	}
}

func TestLinkDownXML(t *testing.T) {
	x := `<domain><name>d</name><uuid>u</uuid><devices>
<interface type='network'><mac address='52:54:00:01:02:03'/><source network='default'/><link state='up'/><model type='virtio'/></interface>
<interface type='user'><mac address='52:54:00:01:02:04'/></interface>
<disk type='file' device='cdrom'><source file='/x.iso'/><target dev='hdc'/></disk>
<disk type='file' device='disk'><driver type='qcow2'/><source file='/d.qcow2'/><target dev='vda'/></disk>
</devices></domain>`
	info, err := ParseDomainXML([]byte(x))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Interfaces) != 2 || len(info.Disks) != 1 || info.Disks[0].Target != "vda" || info.Name != "d" {
		t.Fatalf("parsed %+v", info)
	}
	if len(info.OtherDisks) != 1 || info.OtherDisks[0] != "hdc" {
		t.Errorf("other disks %q, want [hdc]", info.OtherDisks)
	}
	for _, ifc := range info.Interfaces {
		out, err := ifc.LinkDownXML()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseDomainXML([]byte("<domain><devices>" + string(out) + "</devices></domain>"))
		if err != nil {
			t.Fatal(err)
		}
		got := again.Interfaces[0]
		if got.Link != "down" || got.MAC != ifc.MAC || got.Type != ifc.Type || strings.Count(string(out), "<link") != 1 {
			t.Errorf("link-down XML %s", out)
		}
	}
}

func FuzzParseDomainXML(f *testing.F) {
	f.Add([]byte(`<domain><name>d</name><devices><interface type='user'><mac address='52:54:00:01:02:04'/><link state='up'/></interface><disk device='disk'><target dev='vda'/></disk></devices></domain>`))
	f.Add([]byte(`<domain><devices><interface type='bridge'><source bridge='br0'/><target dev='vnet0'/></interface></devices></domain>`))
	f.Add([]byte(`<domain><devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/v/top.qcow2' index='2'/><backingStore type='file' index='1'><format type='qcow2'/><source file='/v/base.qcow2'/><backingStore/></backingStore><target dev='vda' bus='virtio'/></disk><disk type='file' device='cdrom'><target dev='hdc'/></disk></devices></domain>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseDomainXML(data)
		if err != nil {
			return
		}
		for _, ifc := range info.Interfaces {
			out, err := ifc.LinkDownXML()
			if err != nil {
				continue
			}
			if !strings.Contains(string(out), `<link state="down"></link>`) {
				t.Fatalf("link-down XML lacks the link element: %s", out)
			}
		}
	})
}

// startDomain runs a transient domain on a fresh qcow2 disk of known
// content and returns the connection, the domain and the disk path.
func startDomain(t *testing.T, uri, suffix string) (*golibvirt.Libvirt, golibvirt.Domain, string, string) {
	t.Helper()
	testenv.NeedTool(t, "qemu-img", "qemu-io")
	work := qemuDir(t)
	disk := filepath.Join(work, "suspect.qcow2")
	testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", disk, "16M")
	testenv.Run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x77 4M 64k", disk)
	chownQemu(disk)
	u, _ := url.Parse(uri)
	l, err := golibvirt.ConnectToURI(u)
	if err != nil {
		t.Fatalf("connect %s: %v", uri, err)
	}
	t.Cleanup(func() { l.Disconnect() })
	name := fmt.Sprintf("coldcase-test-%d-%s", os.Getpid(), suffix)
	dom, err := l.DomainCreateXML(fmt.Sprintf(domainXML, name, disk), 0)
	if err != nil {
		t.Fatalf("create transient domain: %v", err)
	}
	t.Cleanup(func() { l.DomainDestroy(dom) })
	return l, dom, name, work
}

// Without quarantine, a domain paused for the memory capture runs again
// afterwards, unless --keep-paused.
func TestMemoryCaptureResumesUnlessKeepPaused(t *testing.T) {
	uri := needLibvirtd(t)
	for _, keep := range []bool{false, true} {
		l, dom, name, work := startDomain(t, uri, fmt.Sprint(keep))
		p := New(Config{URI: uri, Domain: name, StagingDir: filepath.Join(work, "staging")})
		a, err := snapshot.NewAcquisition(t.TempDir(), "keep", "test", snapshot.Options{Memory: true, KeepPaused: keep})
		if err != nil {
			t.Fatal(err)
		}
		err = snapshot.Acquire(context.Background(), p, a)
		p.Close()
		if err != nil {
			t.Fatalf("keep-paused=%v: %v", keep, err)
		}
		state, _, err := l.DomainGetState(dom, 0)
		want := golibvirt.DomainRunning
		if keep {
			want = golibvirt.DomainPaused
		}
		if err != nil || golibvirt.DomainState(state) != want {
			t.Errorf("keep-paused=%v: state %d (%v), want %d", keep, state, err, want)
		}
	}
}
