package persistence

import (
	"path"
	"strings"

	"github.com/coldcase-dfir/coldcase/artifacts/users"
)

// More kinds: places a root shell or a login runs code from that are
// less known than cron and systemd.
const (
	KindGenerator = "systemd_generator" // executables run by systemd at every boot and daemon-reload
	KindAutostart = "xdg_autostart"     // desktop session autostart (.desktop Exec=)
	KindMotd      = "update_motd"       // /etc/update-motd.d scripts, run as root by pam_motd at each login
	KindAptHook   = "apt_hook"          // APT::Update::Pre-Invoke / DPkg::Post-Invoke … commands
	KindPamExec   = "pam_exec"          // pam_exec.so lines of /etc/pam.d
)

func (x *extraction) more() {
	for _, dir := range []string{"/etc/systemd/system-generators", "/usr/local/lib/systemd/system-generators", "/etc/systemd/user-generators",
		"/usr/lib/systemd/system-generators", "/lib/systemd/system-generators"} {
		if strings.HasPrefix(dir, "/lib/") && x.isLink("lib") {
			continue
		}
		for _, p := range x.files(dir) {
			data, m, ok := x.read(p, SourceSystemd, DescUnitModified, DescUnitCreated)
			if !ok {
				continue
			}
			e := Entry{Kind: KindGenerator, File: p, Schedule: "boot and daemon-reload", Command: p, Owner: "root", FileMeta: m, Indicators: scriptIndicators(data)}
			if !packaged(p) {
				e.Flags = append(e.Flags, FlagAdminAdded)
			}
			x.add(e)
		}
	}

	autostart := []struct{ dir, owner string }{{"/etc/xdg/autostart", ""}}
	for _, h := range x.homes {
		autostart = append(autostart, struct{ dir, owner string }{path.Join(h.path, ".config/autostart"), h.user})
	}
	for _, a := range autostart {
		for _, p := range x.files(a.dir) {
			if !strings.HasSuffix(p, ".desktop") {
				continue
			}
			data, m, ok := x.read(p, SourcePersistence, DescFileModified, DescFileCreated)
			if !ok {
				continue
			}
			u, errs := ParseUnit(data) // .desktop files are the same key file syntax
			x.lineErrs(p, errs)
			exec := u.Get("Desktop Entry", "Exec")
			if exec == "" {
				continue
			}
			e := Entry{Kind: KindAutostart, File: p, Schedule: "desktop login", Command: exec, Owner: a.owner, FileMeta: m,
				Details: map[string]string{"Name": u.Get("Desktop Entry", "Name"), "Hidden": u.Get("Desktop Entry", "Hidden")}}
			x.add(e)
		}
	}

	for _, p := range x.files("/etc/update-motd.d") {
		data, m, ok := x.read(p, SourcePersistence, DescFileModified, DescFileCreated)
		if !ok {
			continue
		}
		x.add(Entry{Kind: KindMotd, File: p, Schedule: "login (pam_motd)", Command: p, Owner: "root", FileMeta: m, Indicators: scriptIndicators(data)})
	}

	apt := []string{"/etc/apt/apt.conf"}
	apt = append(apt, x.files("/etc/apt/apt.conf.d")...)
	for _, p := range apt {
		x.configLines(p, "#", func(n int64, t string, m users.FileMeta) {
			if strings.HasPrefix(t, "//") {
				return
			}
			for _, hook := range []string{"Pre-Invoke", "Post-Invoke", "Pre-Install-Pkgs", "Post-Invoke-Success"} {
				if i := strings.Index(t, hook); i >= 0 && strings.Contains(t, "{") {
					// APT::Update::Pre-Invoke {"cmd";}; — commands are the quoted strings.
					for _, cmd := range quoted(t[i:]) {
						x.add(Entry{Kind: KindAptHook, File: p, Line: n, Schedule: "apt " + strings.TrimSpace(t[:i+len(hook)]), Command: cmd, Owner: "root", FileMeta: m})
					}
					break
				}
			}
		})
	}

	for _, p := range x.files("/etc/pam.d") {
		x.configLines(p, "#", func(n int64, t string, m users.FileMeta) {
			f := strings.Fields(t)
			for i, w := range f {
				if strings.HasSuffix(w, "pam_exec.so") {
					args := f[i+1:]
					for len(args) > 0 && !strings.HasPrefix(args[0], "/") {
						args = args[1:] // options such as expose_authtok, quiet, log=…
					}
					x.add(Entry{Kind: KindPamExec, File: p, Line: n, Schedule: "PAM " + path.Base(p) + " " + f[0], Command: strings.Join(args, " "), Owner: "root", FileMeta: m})
					break
				}
			}
		})
	}
}

// quoted returns the double-quoted strings of s.
func quoted(s string) []string {
	var out []string
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(s[i+1:], '"')
		if j < 0 {
			return out
		}
		out = append(out, s[i+1:i+1+j])
		s = s[i+j+2:]
	}
}
