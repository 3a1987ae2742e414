package xfs

import (
	"bytes"
	"fmt"
	iofs "io/fs"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// Images are built once per test binary by testdata/xfs/mkimage.sh.
var images = testenv.ImageSet{Script: "testdata/xfs/mkimage.sh"}

func TestMain(m *testing.M) {
	code := m.Run()
	images.Remove()
	os.Exit(code)
}

// buildImage returns the output folder of mkimage.sh for a variant (xfs.img,
// proto, src/).
func buildImage(t testing.TB, variant string) string {
	t.Helper()
	testenv.NeedTool(t, "mkfs.xfs", "xfs_db")
	return images.Build(t, variant)
}

func openImage(t testing.TB, img string) *FS {
	t.Helper()
	f, size := testenv.OpenImage(t, img)
	x, err := Open(f, size)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// xfsDB runs xfs_db read-only on img with commands on stdin, in UTC so
// that its printed times are comparable.
func xfsDB(t testing.TB, img string, cmds []string) string {
	t.Helper()
	out := xfsDBRun(img, cmds)
	if strings.HasPrefix(out, "xfs_db failed: ") {
		t.Fatal(out)
	}
	return out
}

// xfsDBRun is xfsDB for use off the test goroutine: failures come back as
// text starting with "xfs_db failed: ", which no parse accepts.
func xfsDBRun(img string, cmds []string) string {
	p, err := testenv.LookPath("xfs_db")
	if err != nil {
		return "xfs_db failed: " + err.Error()
	}
	cmd := exec.Command(p, "-r", img)
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Sprintf("xfs_db failed: %v\n%s", err, stderr.String())
	}
	return string(out)
}

// protoEntry is what the protofile asked mkfs.xfs to create.
type protoEntry struct {
	mode   string
	src    string // host file copied (regular files)
	target string // symlink target
}

// parseProto reads a mkfs.xfs protofile into path → entry.
func parseProto(t testing.TB, file string) map[string]protoEntry {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")[3:]
	m := map[string]protoEntry{}
	var dir []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if f[0] == "$" {
			if len(dir) > 0 {
				dir = dir[:len(dir)-1]
			}
			continue
		}
		p := path.Join(append(append([]string{}, dir...), f[0])...)
		e := protoEntry{mode: f[1]}
		switch f[1][0] {
		case '-':
			e.src = f[4]
		case 'l':
			e.target = f[4]
		case 'd':
			dir = append(dir, f[0])
		}
		m[p] = e
	}
	return m
}

var lsLine = regexp.MustCompile(`^\s*\d+\s+(\d+)\s+\S+\s+0x[0-9a-f]+\s+(\d+) (.*) \((good|bad[^)]*)\)$`)

// xfsDBLs lists directories with xfs_db's ls: dir → name → inode.
func xfsDBLs(t testing.TB, img string, dirs []string) map[string]map[string]uint64 {
	t.Helper()
	var cmds []string
	for _, d := range dirs {
		cmds = append(cmds, "ls "+d)
	}
	out := xfsDB(t, img, cmds)
	res := map[string]map[string]uint64{}
	var cur map[string]uint64
	for _, l := range strings.Split(out, "\n") {
		if m := lsLine.FindStringSubmatch(l); m != nil {
			if cur == nil {
				t.Fatalf("xfs_db ls: entry before header: %q", l)
			}
			n, _ := strconv.Atoi(m[2])
			if len(m[3]) != n {
				t.Fatalf("xfs_db ls: name %q is not %d bytes", m[3], n)
			}
			if m[4] != "good" {
				t.Errorf("xfs_db ls: %q is %s", m[3], m[4])
			}
			ino, _ := strconv.ParseUint(m[1], 10, 64)
			if m[3] != "." && m[3] != ".." {
				cur[m[3]] = ino
			}
			continue
		}
		if strings.HasSuffix(l, ":") && strings.HasPrefix(l, "/") {
			cur = map[string]uint64{}
			res[strings.TrimSuffix(l, ":")] = cur
		}
	}
	return res
}

// xfsDBInodes prints the core fields of each inode with xfs_db and returns
// one field map per inode.
func xfsDBInodes(t testing.TB, img string, inos []uint64, v5 bool) []map[string]string {
	t.Helper()
	fields := "core.mode core.uid core.gid core.nlinkv2 core.size core.format " +
		"core.atime.sec core.atime.nsec core.mtime.sec core.mtime.nsec core.ctime.sec core.ctime.nsec"
	if v5 {
		fields += " v3.crtime.sec v3.crtime.nsec v3.inumber"
	}
	// xfs_db reads each inode cluster with direct I/O, so several
	// processes on slices of the list finish sooner than one.
	const parts = 6
	outs := make([]string, parts)
	var wg sync.WaitGroup
	for p := 0; p < parts; p++ {
		var cmds []string
		for i := p * len(inos) / parts; i < (p+1)*len(inos)/parts; i++ {
			cmds = append(cmds, fmt.Sprintf("inode %d", inos[i]), "p "+fields)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[p] = xfsDBRun(img, cmds)
		}()
	}
	wg.Wait()
	var recs []map[string]string
	for _, l := range strings.Split(strings.Join(outs, ""), "\n") {
		k, v, ok := strings.Cut(l, " = ")
		if !ok {
			continue
		}
		if k == "core.mode" {
			recs = append(recs, map[string]string{})
		}
		if len(recs) == 0 {
			t.Fatalf("xfs_db print: unexpected line %q", l)
		}
		recs[len(recs)-1][k] = v
	}
	if len(recs) != len(inos) {
		t.Fatalf("xfs_db printed %d inodes, asked for %d", len(recs), len(inos))
	}
	return recs
}

// xfsDBTime combines xfs_db's "sec" (a ctime(3) string in UTC) and "nsec".
func xfsDBTime(t testing.TB, sec, nsec string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.ANSIC, sec)
	if err != nil {
		t.Fatalf("xfs_db time %q: %v", sec, err)
	}
	ns, err := strconv.ParseInt(nsec, 10, 64)
	if err != nil {
		t.Fatalf("xfs_db nsec %q: %v", nsec, err)
	}
	return ts.Add(time.Duration(ns))
}

// walked is one object found by walking our filesystem.
type walked struct {
	path string
	ino  uint64
}

func walkAll(t testing.TB, x *FS) (files []walked, dirs []string) {
	t.Helper()
	err := iofs.WalkDir(x, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys()
		if st == nil {
			return fmt.Errorf("%s: no Stat", p)
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		files = append(files, walked{p, inoOf(fi)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, dirs
}
