package users

import (
	"bytes"
	"strings"
	"testing"
	"testing/fstest"
	"time"
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
