package users

import (
	"bytes"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

func FuzzAccountFiles(f *testing.F) {
	testenv.SeedPeer(f, "artifacts/dissect/passwd", "artifacts/dissect/shadow", "artifacts/velociraptor/group", "artifacts/velociraptor/passwd")
	for _, s := range []string{"root:x:0:0:root:/root:/bin/bash\n", "a:!$y$j9T$s$h:1:2:3:4:5:6:\n", "a:_J9..abcdABCDEFGHIJK:::::::", "g:x:1:a,b\n", "g:*:a:b,c\n", "x:$2b$10$" + string(bytes.Repeat([]byte("a"), 53)) + ":1\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pw, _ := ParsePasswd(data)
		sh, _ := ParseShadow(data)
		gr, _ := ParseGroup(data)
		gs, _ := ParseGshadow(data)
		for _, s := range sh {
			s.LastChangeTime()
			if s.HashType == "" {
				t.Fatalf("no hash type for %q", s.Field)
			}
		}
		_, _, _, _ = pw, sh, gr, gs
	})
}

func FuzzSudoers(f *testing.F) {
	for _, s := range []string{"root ALL=(ALL:ALL) ALL\n", "%sudo ALL=(ALL) NOPASSWD: SETENV: /bin/ls, \\\n /bin/cat\n", "#includedir /etc/sudoers.d\n@include x\nDefaults env_reset\nCmnd_Alias X = /bin/a\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { ParseSudoers("/etc/sudoers", data) })
}

func FuzzAuthorizedKeys(f *testing.F) {
	f.Add([]byte("command=\"x,y\",from=\"a\" ssh-ed25519 " + edKey + " c\n"))
	f.Add([]byte("ssh-rsa AAAA\n@cert-authority *.x ssh-ed25519 " + edKey + "\n|1|a|b ssh-rsa AAAAB3NzaC1yc2E=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, _ := ParseAuthorizedKeys("/a", data)
		for _, k := range ks {
			if k.KeyType == "" {
				t.Fatal("key without type")
			}
		}
		ParseKnownHosts("/k", data)
	})
}

func FuzzHistories(f *testing.F) {
	testenv.SeedPeer(f, "artifacts/plaso/bash_history", "artifacts/plaso/zsh_extended_history.txt")
	f.Add([]byte("- cmd: ls\n  when: 1\n  paths:\n    - /x\n"))
	f.Add([]byte(".search\n\"x\n# File marks:\n'0  1  0  /a\n|4,48,1,0,17,\"/a\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mt := time.Unix(1700000000, 0)
		for _, p := range []func() ([]HistoryEntry, []LineError){
			func() ([]HistoryEntry, []LineError) { return ParseBashHistory(bytes.NewReader(data), mt) },
			func() ([]HistoryEntry, []LineError) { return ParseZshHistory(bytes.NewReader(data), mt) },
			func() ([]HistoryEntry, []LineError) { return ParseFishHistory(bytes.NewReader(data), mt) },
		} {
			es, _ := p()
			for _, e := range es {
				if e.TimeKind == TimeBefore && (e.Time == nil || e.Time.After(mt)) {
					t.Fatalf("untimed entry not bounded by mtime: %+v", e)
				}
			}
		}
		ParseLesshst(data)
		ParseViminfo(data)
		ParseSessionUsers("/s", bytes.NewReader(data))
	})
}

func FuzzSSHDConfig(f *testing.F) {
	f.Add([]byte("Include /etc/ssh/sshd_config\nPermitRootLogin=no\nAuthorizedKeysFile %h/.k /e/%u %%\nMatch User x\n PasswordAuthentication yes\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{"etc/ssh/sshd_config": {Data: data}}
		c := ReadSSHDConfig(fsys, func(string, string) {})
		KeyFilePaths(c.AuthorizedKeysFile, PasswdEntry{Name: "a", Home: "/h"})
	})
}
