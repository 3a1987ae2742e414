package rpmdb

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// testDB builds the test packages with rpmbuild and installs them with
// rpm (testdata/artifacts/rpm/build.sh) once per test binary; it returns
// the folder holding root/ (sqlite) and bdb/ (Berkeley DB).
func testDB(t testing.TB) string {
	t.Helper()
	for _, tool := range []string{"rpm", "rpmbuild", "sqlite3", "db5.3_load"} {
		testenv.NeedTool(t, tool)
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "coldcase-rpmdb-")
		if buildErr != nil {
			return
		}
		script := filepath.Join(testenv.RepoRoot(t), "testdata/artifacts/rpm/build.sh")
		out, err := exec.Command(script, buildDir).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("%s: %v\n%s", script, err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// rpmQuery runs rpm -qa with a query format against a database folder.
func rpmQuery(t *testing.T, dbpath, backend, qf string) []string {
	t.Helper()
	args := []string{"--dbpath", dbpath, "-qa", "--qf", qf}
	if backend != "" {
		args = append([]string{"--define", "_db_backend " + backend}, args...)
	}
	cmd := exec.Command("rpm", args...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rpm %v: %v", args, err)
	}
	ls := strings.Split(strings.TrimSpace(string(out)), "\n")
	sort.Strings(ls)
	return ls
}

const pkgQF = "%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{INSTALLTIME}|%{BUILDTIME}|%{VENDOR}|%{PACKAGER}|%{DBINSTANCE}\n"
const fileQF = "[%{=NAME}|%{FILENAMES}|%{FILEDIGESTS}|%{FILESIZES}|%{FILEMODES}|%{FILEMTIMES}|%{FILEFLAGS}|%{FILEUSERNAME}|%{FILEGROUPNAME}|%{FILELINKTOS}\n]"

// ours formats what Walk read the way rpm's query formats print it.
func ours(t *testing.T, d Database, dir string) (pkgs, files []string, algos map[string]string) {
	t.Helper()
	algos = map[string]string{}
	opt := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return s
	}
	err := d.Walk(os.DirFS(dir), func(p *Package, r Record) error {
		ep := "(none)"
		if p.Epoch != nil {
			ep = strconv.FormatInt(*p.Epoch, 10)
		}
		pkgs = append(pkgs, strings.Join([]string{p.Name, ep, p.Version, p.Release, p.Arch,
			strconv.FormatInt(p.InstallTime.Unix(), 10), strconv.FormatInt(p.BuildTime.Unix(), 10),
			opt(p.Vendor), opt(p.Packager), strconv.FormatUint(uint64(r.HNum), 10)}, "|"))
		for _, f := range p.Files {
			files = append(files, strings.Join([]string{p.Name, f.Path, f.Digest, strconv.FormatInt(f.Size, 10),
				strconv.Itoa(int(f.Mode)), strconv.FormatInt(f.Mtime.Unix(), 10), strconv.FormatUint(uint64(f.Flags), 10),
				f.User, f.Group, f.LinkTo}, "|"))
		}
		algos[p.Name] = p.DigestAlgo
		return nil
	}, func(msg string) { t.Errorf("warning: %s", msg) })
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(pkgs)
	sort.Strings(files)
	return pkgs, files, algos
}

func compareLines(t *testing.T, what string, want, got []string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: rpm lists %d lines, we %d", what, len(want), len(got))
	}
	for i := 0; i < len(want) && i < len(got); i++ {
		if want[i] != got[i] {
			t.Errorf("%s line %d:\n rpm: %s\n us:  %s", what, i, want[i], got[i])
		}
	}
}

// BenchmarkWalkVsRPM reads a 1536-package rpmdb.sqlite (the test
// headers, copied by sqlite3) with Walk — headers and file lists parsed —
// and with rpm -qa printing every file digest, and reports the ratio.
func BenchmarkWalkVsRPM(b *testing.B) {
	dir := testDB(b)
	dbdir := b.TempDir()
	src, err := os.ReadFile(filepath.Join(dir, "root/var/lib/rpm/rpmdb.sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(dbdir, "rpmdb.sqlite")
	if err := os.WriteFile(p, src, 0o644); err != nil {
		b.Fatal(err)
	}
	grow := strings.Repeat("insert into Packages(blob) select blob from Packages;\n", 9)
	cmd := exec.Command("sqlite3", p)
	cmd.Stdin = strings.NewReader(grow)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("sqlite3: %v %s", err, out)
	}
	d := Database{Path: "/rpmdb.sqlite", Format: FormatSQLite}
	var rpmTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		if err := d.Walk(os.DirFS(dbdir), func(p *Package, r Record) error { n++; return nil }, func(string) {}); err != nil || n != 3<<9 {
			b.Fatalf("%d packages, %v", n, err)
		}
		b.StopTimer()
		start := time.Now()
		if out, err := exec.Command("rpm", "--dbpath", dbdir, "-qa", "--qf", "[%{FILEDIGESTS}\n]").Output(); err != nil || len(out) == 0 {
			b.Fatalf("rpm: %v", err)
		}
		rpmTime += time.Since(start)
		b.StartTimer()
	}
	ours := b.Elapsed()
	b.ReportMetric(float64(rpmTime)/float64(ours), "x_faster_than_rpm")
}

func TestSQLiteAgainstRPM(t *testing.T) {
	dir := testDB(t)
	root := filepath.Join(dir, "root")
	d, ok := Find(os.DirFS(root))
	if !ok || d.Format != FormatSQLite || d.Path != "/var/lib/rpm/rpmdb.sqlite" {
		t.Fatalf("Find = %+v, %v", d, ok)
	}
	pkgs, files, algos := ours(t, d, root)
	compareLines(t, "packages", rpmQuery(t, filepath.Join(root, "var/lib/rpm"), "", pkgQF), pkgs)
	compareLines(t, "files", rpmQuery(t, filepath.Join(root, "var/lib/rpm"), "", fileQF), files)
	if len(pkgs) != 3 || len(files) < 250 {
		t.Errorf("read %d packages, %d files; the build makes 3 packages and over 250 files", len(pkgs), len(files))
	}
	// build.sh builds cc-gamma with md5 digests, the others with rpm's
	// default.
	want := rpmQuery(t, filepath.Join(root, "var/lib/rpm"), "", "%{NAME} %{FILEDIGESTALGO}\n")
	for _, l := range want {
		f := strings.Fields(l)
		exp := map[string]string{"1": "md5", "8": "sha256", "(none)": "md5"}[f[1]]
		if algos[f[0]] != exp {
			t.Errorf("%s: digest algo %q, rpm says %s", f[0], algos[f[0]], f[1])
		}
	}
}

func TestBDBAgainstRPM(t *testing.T) {
	dir := testDB(t)
	// rpm's own read-only Berkeley DB backend reads the same files; it
	// cannot read checksummed pages, so the plain file, holding the same
	// blobs, stands in for that one.
	for _, c := range []struct{ name, rpmDir string }{
		{"bdb", "bdb"}, {"bdb-be", "bdb-be"}, {"bdb-chksum", "bdb"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := Database{Path: "/" + c.name + "/Packages", Format: FormatBDB}
			pkgs, files, _ := ours(t, d, dir)
			rpmDir := filepath.Join(dir, c.rpmDir)
			compareLines(t, "packages", rpmQuery(t, rpmDir, "bdb_ro", pkgQF), pkgs)
			compareLines(t, "files", rpmQuery(t, rpmDir, "bdb_ro", fileQF), files)
			if len(pkgs) != 3 {
				t.Errorf("read %d packages, want 3", len(pkgs))
			}
		})
	}
}
