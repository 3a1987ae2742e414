package persistence

import (
	iofs "io/fs"
	"path"
	"sort"
	"strings"

	"github.com/coldcase-dfir/coldcase/artifacts/users"
	"github.com/coldcase-dfir/coldcase/timeline"
)

type unitDir struct {
	dir   string
	owner string // "root" for system units, the user for per-user ones
	user  bool   // a user-manager folder
}

var unitKinds = map[string]string{".service": KindService, ".timer": KindTimer, ".socket": KindSocket, ".path": KindPath}

// packaged reports whether a unit path is where packages install units.
func packaged(p string) bool {
	return strings.HasPrefix(p, "/usr/lib/") || strings.HasPrefix(p, "/lib/")
}

// execOutsideUsr: an absolute program path outside /usr and the folders
// merged into it (/bin, /sbin, /lib*). A bare name is looked up in
// systemd's fixed search path, all under /usr or merged into it.
func execOutsideUsr(p string) bool {
	if p == "" || !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "%") {
		return false
	}
	for _, d := range []string{"/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/lib32/", "/libx32/"} {
		if strings.HasPrefix(p, d) {
			return false
		}
	}
	return true
}

func (x *extraction) unitDirs() []unitDir {
	ds := []unitDir{
		{"/etc/systemd/system", "root", false}, {"/run/systemd/system", "root", false},
		{"/usr/local/lib/systemd/system", "root", false}, {"/usr/lib/systemd/system", "root", false},
		{"/etc/systemd/user", "", true}, {"/usr/lib/systemd/user", "", true},
	}
	if !x.isLink("lib") {
		ds = append(ds, unitDir{"/lib/systemd/system", "root", false}, unitDir{"/lib/systemd/user", "", true})
	}
	for _, h := range x.homes {
		ds = append(ds, unitDir{path.Join(h.path, ".config/systemd/user"), h.user, true}, unitDir{path.Join(h.path, ".local/share/systemd/user"), h.user, true})
	}
	return ds
}

type wantLink struct {
	by     string // the target or unit whose .wants holds the link
	target string // where the link points, when known
}

func (x *extraction) systemd() {
	dirs := x.unitDirs()
	// Enablement: names in *.wants and *.requires folders.
	enabled := map[string][]wantLink{} // key: scope + "\x00" + unit
	scope := func(d unitDir) string {
		if d.user {
			return "user:" + d.owner
		}
		return "system"
	}
	for _, d := range dirs {
		ents, err := iofs.ReadDir(x.env.FS, users.Rel(d.dir))
		if err != nil {
			continue
		}
		for _, e := range ents {
			n := e.Name()
			var by string
			switch {
			case strings.HasSuffix(n, ".wants"):
				by = strings.TrimSuffix(n, ".wants")
			case strings.HasSuffix(n, ".requires"):
				by = strings.TrimSuffix(n, ".requires")
			case strings.HasSuffix(n, ".upholds"):
				by = strings.TrimSuffix(n, ".upholds")
			default:
				continue
			}
			wdir := path.Join(d.dir, n)
			links, err := iofs.ReadDir(x.env.FS, users.Rel(wdir))
			if err != nil {
				continue
			}
			for _, l := range links {
				lp := path.Join(wdir, l.Name())
				wl := wantLink{by: by, target: x.linkTarget(lp)}
				key := scope(d) + "\x00" + l.Name()
				enabled[key] = append(enabled[key], wl)
				if i := strings.IndexByte(l.Name(), '@'); i > 0 {
					if j := strings.LastIndexByte(l.Name(), '.'); j > i+1 {
						tmpl := l.Name()[:i+1] + l.Name()[j:]
						enabled[scope(d)+"\x00"+tmpl] = append(enabled[scope(d)+"\x00"+tmpl], wl)
					}
				}
				// The link's own times say when the unit was enabled.
				if rl, ok := x.env.FS.(iofs.ReadLinkFS); ok && !packaged(lp) {
					if fi, err := rl.Lstat(users.Rel(lp)); err == nil && fi.Mode()&iofs.ModeSymlink != 0 {
						x.emit(timeline.Event{Time: fi.ModTime().UTC(), TimestampDesc: DescAutostartLinked, Source: SourceSystemd, Path: lp,
							Evidence: x.env.Evidence(lp), Message: l.Name() + " enabled for " + by + " (link " + lp + " → " + wl.target + ")"})
					}
				}
			}
		}
	}

	for _, d := range dirs {
		ents, err := iofs.ReadDir(x.env.FS, users.Rel(d.dir))
		if err != nil {
			continue
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for _, n := range names {
			p := path.Join(d.dir, n)
			if strings.HasSuffix(n, ".d") {
				unit := strings.TrimSuffix(n, ".d")
				if unitKinds[path.Ext(unit)] == "" {
					continue
				}
				for _, c := range x.files(p) {
					if strings.HasSuffix(c, ".conf") {
						x.unit(d, scope(d), unit, c, KindDropIn, enabled)
					}
				}
				continue
			}
			kind := unitKinds[path.Ext(n)]
			if kind == "" {
				continue
			}
			if t := x.linkTarget(p); t == "/dev/null" {
				m, _ := users.MetaOf(x.env.FS, p)
				x.add(Entry{Kind: kind, File: p, Unit: n, Owner: d.owner, Flags: []string{FlagMasked}, FileMeta: m,
					Details: map[string]string{"link_target": t}, Indicators: []string{}})
				continue
			}
			x.unit(d, scope(d), n, p, kind, enabled)
		}
	}
}

func (x *extraction) unit(d unitDir, sc, name, p, kind string, enabled map[string][]wantLink) {
	data, m, ok := x.read(p, SourceSystemd, DescUnitModified, DescUnitCreated)
	if !ok {
		return
	}
	u, errs := ParseUnit(data)
	x.lineErrs(p, errs)
	e := Entry{Kind: kind, File: p, Unit: name, Owner: d.owner, UnitFile: u, FileMeta: m, Details: map[string]string{}}
	if t := x.linkTarget(p); t != "" {
		e.Details["link_target"] = t
	}
	for _, k := range []string{"Description", "Documentation"} {
		if v := u.Get("Unit", k); v != "" {
			e.Details[k] = v
		}
	}
	if v := u.Get("Service", "User"); v != "" {
		e.Owner = v
	}
	if v := u.Get("Service", "Type"); v != "" {
		e.Details["Type"] = v
	}
	if v := strings.Join(u.All("Install", "WantedBy"), " "); v != "" {
		e.Details["WantedBy"] = v
	}
	var execs []string
	for _, k := range []string{"ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost", "ExecCondition"} {
		for _, v := range u.All("Service", k) {
			if k == "ExecStart" {
				execs = append(execs, v)
			} else {
				e.Details[k] = strings.TrimSpace(e.Details[k] + "\n" + v)
			}
			if execOutsideUsr(ExecPath(v)) && !contains(e.Flags, FlagExecOutsideUsr) {
				e.Flags = append(e.Flags, FlagExecOutsideUsr)
			}
		}
	}
	e.Command = strings.Join(execs, "\n")
	e.Indicators = Indicators(e.Command + "\n" + e.Details["ExecStartPre"] + "\n" + e.Details["ExecStartPost"] + "\n" + e.Details["ExecStop"])
	var sched []string
	switch kind {
	case KindTimer:
		for _, k := range []string{"OnCalendar", "OnBootSec", "OnStartupSec", "OnActiveSec", "OnUnitActiveSec", "OnUnitInactiveSec"} {
			for _, v := range u.All("Timer", k) {
				sched = append(sched, k+"="+v)
			}
		}
		target := u.Get("Timer", "Unit")
		if target == "" {
			target = strings.TrimSuffix(name, ".timer") + ".service"
		}
		e.Details["Unit"] = target
		e.Command = target
	case KindSocket:
		for _, k := range []string{"ListenStream", "ListenDatagram", "ListenSequentialPacket", "ListenFIFO", "ListenNetlink"} {
			for _, v := range u.All("Socket", k) {
				sched = append(sched, k+"="+v)
			}
		}
	case KindPath:
		for _, k := range []string{"PathExists", "PathExistsGlob", "PathChanged", "PathModified", "DirectoryNotEmpty"} {
			for _, v := range u.All("Path", k) {
				sched = append(sched, k+"="+v)
			}
		}
	}
	// For a drop-in, name is the unit it overrides.
	links := enabled[sc+"\x00"+name]
	on := len(links) > 0
	if kind != KindDropIn {
		e.Enabled = &on
	}
	for _, l := range links {
		if !contains(e.WantedBy, l.by) {
			e.WantedBy = append(e.WantedBy, l.by)
		}
	}
	if on && len(sched) == 0 {
		sched = append(sched, "start of "+strings.Join(e.WantedBy, ", "))
	}
	e.Schedule = strings.Join(sched, "; ")
	// A unit in /etc that is only a link to a packaged unit (an Alias=)
	// is not admin-written content.
	if t := e.Details["link_target"]; !packaged(p) && !(strings.HasPrefix(t, "/") && packaged(t)) {
		e.Flags = append(e.Flags, FlagAdminAdded)
	}
	x.add(e)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
