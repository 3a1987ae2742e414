package users

import (
	"bytes"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

func TestHostileAccountFiles(t *testing.T) {
	giant := strings.Repeat("A", 200<<10)
	pw, errs := ParsePasswd([]byte("root:x:0:0::/root:/bin/sh\n" + giant + "\nbin:x:99999999999:1::/:/x\n\x00\xff:x:5:5::/:/x\nok:x:1:1::/:/bin/false"))
	if len(pw) != 3 || pw[1].Name != "\x00\xff" || pw[2].Name != "ok" || len(errs) != 2 || errs[0].Line != 2 || errs[1].Line != 3 {
		t.Errorf("passwd %+v errs %+v", pw, errs)
	}
	// Raw bytes stay raw (no escaping in records).
	if pw[1].Name != "\x00\xff" {
		t.Error("name changed")
	}
	sh, errs := ParseShadow([]byte("a:$6$$:x:-1:99999999999999999999::::\nb\n"))
	if len(sh) != 1 || sh[0].HashType != HashSHA512 || sh[0].LastChange != "" || *sh[0].MinDays != -1 || len(errs) != 3 {
		t.Fatalf("shadow %+v %+v", sh, errs)
	}
	if _, ok := sh[0].LastChangeTime(); ok {
		t.Error("bad last change gives a time")
	}
}

func TestHostileHistories(t *testing.T) {
	garbage := bytes.Repeat([]byte{0, 0xff, '\n', '#', '9', '\r'}, 10000)
	long := strings.Repeat("x", 1<<20)
	mt := time.Unix(1700000000, 0)
	es, errs := ParseBashHistory(strings.NewReader("#1\n"+long+"\nls\n"), mt)
	if len(es) != 1 || len(es[0].Command) < maxLine || len(errs) != 1 || errs[0].Line != 2 {
		t.Errorf("%d entries, errs %+v", len(es), errs)
	}
	ParseBashHistory(bytes.NewReader(garbage), mt)
	ParseZshHistory(bytes.NewReader(garbage), mt)
	ParseFishHistory(bytes.NewReader(garbage), mt)
	ParseViminfo(garbage)
	ParseLesshst(garbage)
	// A hostile sudoers including itself and a folder of itself ends.
	fsys := fstest.MapFS{
		"etc/sudoers":   &fstest.MapFile{Data: []byte("#include /etc/sudoers\n#includedir /etc\n@include a\n")},
		"etc/a":         &fstest.MapFile{Data: []byte("@include /etc/sudoers\n@include b\n")},
		"etc/b":         &fstest.MapFile{Data: []byte("@include a\nx ALL=(ALL) ALL\n")},
		"etc/sudoersx2": &fstest.MapFile{Data: []byte("#include /etc/b\n")},
	}
	rules := ReadSudoers(fsys, func(string, string) {})
	n := 0
	for _, r := range rules {
		if r.Kind == "spec" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d specs from a cyclic include graph: %+v", n, rules)
	}
}

func TestLsMode(t *testing.T) {
	for mode, want := range map[iofs.FileMode]string{
		0o755 | iofs.ModeSetuid:                 "-rwsr-xr-x",
		0o644 | iofs.ModeSetgid:                 "-rw-r-Sr--",
		0o1777 | iofs.ModeDir | iofs.ModeSticky: "drwxrwxrwt",
		0o777 | iofs.ModeSymlink:                "lrwxrwxrwx",
		0o600:                                   "-rw-------",
	} {
		fsys := fstest.MapFS{"f": {Mode: mode}}
		fi, err := fsys.Lstat("f")
		if err != nil {
			t.Fatal(err)
		}
		if got := LsMode(fi); got != want {
			t.Errorf("%v: %s, want %s", mode, got, want)
		}
	}
}

// TestLsModeMatchesStat compares with coreutils' stat -c %A on real files.
func TestLsModeMatchesStat(t *testing.T) {
	testenv.NeedTool(t, "stat")
	dir := t.TempDir()
	for i, perm := range []os.FileMode{0o4755, 0o2644, 0o1777, 0o6711, 0o4644, 0o640} {
		p := filepath.Join(dir, strconv.Itoa(i))
		os.WriteFile(p, nil, 0o600)
		// os.Chmod takes Go's mode bits, not octal special bits.
		m := perm & 0o777
		if perm&0o4000 != 0 {
			m |= os.ModeSetuid
		}
		if perm&0o2000 != 0 {
			m |= os.ModeSetgid
		}
		if perm&0o1000 != 0 {
			m |= os.ModeSticky
		}
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSpace(string(testenv.Output(t, "stat", "-c", "%A", p)))
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := LsMode(fi); got != want {
			t.Errorf("%o: ours %s, stat %s", perm, got, want)
		}
	}
}
