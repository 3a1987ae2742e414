package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestArtifactsEscaping: strings from the evidence stay raw in JSON and are
// escaped in tables and the timeline table.
func TestArtifactsEscaping(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.MkdirAll(filepath.Join(root, "var/log"), 0o755)
	gecos := "Evil\x1b]0;pwned\x07\x1b[2J"
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/bash\nevil:x:0:0:"+gecos+":/tmp:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "var/log/auth.log"),
		[]byte("Sep 12 04:15:30 web01 sshd[1]: Invalid user \x1b[31mroot\x1b[0m from 203.0.113.66 port 5\n"), 0o644)

	var tbl bytes.Buffer
	root1 := newRoot()
	root1.SetOut(&tbl)
	root1.SetArgs([]string{"artifacts", "--root", root, "--only", "users"})
	if err := root1.Execute(); err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(tbl.Bytes(), "\x1b\x07") || !strings.Contains(tbl.String(), `Evil\x1b]0;pwned`) {
		t.Errorf("table not escaped:\n%q", tbl.String())
	}

	var js bytes.Buffer
	root2 := newRoot()
	root2.SetOut(&js)
	root2.SetArgs([]string{"artifacts", "--root", root, "--only", "users", "-o", "json"})
	if err := root2.Execute(); err != nil {
		t.Fatal(err)
	}
	var set struct {
		Records struct {
			Users struct {
				Users []struct {
					Name  string   `json:"name"`
					Gecos string   `json:"gecos"`
					Flags []string `json:"flags"`
				} `json:"users"`
			} `json:"users"`
		} `json:"records"`
	}
	if err := json.Unmarshal(js.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, u := range set.Records.Users.Users {
		if u.Name == "evil" {
			found = true
			if u.Gecos != gecos {
				t.Errorf("JSON gecos %q, want the raw %q", u.Gecos, gecos)
			}
		}
	}
	if !found {
		t.Errorf("user evil not in JSON: %s", js.String())
	}

	var tl bytes.Buffer
	root3 := newRoot()
	root3.SetOut(&tl)
	root3.SetArgs([]string{"timeline", "--root", root, "--only", "syslog", "--no-fs"})
	if err := root3.Execute(); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(tl.Bytes(), []byte{0x1b}) || !strings.Contains(tl.String(), `\x1b[31mroot`) {
		t.Errorf("timeline table not escaped:\n%q", tl.String())
	}
}
