package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

func readManifest(t *testing.T, dir string) map[string]extracted {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "extract-manifest.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]extracted{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e extracted
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		m[e.GuestPath] = e
	}
	return m
}

// TestExtractSample copies trees out of the sample and checks each file's
// bytes against TSK's icat of the same inode, the manifest's hashes, and
// the kept modification times.
func TestExtractSample(t *testing.T) {
	testenv.NeedTool(t, "qemu-img", "icat", "sha256sum")
	_, sample := readKey(t)
	raw := filepath.Join(t.TempDir(), "s.raw")
	testenv.Run(t, "qemu-img", "convert", "-O", "raw", sample, raw)
	out := filepath.Join(t.TempDir(), "out")
	if err := run(t, "extract", sample, "/etc", "/root", "/tmp", "-d", out); err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, out)
	checked := 0
	for gp, e := range m {
		if e.Type != "file" {
			continue
		}
		icat := testenv.Output(t, "icat", "-o", "71680", raw, e.File.Inode)
		if got := sha256Bytes(icat); got != e.SHA256 {
			t.Errorf("%s: manifest sha256 %s, icat of inode %s gives %s", gp, e.SHA256, e.File.Inode, got)
		}
		if got := sha256File(t, filepath.Join(out, e.Output)); got != e.SHA256 {
			t.Errorf("%s: extracted file hashes to %s, manifest says %s", gp, got, e.SHA256)
		}
		fi, err := os.Stat(filepath.Join(out, e.Output))
		if err != nil || !fi.ModTime().Equal(e.File.Mtime) {
			t.Errorf("%s: mtime %v, guest %v (%v)", gp, fi.ModTime(), e.File.Mtime, err)
		}
		checked++
	}
	if checked < 15 {
		t.Errorf("only %d files checked", checked)
	}
	link := m["/etc/systemd/system/multi-user.target.wants/dbus-helper.service"]
	if link.Type != "symlink" || link.Target != "/etc/systemd/system/dbus-helper.service" || link.Skipped == "" {
		t.Errorf("symlink entry %+v", link)
	}
	if _, err := os.Lstat(filepath.Join(out, "etc/systemd/system/multi-user.target.wants/dbus-helper.service")); err == nil {
		t.Error("symlink recreated in the output folder")
	}
	if m["/tmp/.X11-unix/.s/.bash"].SHA256 == "" {
		t.Error("hidden SUID file not extracted")
	}
}

func sha256Bytes(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestExtractHostileTree: an extracted tree (--root) with links that point
// out of it, a FIFO, control characters in names, and an output folder
// where something planted a symlink: nothing is written outside the output
// folder and nothing on the host is read through a link.
func TestExtractHostileTree(t *testing.T) {
	src := t.TempDir()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	os.WriteFile(secret, []byte("host secret"), 0o600)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(src, "etc", "ok"), []byte("fine"), 0o644))
	must(os.WriteFile(filepath.Join(src, "etc", "esc\x1b[31m\n.txt"), []byte("odd name"), 0o644))
	must(os.Symlink(secret, filepath.Join(src, "etc", "abs")))                      // absolute, to the host
	must(os.Symlink("../../../../../../"+secret, filepath.Join(src, "etc", "rel"))) // relative, climbing out
	must(os.Symlink(outside, filepath.Join(src, "etc", "dirlink")))
	must(syscall.Mkfifo(filepath.Join(src, "etc", "fifo"), 0o644))
	mt := time.Date(2026, 9, 12, 2, 19, 10, 0, time.UTC)
	must(os.Chtimes(filepath.Join(src, "etc", "ok"), mt, mt))

	out := t.TempDir()
	// /etc/dirlink/ leads out of the tree: that path fails, the others are extracted.
	if err := run(t, "extract", "--root", src, "/etc", "/etc/dirlink/", "-d", filepath.Join(out, "x")); err == nil {
		t.Error("a path leading out of the tree was not reported")
	}
	m := readManifest(t, filepath.Join(out, "x"))
	if e := m["/etc/ok"]; e.Type != "file" || e.SHA256 == "" {
		t.Errorf("/etc/ok: %+v", e)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "x", "etc", "ok")); string(b) != "fine" {
		t.Errorf("etc/ok = %q", b)
	}
	if fi, err := os.Stat(filepath.Join(out, "x", "etc", "ok")); err != nil || !fi.ModTime().Equal(mt) {
		t.Errorf("mtime not kept: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "x", "etc", "esc\x1b[31m\n.txt")); string(b) != "odd name" {
		t.Error("file with control characters in its name not extracted as named")
	}
	for _, p := range []string{"/etc/abs", "/etc/rel", "/etc/dirlink"} {
		if e := m[p]; e.Type != "symlink" || e.SHA256 != "" {
			t.Errorf("%s: %+v", p, e)
		}
	}
	if e := m["/etc/fifo"]; e.Type != "special" || e.Skipped == "" {
		t.Errorf("fifo: %+v", e)
	}
	// Nothing from the host came in, nothing went out.
	filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "host secret") {
				t.Errorf("%s holds the host's secret", p)
			}
		}
		return nil
	})
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Errorf("the folder outside was written to: %v", ents)
	}
	// A link inside the output folder (where "etc" would go) is not
	// written through: those files are skipped and say why.
	x2 := filepath.Join(out, "x2")
	must(os.MkdirAll(x2, 0o755))
	must(os.Symlink(outside, filepath.Join(x2, "etc")))
	run(t, "extract", "--root", src, "/etc", "-d", x2)
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("extract wrote through the planted link: %v", ents)
	}
	if e := readManifest(t, x2)["/etc/ok"]; e.SHA256 != "" || !strings.Contains(e.Skipped, "not a directory") {
		t.Errorf("/etc/ok through a planted link: %+v", e)
	}
}
