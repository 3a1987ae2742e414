// Package system extracts the facts that frame an examination: host name,
// OS release, installed kernels, time zone, network configuration
// (ifupdown, netplan, NetworkManager, RHEL sysconfig), /etc/hosts,
// resolv.conf, machine-id, and hints of when the OS was installed.
//
// Events (source "system"): "System config modified" (mtime of each file
// read), "Kernel installed (hint)" (a modules folder's birth or
// modification time) and "OS installed (hint)" (the oldest install hint).
package system

import (
	"context"
	"errors"
	iofs "io/fs"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/artifacts/users"
	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/timeline"
)

func init() {
	artifacts.Register(artifacts.Extractor{
		Name:  "system",
		Order: 0,
		Run: func(ctx context.Context, env *artifacts.Env) (any, error) {
			return Extract(ctx, env)
		},
	})
}

const maxLine = 64 << 10

// OSRelease is the guest's distribution.
type OSRelease struct {
	ID         string `json:"id,omitempty"` // "debian", "ubuntu", "rhel", …
	IDLike     string `json:"id_like,omitempty"`
	VersionID  string `json:"version_id,omitempty"` // "12", "22.04", "9.3"
	PrettyName string `json:"pretty_name,omitempty"`
	Codename   string `json:"codename,omitempty"`
	Source     string `json:"source,omitempty"` // the file it was read from
}

// Kernel is one installed kernel version.
type Kernel struct {
	Version string   `json:"version"`
	Files   []string `json:"files,omitempty"` // /boot/vmlinuz-…, initrd, config, System.map
	Modules string   `json:"modules,omitempty"`
	// Installed is a hint: the modules folder's or the image's birth
	// time, else the modules folder's mtime (set when the package was
	// unpacked).
	Installed *time.Time `json:"installed,omitempty"`
}

// HostsEntry is one line of /etc/hosts.
type HostsEntry struct {
	IP    string   `json:"ip"`
	Names []string `json:"names"`
	Line  int64    `json:"line"`
}

// Resolver is /etc/resolv.conf.
type Resolver struct {
	Nameservers []string `json:"nameservers,omitempty"`
	Search      []string `json:"search,omitempty"`
	Domain      string   `json:"domain,omitempty"`
	LinkTarget  string   `json:"link_target,omitempty"` // when resolv.conf is a symlink (systemd-resolved)
}

// TimeHint is one clue to when something happened, with where it came from.
type TimeHint struct {
	Time   time.Time `json:"time"`
	Source string    `json:"source"` // e.g. "btime of /etc/machine-id"
	Path   string    `json:"path"`   // the file the time was read from ("/" for the root filesystem)
}

// Report is the system extractor's record set.
type Report struct {
	Hostname string    `json:"hostname,omitempty"`
	OS       OSRelease `json:"os"`
	Kernels  []Kernel  `json:"kernels,omitempty"`
	TimeZone string    `json:"time_zone,omitempty"`
	// TimeZoneRule is the POSIX TZ string in the footer of the guest's
	// /etc/localtime (TZif v2+), e.g. "CET-1CEST,M3.5.0,M10.5.0/3": it
	// tells the zone's rule when the file is a copy without a name.
	TimeZoneRule string       `json:"time_zone_rule,omitempty"`
	Interfaces   []Interface  `json:"interfaces,omitempty"`
	Hosts        []HostsEntry `json:"hosts,omitempty"`
	Resolver     Resolver     `json:"resolver"`
	MachineID    string       `json:"machine_id,omitempty"`
	// InstallTime is the oldest of InstallHints.
	InstallTime  *time.Time       `json:"install_time,omitempty"`
	InstallHints []TimeHint       `json:"install_hints,omitempty"`
	Files        []users.FileMeta `json:"files"`
}

// Event source and descriptions.
const (
	Source              = "system"
	DescInstalled       = "OS installed (hint)"
	DescKernelInstalled = "Kernel installed (hint)"
	DescConfigModified  = "System config modified"
)

type extraction struct {
	env  *artifacts.Env
	rep  *Report
	seen map[string]bool
}

func (x *extraction) warn(p, msg string) {
	x.env.Warn(artifacts.Warning{Source: Source, Path: users.Abs(p), Msg: msg})
}

func (x *extraction) emit(ev timeline.Event) {
	if ev.Time.IsZero() {
		return
	}
	if err := x.env.Emit(ev); err != nil {
		x.warn(ev.Path, "event sink: "+err.Error())
	}
}

// read reads a small file and records it once with a "modified" event.
func (x *extraction) read(p string) ([]byte, bool) {
	p = users.Abs(p)
	data, err := artifacts.ReadSmall(x.env.FS, p)
	if err != nil {
		if !errors.Is(err, iofs.ErrNotExist) {
			x.warn(p, err.Error())
		}
		return nil, false
	}
	if !x.seen[p] {
		x.seen[p] = true
		m, _ := users.MetaOf(x.env.FS, p)
		x.rep.Files = append(x.rep.Files, m)
		x.emit(timeline.Event{Time: m.Mtime, TimestampDesc: DescConfigModified, Source: Source, Path: p, Evidence: x.env.Evidence(p),
			Message: "System configuration file " + p + " modified"})
	}
	return data, true
}

// list lists the files of a guest folder (see artifacts.FilesIn); a folder
// that cannot be read lists none.
func (x *extraction) list(dir string) []string {
	out, _ := artifacts.FilesIn(x.env.FS, dir)
	return out
}

// Extract runs the system extractor.
func Extract(ctx context.Context, env *artifacts.Env) (*Report, error) {
	x := &extraction{env: env, rep: &Report{}, seen: map[string]bool{}}
	rep := x.rep
	rep.Hostname = artifacts.GuestHostname(env.FS)
	x.read("/etc/hostname")
	if _, name, err := artifacts.GuestZone(env.FS); err == nil {
		rep.TimeZone = name
	} else if env.ZoneName != "" && env.ZoneName != "UTC" {
		rep.TimeZone = env.ZoneName
	}
	if data, err := artifacts.ReadSmall(env.FS, "etc/localtime"); err == nil {
		rep.TimeZoneRule = TZifFooter(data)
	}
	x.osRelease()
	x.kernels()
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	x.network()
	x.hosts()
	x.resolver()
	if data, ok := x.read("/etc/machine-id"); ok {
		rep.MachineID = strings.TrimSpace(firstLine(string(data)))
	}
	x.install()
	return rep, nil
}

// TZifFooter returns the POSIX TZ string that ends a version 2 or later
// TZif file ("\n<TZ>\n" after the 64-bit data), or "".
func TZifFooter(data []byte) string {
	if len(data) < 44 || string(data[:4]) != "TZif" || data[4] < '2' || data[len(data)-1] != '\n' {
		return ""
	}
	body := data[:len(data)-1]
	i := strings.LastIndexByte(string(body), '\n')
	if i < 0 || len(body)-i > 256 {
		return ""
	}
	tz := string(body[i+1:])
	for _, c := range tz {
		if c < 0x20 || c > 0x7e {
			return ""
		}
	}
	return tz
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	return v
}

// ParseOSRelease reads os-release(5) KEY=value lines.
func ParseOSRelease(data []byte) map[string]string {
	kv := map[string]string{}
	for _, l := range splitLines(data) {
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(t, "="); ok && len(kv) < 1000 {
			kv[strings.TrimSpace(k)] = unquote(v)
		}
	}
	return kv
}

func (x *extraction) osRelease() {
	o := &x.rep.OS
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if data, ok := x.read(p); ok {
			kv := ParseOSRelease(data)
			*o = OSRelease{ID: kv["ID"], IDLike: kv["ID_LIKE"], VersionID: kv["VERSION_ID"], PrettyName: kv["PRETTY_NAME"], Codename: kv["VERSION_CODENAME"], Source: p}
			return
		}
	}
	if data, ok := x.read("/etc/lsb-release"); ok {
		kv := ParseOSRelease(data)
		*o = OSRelease{ID: strings.ToLower(kv["DISTRIB_ID"]), VersionID: kv["DISTRIB_RELEASE"], PrettyName: kv["DISTRIB_DESCRIPTION"], Codename: kv["DISTRIB_CODENAME"], Source: "/etc/lsb-release"}
		return
	}
	for _, f := range []struct{ p, id string }{{"/etc/redhat-release", ""}, {"/etc/centos-release", "centos"}, {"/etc/fedora-release", "fedora"}, {"/etc/system-release", ""}} {
		if data, ok := x.read(f.p); ok {
			line := strings.TrimSpace(firstLine(string(data)))
			o.PrettyName, o.Source, o.ID = line, f.p, f.id
			lower := strings.ToLower(line)
			switch {
			case o.ID != "":
			case strings.HasPrefix(lower, "red hat"):
				o.ID = "rhel"
			case strings.HasPrefix(lower, "centos"):
				o.ID = "centos"
			case strings.HasPrefix(lower, "rocky"):
				o.ID = "rocky"
			case strings.HasPrefix(lower, "almalinux"):
				o.ID = "almalinux"
			case strings.HasPrefix(lower, "fedora"):
				o.ID = "fedora"
			}
			if i := strings.Index(lower, "release "); i >= 0 {
				o.VersionID = strings.Fields(line[i+len("release "):] + " ")[0]
			}
			return
		}
	}
	if data, ok := x.read("/etc/debian_version"); ok {
		*o = OSRelease{ID: "debian", VersionID: strings.TrimSpace(firstLine(string(data))), Source: "/etc/debian_version"}
		o.PrettyName = "Debian " + o.VersionID
		return
	}
	if data, ok := x.read("/etc/alpine-release"); ok {
		*o = OSRelease{ID: "alpine", VersionID: strings.TrimSpace(firstLine(string(data))), Source: "/etc/alpine-release"}
	}
}

func (x *extraction) kernels() {
	byVer := map[string]*Kernel{}
	get := func(v string) *Kernel {
		if k := byVer[v]; k != nil {
			return k
		}
		byVer[v] = &Kernel{Version: v}
		return byVer[v]
	}
	// Kernel images first, then the files that belong to them.
	boot := x.list("/boot")
	for _, images := range []bool{true, false} {
		for _, p := range boot {
			b := path.Base(p)
			for _, pre := range []string{"vmlinuz-", "vmlinux-", "initrd.img-", "initramfs-", "config-", "System.map-"} {
				v, ok := strings.CutPrefix(b, pre)
				isImage := pre == "vmlinuz-" || pre == "vmlinux-"
				if !ok || v == "" || isImage != images {
					continue
				}
				v = strings.TrimSuffix(strings.TrimSuffix(v, ".img"), "kdump")
				if images || byVer[v] != nil {
					k := get(v)
					k.Files = append(k.Files, p)
				}
			}
		}
	}
	for _, dir := range []string{"/lib/modules", "/usr/lib/modules"} {
		ents, err := iofs.ReadDir(x.env.FS, users.Rel(dir))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			k := get(e.Name())
			if k.Modules != "" {
				continue // /lib → usr/lib: the same folder
			}
			k.Modules = path.Join(dir, e.Name())
			if fi, err := e.Info(); err == nil {
				t := fi.ModTime().UTC()
				if st := cfs.StatOf(fi); st != nil && !st.Btime.IsZero() {
					t = st.Btime.UTC()
				}
				if !t.IsZero() {
					k.Installed = &t
				}
			}
		}
	}
	vers := slices.Sorted(maps.Keys(byVer))
	for _, v := range vers {
		k := byVer[v]
		x.rep.Kernels = append(x.rep.Kernels, *k)
		if k.Installed != nil {
			x.emit(timeline.Event{Time: *k.Installed, TimestampDesc: DescKernelInstalled, Source: Source, Path: k.Modules, Evidence: x.env.Evidence(k.Modules),
				Message: "Kernel " + v + " installed (time of its modules folder " + k.Modules + ")"})
		}
	}
}

func (x *extraction) network() {
	seen := map[string]bool{}
	var ifupdown func(p string, depth int)
	ifupdown = func(p string, depth int) {
		if seen[p] || depth > 8 {
			return
		}
		seen[p] = true
		data, ok := x.read(p)
		if !ok {
			return
		}
		ifs, sources := ParseIfupdown(p, data)
		x.rep.Interfaces = append(x.rep.Interfaces, ifs...)
		for _, s := range sources {
			dir, pat := path.Split(s)
			for _, f := range x.list(dir) {
				if ok, _ := path.Match(pat, path.Base(f)); ok {
					ifupdown(f, depth+1)
				}
			}
		}
	}
	ifupdown("/etc/network/interfaces", 0)
	for _, f := range x.list("/etc/network/interfaces.d") {
		ifupdown(f, 1)
	}
	for _, dir := range []string{"/etc/netplan", "/lib/netplan", "/run/netplan"} {
		for _, f := range x.list(dir) {
			if strings.HasSuffix(f, ".yaml") || strings.HasSuffix(f, ".yml") {
				if data, ok := x.read(f); ok {
					x.rep.Interfaces = append(x.rep.Interfaces, ParseNetplan(f, data)...)
				}
			}
		}
	}
	for _, dir := range []string{"/etc/NetworkManager/system-connections", "/usr/lib/NetworkManager/system-connections"} {
		for _, f := range x.list(dir) {
			if data, ok := x.read(f); ok {
				x.rep.Interfaces = append(x.rep.Interfaces, ParseNMConnection(f, data))
			}
		}
	}
	for _, f := range x.list("/etc/sysconfig/network-scripts") {
		if b := path.Base(f); strings.HasPrefix(b, "ifcfg-") && !strings.HasSuffix(b, "~") {
			if data, ok := x.read(f); ok {
				x.rep.Interfaces = append(x.rep.Interfaces, ParseIfcfg(f, data))
			}
		}
	}
}

func (x *extraction) hosts() {
	data, ok := x.read("/etc/hosts")
	if !ok {
		return
	}
	for i, l := range splitLines(data) {
		if j := strings.IndexByte(l, '#'); j >= 0 {
			l = l[:j]
		}
		f := strings.Fields(l)
		if len(f) >= 2 && len(x.rep.Hosts) < 100000 {
			x.rep.Hosts = append(x.rep.Hosts, HostsEntry{IP: f[0], Names: f[1:], Line: int64(i + 1)})
		}
	}
}

func (x *extraction) resolver() {
	r := &x.rep.Resolver
	if rl, ok := x.env.FS.(iofs.ReadLinkFS); ok {
		if t, err := rl.ReadLink("etc/resolv.conf"); err == nil {
			r.LinkTarget = t
		}
	}
	data, ok := x.read("/etc/resolv.conf")
	if !ok {
		return
	}
	for _, l := range splitLines(data) {
		f := strings.Fields(l)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			r.Nameservers = append(r.Nameservers, f[1])
		case "search":
			r.Search = append(r.Search, f[1:]...)
		case "domain":
			r.Domain = f[1]
		}
	}
}

// install gathers install-time hints: the birth time of /etc/machine-id
// (written by the installer or first boot), the oldest file of the
// installer's log folders, anaconda's kickstart, and the root
// filesystem's creation time when the guest FS reports it.
func (x *extraction) install() {
	var hints []TimeHint
	add := func(t time.Time, src, path string) {
		if !t.IsZero() && t.Unix() > 0 {
			hints = append(hints, TimeHint{t.UTC(), src, path})
		}
	}
	if fi, err := iofs.Stat(x.env.FS, "etc/machine-id"); err == nil {
		if st := cfs.StatOf(fi); st != nil && !st.Btime.IsZero() {
			add(st.Btime, "btime of /etc/machine-id", "/etc/machine-id")
		}
	}
	for _, dir := range []string{"/var/log/installer", "/var/log/anaconda"} {
		var oldest time.Time
		src, from := "", ""
		for _, f := range x.list(dir) {
			fi, err := iofs.Stat(x.env.FS, users.Rel(f))
			if err != nil {
				continue
			}
			t, what := fi.ModTime(), "mtime"
			if st := cfs.StatOf(fi); st != nil && !st.Btime.IsZero() {
				t, what = st.Btime, "btime"
			}
			if oldest.IsZero() || t.Before(oldest) {
				oldest, src, from = t, what+" of "+f+" (oldest in "+dir+")", f
			}
		}
		add(oldest, src, from)
	}
	if fi, err := iofs.Stat(x.env.FS, "root/anaconda-ks.cfg"); err == nil {
		add(fi.ModTime(), "mtime of /root/anaconda-ks.cfg", "/root/anaconda-ks.cfg")
	}
	if inf, ok := x.env.FS.(interface{ Info() cfs.Info }); ok {
		add(inf.Info().Created, "creation time of the root filesystem", "/")
	}
	sort.SliceStable(hints, func(i, j int) bool { return hints[i].Time.Before(hints[j].Time) })
	x.rep.InstallHints = hints
	if len(hints) > 0 {
		t := hints[0].Time
		x.rep.InstallTime = &t
		x.emit(timeline.Event{Time: t, TimestampDesc: DescInstalled, Source: Source, Message: "OS installed about now (" + hints[0].Source + ")",
			Path: hints[0].Path, Evidence: x.env.Evidence(hints[0].Path), Attrs: map[string]string{"hint": hints[0].Source}})
	}
}
