package system

import (
	"context"
	iofs "io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/timeline"
)

var t0 = time.Date(2025, 7, 1, 10, 0, 0, 0, time.UTC)

func mf(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: 0o644, ModTime: t0} }

// statFS adds coldcase *fs.Stat metadata (birth times) to chosen files of
// a MapFS, as the filesystem drivers do.
type statFS struct {
	fstest.MapFS
	btime map[string]time.Time
}

type statInfo struct {
	iofs.FileInfo
	st *cfs.Stat
}

func (s statInfo) Sys() any { return s.st }

func (s statFS) Stat(name string) (iofs.FileInfo, error) {
	fi, err := s.MapFS.Stat(name)
	if err != nil {
		return nil, err
	}
	if b, ok := s.btime[name]; ok {
		return statInfo{fi, &cfs.Stat{Inode: 42, Mtime: fi.ModTime(), Btime: b}}, nil
	}
	return fi, nil
}

func run(t *testing.T, fsys iofs.FS) (*Report, []timeline.Event) {
	t.Helper()
	env := artifacts.NewEnv(fsys)
	var c timeline.Collect
	env.Events = &c
	rep, err := Extract(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range env.Warnings() {
		t.Logf("warning: %s", w)
	}
	return rep, c.Events
}

func TestExtract(t *testing.T) {
	berlin, err := os.ReadFile("/usr/share/zoneinfo/Europe/Berlin")
	if err != nil {
		t.Skip("no host zoneinfo to build a guest /etc/localtime from")
	}
	m := fstest.MapFS{
		"etc/hostname":                              mf("web01\n"),
		"etc/os-release":                            mf("PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=jammy\n"),
		"etc/localtime":                             &fstest.MapFile{Data: berlin, Mode: 0o644},
		"etc/timezone":                              mf("Europe/Berlin\n"),
		"etc/machine-id":                            mf("0123456789abcdef0123456789abcdef\n"),
		"boot/vmlinuz-5.15.0-91-generic":            mf("k"),
		"boot/initrd.img-5.15.0-91-generic":         mf("i"),
		"boot/config-5.15.0-91-generic":             mf("c"),
		"boot/vmlinuz-6.8.0-40-generic":             mf("k"),
		"lib/modules/5.15.0-91-generic/modules.dep": mf(""),
		"lib/modules/6.8.0-40-generic":              &fstest.MapFile{Mode: iofs.ModeDir | 0o755, ModTime: t0.Add(time.Hour)},
		"etc/netplan/50-cloud-init.yaml": mf(`network:
  version: 2
  ethernets:
    ens3:
      dhcp4: true
      match:
        macaddress: "fa:16:3e:00:00:01"
    ens4:
      addresses:
      - 10.0.0.5/24
      - "2001:db8::5/64"
      routes:
        - to: default
          via: 10.0.0.1
      nameservers:
        addresses: [1.1.1.1, 9.9.9.9]
        search: [example.org]
  wifis:
    wlan0:
      access-points:
        "Cafe WiFi":
          password: secret
`),
		"etc/network/interfaces":                                    mf("auto lo\niface lo inet loopback\n\nsource interfaces.d/*\n"),
		"etc/network/interfaces.d/eth0":                             mf("allow-hotplug eth0\niface eth0 inet static\n  address 192.168.1.10\n  netmask 255.255.255.0\n  gateway 192.168.1.1\n  dns-nameservers 192.168.1.1 8.8.8.8\n"),
		"etc/NetworkManager/system-connections/office.nmconnection": mf("[connection]\nid=office\ntype=ethernet\ninterface-name=enp1s0\nautoconnect=false\n\n[ipv4]\nmethod=manual\naddress1=172.16.0.9/16,172.16.0.1\ndns=172.16.0.2;\n"),
		"etc/sysconfig/network-scripts/ifcfg-eth1":                  mf("DEVICE=eth1\nBOOTPROTO=none\nIPADDR=10.1.2.3\nNETMASK=255.255.0.0\nGATEWAY=10.1.0.1\nDNS1=10.1.0.53\nONBOOT=yes\nHWADDR=52:54:00:aa:bb:cc\n"),
		"etc/hosts":                mf("127.0.0.1 localhost\n203.0.113.66 update.microsoft.com # pinned\n\n"),
		"etc/resolv.conf":          mf("# generated\nnameserver 127.0.0.53\nsearch corp.example lan\n"),
		"var/log/installer/syslog": &fstest.MapFile{Data: []byte("x"), ModTime: t0.Add(-30 * 24 * time.Hour)},
	}
	rep, evs := run(t, m)
	if rep.TimeZoneRule != "CET-1CEST,M3.5.0,M10.5.0/3" { // tzfile(5) footer of Europe/Berlin
		t.Errorf("zone rule %q", rep.TimeZoneRule)
	}
	if rep.Hostname != "web01" || rep.TimeZone != "Europe/Berlin" || rep.MachineID != "0123456789abcdef0123456789abcdef" {
		t.Errorf("host %q zone %q machine-id %q", rep.Hostname, rep.TimeZone, rep.MachineID)
	}
	if o := rep.OS; o.ID != "ubuntu" || o.VersionID != "22.04" || o.PrettyName != "Ubuntu 22.04.4 LTS" || o.Codename != "jammy" || o.Source != "/etc/os-release" {
		t.Errorf("os %+v", o)
	}
	if len(rep.Kernels) != 2 || rep.Kernels[0].Version != "5.15.0-91-generic" || len(rep.Kernels[0].Files) != 3 ||
		rep.Kernels[0].Installed != nil || // an implicit MapFS folder has no time
		rep.Kernels[1].Modules != "/lib/modules/6.8.0-40-generic" || !rep.Kernels[1].Installed.Equal(t0.Add(time.Hour)) {
		t.Errorf("kernels %+v", rep.Kernels)
	}
	by := map[string]Interface{}
	for _, i := range rep.Interfaces {
		by[i.Source+":"+i.Name] = i
	}
	if i := by["netplan:ens3"]; i.Method != "dhcp" || i.MAC != "fa:16:3e:00:00:01" {
		t.Errorf("ens3 %+v", i)
	}
	if i := by["netplan:ens4"]; i.Method != "static" || !slices.Equal(i.Addresses, []string{"10.0.0.5/24", "2001:db8::5/64"}) || i.Gateway != "10.0.0.1" || !slices.Equal(i.DNS, []string{"1.1.1.1", "9.9.9.9"}) {
		t.Errorf("ens4 %+v", i)
	}
	if i := by["netplan:wlan0"]; i.Details["ssid"] != "Cafe WiFi" || i.Details["type"] != "wifis" {
		t.Errorf("wlan0 %+v", i)
	}
	if i := by["ifupdown:eth0"]; i.Method != "static" || !slices.Equal(i.Addresses, []string{"192.168.1.10/24"}) || i.Gateway != "192.168.1.1" || !*i.OnBoot ||
		i.File != "/etc/network/interfaces.d/eth0" || i.Line != 2 || len(i.DNS) != 2 {
		t.Errorf("eth0 %+v", i)
	}
	if i := by["ifupdown:lo"]; i.Method != "loopback" {
		t.Errorf("lo %+v", i)
	}
	if i := by["networkmanager:enp1s0"]; i.Method != "manual" || !slices.Equal(i.Addresses, []string{"172.16.0.9/16"}) || i.Gateway != "172.16.0.1" || *i.OnBoot || i.Details["id"] != "office" || !slices.Equal(i.DNS, []string{"172.16.0.2"}) {
		t.Errorf("nm %+v", i)
	}
	if i := by["sysconfig:eth1"]; i.Method != "static" || !slices.Equal(i.Addresses, []string{"10.1.2.3/16"}) || i.MAC != "52:54:00:aa:bb:cc" || !*i.OnBoot {
		t.Errorf("ifcfg %+v", i)
	}
	// interfaces.d/eth0 is read once although both "source" and the folder name it.
	if n := strings.Count(strings.Join(func() []string {
		var s []string
		for _, i := range rep.Interfaces {
			s = append(s, i.Name)
		}
		return s
	}(), ","), "eth0"); n != 1 {
		t.Errorf("eth0 listed %d times", n)
	}
	if len(rep.Hosts) != 2 || rep.Hosts[1].IP != "203.0.113.66" || rep.Hosts[1].Names[0] != "update.microsoft.com" || rep.Hosts[1].Line != 2 {
		t.Errorf("hosts %+v", rep.Hosts)
	}
	if r := rep.Resolver; !slices.Equal(r.Nameservers, []string{"127.0.0.53"}) || !slices.Equal(r.Search, []string{"corp.example", "lan"}) {
		t.Errorf("resolver %+v", r)
	}
	if rep.InstallTime == nil || !rep.InstallTime.Equal(t0.Add(-30*24*time.Hour)) {
		t.Errorf("install %v %+v", rep.InstallTime, rep.InstallHints)
	}
	var inst, kern int
	for _, e := range evs {
		switch e.TimestampDesc {
		case DescInstalled:
			inst++
		case DescKernelInstalled:
			kern++
		}
	}
	if inst != 1 || kern != 1 {
		t.Errorf("%d install events, %d kernel events", inst, kern)
	}
}

func TestInstallHintFromBtime(t *testing.T) {
	b := time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	fsys := statFS{fstest.MapFS{
		"etc/machine-id":           mf("abc\n"),
		"var/log/installer/syslog": mf("x"), // mtime t0, later than the btime
	}, map[string]time.Time{"etc/machine-id": b}}
	rep, evs := run(t, fsys)
	if rep.InstallTime == nil || !rep.InstallTime.Equal(b) || rep.InstallHints[0].Source != "btime of /etc/machine-id" || len(rep.InstallHints) != 2 {
		t.Errorf("install %v %+v", rep.InstallTime, rep.InstallHints)
	}
	for _, e := range evs {
		if e.TimestampDesc == DescConfigModified && e.Path == "/etc/machine-id" && e.Evidence.Inode != 42 {
			t.Errorf("evidence without inode: %+v", e.Evidence)
		}
	}
}

func TestOSFallbacks(t *testing.T) {
	for _, c := range []struct {
		file, content, id, ver, pretty string
	}{
		{"etc/redhat-release", "Red Hat Enterprise Linux release 8.9 (Ootpa)\n", "rhel", "8.9", "Red Hat Enterprise Linux release 8.9 (Ootpa)"},
		{"etc/redhat-release", "CentOS Linux release 7.9.2009 (Core)\n", "centos", "7.9.2009", "CentOS Linux release 7.9.2009 (Core)"},
		{"etc/debian_version", "11.9\n", "debian", "11.9", "Debian 11.9"},
		{"etc/lsb-release", "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=18.04\nDISTRIB_DESCRIPTION=\"Ubuntu 18.04.6 LTS\"\n", "ubuntu", "18.04", "Ubuntu 18.04.6 LTS"},
	} {
		rep, _ := run(t, fstest.MapFS{c.file: mf(c.content)})
		if o := rep.OS; o.ID != c.id || o.VersionID != c.ver || o.PrettyName != c.pretty || o.Source != "/"+c.file {
			t.Errorf("%s: %+v", c.file, o)
		}
	}
}

func FuzzNetworkConfig(f *testing.F) {
	f.Add([]byte("network:\n  ethernets:\n    e:\n      addresses: [a]\n      routes:\n      - to: default\n        via: g\n"))
	f.Add([]byte("iface eth0 inet static\n address 1.2.3.4\n netmask 255.255.255.0\nsource x/*\n"))
	f.Add([]byte("[connection]\ninterface-name=x\n[ipv4]\naddress1=1.2.3.4/8,1.1.1.1\n"))
	f.Add([]byte("DEVICE=x\nIPADDR=1.2.3.4\nPREFIX=8\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseNetplan("/n", data)
		ParseIfupdown("/i", data)
		ParseNMConnection("/c", data)
		ParseIfcfg("/ifcfg-x", data)
		ParseOSRelease(data)
		TZifFooter(data)
	})
}
