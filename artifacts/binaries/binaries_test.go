package binaries

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
	"github.com/coldcase-dfir/coldcase/timeline"
	"golang.org/x/sys/unix"
)

// log2timeline/plaso@4ea03ef9:tests/parsers/pe.py#L22-69
func TestPeerPlasoTestPE(t *testing.T) {
	info, err := ReadPE(testenv.PeerFile(t, "binaries/plaso/test_pe.exe"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Imphash != "8d0739063fc8f9955cc6696b462544ab" {
		t.Errorf("imphash %s", info.Imphash)
	}
	if got := info.CompileTime.Format(time.RFC3339); got != "2015-04-21T14:53:56Z" {
		t.Errorf("compile time %s", got)
	}
	if info.Kind != "exe" || info.Machine != "x86" || info.Is64 {
		t.Errorf("info %+v", info)
	}
	if !slices.Contains(info.Imports, "KERNEL32.dll") || !slices.Contains(info.Imports, "USER32.dll (delay)") {
		t.Errorf("imports %v: want KERNEL32.dll and delay-loaded USER32.dll", info.Imports)
	}
}

// log2timeline/plaso@4ea03ef9:tests/parsers/pe.py#L102-170
func TestPeerPlasoWevtDLL(t *testing.T) {
	info, err := ReadPE(testenv.PeerFile(t, "binaries/plaso/wrc-test-wevt_template.dll"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Imphash != "1913ea9cbfeed7fd2a2ef823b6656f85" || info.Kind != "dll" {
		t.Errorf("imphash %s kind %s", info.Imphash, info.Kind)
	}
	if got := info.CompileTime.Format(time.RFC3339); got != "2022-01-03T08:55:07Z" {
		t.Errorf("compile time %s", got)
	}
}

func readELFFile(t *testing.T, p string) *ELFInfo {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	info, err := ReadELF(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// eliben/pyelftools@e5fa2a4f:test/test_dynamic.py#L39-54: DT_NEEDED from
// PT_DYNAMIC of a file without section headers.
func TestPeerPyelftoolsSuperStripped(t *testing.T) {
	info := readELFFile(t, testenv.PeerData(t, "binaries/pyelftools/aarch64_super_stripped.elf"))
	if !slices.Equal(info.Needed, []string{"libc.so.6"}) {
		t.Errorf("needed %v", info.Needed)
	}
	if info.Machine != "EM_AARCH64" || info.Sections != 0 || !info.Stripped || info.Static || info.Entry != 0x400400 {
		t.Errorf("info %+v", info)
	}
}

// eliben/pyelftools@e5fa2a4f:test/test_corrupt_files.py#L12-24: opening
// must not fail although the section headers point out of the file.
func TestPeerPyelftoolsCorruptSH(t *testing.T) {
	info := readELFFile(t, testenv.PeerData(t, "binaries/pyelftools/corrupt_sh.elf"))
	if info.SectionsError == "" || info.Machine != "EM_386" || info.Class != "ELFCLASS32" || info.Entry != 0x8049000 {
		t.Errorf("info %+v", info)
	}
}

// readelf is the independent reader for ELF fields.
var (
	reClass   = regexp.MustCompile(`(?m)^\s*Class:\s+(\S+)`)
	reType    = regexp.MustCompile(`(?m)^\s*Type:\s+(\S+)`)
	reMachine = regexp.MustCompile(`(?m)^\s*Machine:\s+(.+)$`)
	reEntry   = regexp.MustCompile(`(?m)^\s*Entry point address:\s+0x([0-9a-f]+)`)
	reNeeded  = regexp.MustCompile(`\(NEEDED\)\s+Shared library: \[([^\]]+)\]`)
	reBuildID = regexp.MustCompile(`Build ID: ([0-9a-f]+)`)
	reInterp  = regexp.MustCompile(`Requesting program interpreter: ([^\]]+)\]`)
)

var readelfMachine = map[string]string{"Advanced Micro Devices X86-64": "EM_X86_64", "AArch64": "EM_AARCH64", "Intel 80386": "EM_386"}

func TestELFMatchesReadelf(t *testing.T) {
	testenv.NeedTool(t, "readelf")
	files := []string{"/bin/ls", "/sbin/ldconfig"} // Debian's ldconfig is static-pie
	if st := buildStaticGo(t); st != "" {
		files = append(files, st) // static ET_EXEC
	}
	for _, r := range []string{"aarch64_super_stripped.elf", "sample_exe64.elf"} {
		files = append(files, testenv.PeerData(t, "binaries/pyelftools/"+r))
	}
	for _, p := range files {
		if _, err := os.Stat(p); err != nil {
			t.Logf("%s absent", p)
			continue
		}
		out := string(testenv.Output(t, "readelf", "-W", "-h", "-l", "-d", "-n", p))
		info := readELFFile(t, p)
		if "ELFCLASS"+strings.TrimPrefix(reClass.FindStringSubmatch(out)[1], "ELF") != info.Class {
			t.Errorf("%s: class %s vs readelf %s", p, info.Class, reClass.FindStringSubmatch(out)[1])
		}
		if "ET_"+reType.FindStringSubmatch(out)[1] != info.Type {
			t.Errorf("%s: type %s vs readelf %s", p, info.Type, reType.FindStringSubmatch(out)[1])
		}
		if m := readelfMachine[strings.TrimSpace(reMachine.FindStringSubmatch(out)[1])]; m != info.Machine {
			t.Errorf("%s: machine %s vs readelf %q", p, info.Machine, reMachine.FindStringSubmatch(out)[1])
		}
		if e := reEntry.FindStringSubmatch(out)[1]; strings.TrimLeft(e, "0") != strings.TrimLeft(hex.EncodeToString([]byte{byte(info.Entry >> 56), byte(info.Entry >> 48), byte(info.Entry >> 40), byte(info.Entry >> 32), byte(info.Entry >> 24), byte(info.Entry >> 16), byte(info.Entry >> 8), byte(info.Entry)}), "0") {
			t.Errorf("%s: entry %#x vs readelf 0x%s", p, info.Entry, e)
		}
		var needed []string
		for _, m := range reNeeded.FindAllStringSubmatch(out, -1) {
			needed = append(needed, m[1])
		}
		if !slices.Equal(needed, info.Needed) {
			t.Errorf("%s: needed %v vs readelf %v", p, info.Needed, needed)
		}
		var bid, interp string
		if m := reBuildID.FindStringSubmatch(out); m != nil {
			bid = m[1]
		}
		if m := reInterp.FindStringSubmatch(out); m != nil {
			interp = m[1]
		}
		if bid != info.BuildID || interp != info.Interpreter {
			t.Errorf("%s: build-id %q interp %q vs readelf %q %q", p, info.BuildID, info.Interpreter, bid, interp)
		}
		if static := interp == "" && len(needed) == 0; static != info.Static {
			t.Errorf("%s: static %v", p, info.Static)
		}
		t.Logf("%s: %s %s static=%v pie=%v needed=%v", p, info.Type, info.Machine, info.Static, info.PIE, info.Needed)
	}
}

// buildStaticGo builds a tiny static (CGO_ENABLED=0) Go program, or
// returns "" when no go command is at hand.
func buildStaticGo(t *testing.T) string {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		return ""
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module static\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\nfunc main() {}\n"), 0o644)
	cmd := exec.Command(gobin, "build", "-o", "static", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("go build: %v %s", err, out)
		return ""
	}
	return filepath.Join(dir, "static")
}

func TestCapabilitiesMatchGetcap(t *testing.T) {
	// v2 with effective bit: cap_net_raw (13) + cap_net_admin (12) permitted.
	v2 := []byte{0x01, 0, 0, 0x02, 0x00, 0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	c, err := DecodeCapabilities(v2)
	if err != nil || c.Version != 2 || !c.Effective || !slices.Equal(c.Permitted, []string{"cap_net_admin", "cap_net_raw"}) || len(c.Inheritable) != 0 {
		t.Errorf("v2 = %+v, %v", c, err)
	}
	// v3: inheritable cap_bpf (39: bit 7 of the second inheritable word).
	v3 := append([]byte{0x00, 0, 0, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0}, 0xe8, 0x03, 0, 0)
	c, err = DecodeCapabilities(v3)
	if err != nil || c.Version != 3 || c.Effective || len(c.Permitted) != 0 || !slices.Equal(c.Inheritable, []string{"cap_bpf"}) || *c.RootID != 1000 {
		t.Errorf("v3 = %+v, %v", c, err)
	}
	if _, err := DecodeCapabilities(v2[:10]); err == nil {
		t.Error("short v2 accepted")
	}

	// Against setcap/getcap on a real file.
	testenv.NeedTool(t, "setcap", "getcap")
	// The kernel wants the effective set empty or equal to p|i.
	for _, spec := range []string{"cap_net_raw,cap_sys_admin=p cap_setuid,cap_bpf=i", "cap_net_raw,cap_checkpoint_restore=ep", "cap_chown=eip"} {
		p := filepath.Join(t.TempDir(), "x")
		os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755)
		testenv.Run(t, "setcap", spec, p)
		buf := make([]byte, 64)
		n, err := unix.Getxattr(p, "security.capability", buf)
		if err != nil {
			t.Skipf("getxattr: %v (filesystem without xattrs?)", err)
		}
		c, err := DecodeCapabilities(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		out := strings.TrimSpace(string(testenv.Output(t, "getcap", p)))
		// getcap prints "/x cap_a,cap_b=ep cap_c=i"; compare per capability.
		want := map[string]string{}
		for _, clause := range strings.Fields(strings.TrimPrefix(out, p)) {
			i := strings.IndexAny(clause, "=+")
			if i < 0 {
				t.Fatalf("getcap clause %q", clause)
			}
			names, fl := clause[:i], strings.NewReplacer("=", "", "+", "").Replace(clause[i:])
			for _, n := range strings.Split(names, ",") {
				want[n] += fl
			}
		}
		got := map[string]string{}
		for _, n := range c.Permitted {
			got[n] += "p"
		}
		for _, n := range c.Inheritable {
			got[n] += "i"
		}
		if c.Effective {
			for n := range got {
				got[n] += "e"
			}
		}
		norm := func(m map[string]string) map[string]string {
			for k, v := range m {
				b := []byte(v)
				slices.Sort(b)
				m[k] = string(b)
			}
			return m
		}
		want, got = norm(want), norm(got)
		if len(want) != len(got) {
			t.Errorf("getcap %q → %v, ours %v", out, want, got)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: getcap %q ours %q (getcap line %q)", k, v, got[k], out)
			}
		}
	}
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func guest(t *testing.T) fstest.MapFS {
	elfBytes := testenv.PeerFile(t, "binaries/pyelftools/sample_exe64.elf")
	peBytes := testenv.PeerFile(t, "binaries/plaso/test_pe.exe")
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := func(b []byte, mode os.FileMode) *fstest.MapFile {
		return &fstest.MapFile{Data: b, Mode: mode, ModTime: mt}
	}
	ls := append([]byte{}, elfBytes...)
	return fstest.MapFS{
		"usr/bin/ls":                       f(ls, 0o755),
		"usr/bin/trojaned":                 f(elfBytes, 0o755),
		"usr/bin/passwd":                   f(elfBytes, 0o755|os.ModeSetuid),
		"usr/bin/helper":                   f([]byte("#!/bin/sh -e\nexit 0\n"), 0o755),
		"usr/local/bin/extra":              f([]byte("#!/usr/bin/env python3\n"), 0o777),
		"usr/share/doc/README":             f([]byte("not a binary"), 0o644),
		"usr/lib/x/plugin.so":              f(elfBytes, 0o644), // ELF by magic, no exec bit
		"tmp/.x/payload":                   f(elfBytes, 0o755),
		"home/bob/tool.exe":                f(peBytes, 0o644),
		"etc/passwd":                       f([]byte("root:x:0:0::/root:/bin/sh\n"), 0o644),
		"var/lib/dpkg/info/coreutils.list": f([]byte("/.\n/bin\n/bin/ls\n/usr/bin/trojaned\n/usr/bin/passwd\n/usr/bin/helper\n"), 0o644),
		"var/lib/dpkg/info/coreutils.md5sums": f([]byte(md5hex(elfBytes)+"  bin/ls\n"+
			md5hex([]byte("something else"))+"  usr/bin/trojaned\n"+
			md5hex(elfBytes)+"  usr/bin/passwd\n"), 0o644),
		"var/lib/dpkg/info/coreutils.postinst":     f([]byte("#!/bin/sh\n"), 0o755),
		"etc/cron.daily/logrotate":                 f([]byte("#!/bin/sh\nwget x\n"), 0o755),
		"etc/init.d/ssh":                           f([]byte("#!/bin/sh\n"), 0o755),
		"usr/bin/pg_config":                        f([]byte("#!/bin/sh\n# postgresql-common's wrapper\n"), 0o755),
		"usr/bin/pg_config.libpq-dev":              f(elfBytes, 0o755),
		"var/lib/dpkg/info/libpq-dev.list":         f([]byte("/usr/bin/pg_config\n"), 0o644),
		"var/lib/dpkg/info/libpq-dev.md5sums":      f([]byte(md5hex(elfBytes)+"  usr/bin/pg_config\n"), 0o644),
		"var/lib/dpkg/info/postgresql-common.list": f([]byte("/usr/bin/pg_config\n"), 0o644),
		"var/lib/dpkg/diversions":                  f([]byte("/usr/bin/pg_config\n/usr/bin/pg_config.libpq-dev\npostgresql-common\n"), 0o644),
		"usr/lib/debug/.build-id/ab/cdef.debug":    f(elfBytes, 0o644),
		"var/lib/dpkg/status": f([]byte("Package: logrotate\nStatus: install ok installed\nConffiles:\n /etc/cron.daily/logrotate "+md5hex([]byte("#!/bin/sh\n"))+"\n /etc/logrotate.conf 0123456789abcdef0123456789abcdef\nDescription: x\n\n"+
			"Package: openssh-server\nConffiles:\n /etc/init.d/ssh "+md5hex([]byte("#!/bin/sh\n"))+"\n /etc/old newconffile\n"), 0o644),
	}
}

func extract(t *testing.T, fsys fstest.MapFS, opts Options) (*Report, []Binary, []timeline.Event) {
	t.Helper()
	env := &artifacts.Env{FS: fsys, Zone: time.UTC}
	var c timeline.Collect
	env.Events = &c
	var all []Binary
	opts.Each = func(b Binary) { all = append(all, b) }
	rep, err := Extract(context.Background(), env, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range env.Warnings() {
		t.Logf("warning: %s", w)
	}
	return rep, all, c.Events
}

func TestExtractMapFS(t *testing.T) {
	rep, all, evs := extract(t, guest(t), DefaultOptions())
	if rep.Total != 14 || int(rep.Total) != len(all) || rep.Hashed != 14 || rep.Files != 23 || rep.PackageDB != "dpkg" {
		t.Errorf("total %d (each %d) hashed %d files %d db %q", rep.Total, len(all), rep.Hashed, rep.Files, rep.PackageDB)
	}
	flags := map[string][]string{}
	byPath := map[string]Binary{}
	for _, b := range rep.Flagged {
		flags[b.Path] = b.Flags
		byPath[b.Path] = b
	}
	want := map[string][]string{
		"/usr/bin/trojaned":                      {FlagPackageMismatch},
		"/usr/bin/passwd":                        {FlagSUID},
		"/usr/local/bin/extra":                   {FlagWorldWritable, FlagNotPackaged},
		"/usr/lib/x/plugin.so":                   {FlagNotPackaged},
		"/tmp/.x/payload":                        {FlagTempDir, FlagHiddenPath},
		"/home/bob/tool.exe":                     {FlagHomeDir},
		"/var/lib/dpkg/info/coreutils.postinst":  nil,
		"/etc/cron.daily/logrotate":              {FlagConffileModified},
		"/etc/init.d/ssh":                        nil,
		"/usr/bin/pg_config":                     nil, // diverted: no md5 check
		"/usr/bin/pg_config.libpq-dev":           nil, // owned through the diversion
		"/usr/lib/debug/.build-id/ab/cdef.debug": {FlagNotPackaged},
	}
	for p, w := range want {
		if !slices.Equal(flags[p], w) {
			t.Errorf("%s flags %v, want %v", p, flags[p], w)
		}
	}
	if len(rep.Flagged) != 8 {
		t.Errorf("%d flagged: %v", len(rep.Flagged), flags)
	}
	// /usr/bin/ls matched dpkg's /bin/ls through the /usr-merge alias.
	for _, b := range all {
		switch b.Path {
		case "/usr/bin/ls":
			if b.Package != "coreutils" || b.PackageMD5 != b.MD5 || len(b.Flags) != 0 {
				t.Errorf("ls %+v", b)
			}
		case "/usr/bin/helper":
			if b.Format != "script" || b.Shebang != "/bin/sh -e" {
				t.Errorf("helper %+v", b)
			}
		}
	}
	pe := byPath["/home/bob/tool.exe"]
	if pe.PE == nil || pe.PE.Imphash != "8d0739063fc8f9955cc6696b462544ab" || pe.Format != "pe" ||
		pe.SHA256 != "e2fef8c075ae07cf0370165accadfd8765db3797f0c523742c914f397e191d09" { // MANIFEST.md's SHA-256 of test_pe.exe
		t.Errorf("pe %+v", pe)
	}
	if e := byPath["/tmp/.x/payload"].ELF; e == nil || e.Machine != "EM_X86_64" || !slices.Equal(e.Needed, []string{"libc.so.6"}) ||
		byPath["/tmp/.x/payload"].SHA256 != "ed962e720936a34f50c4a1ecbcd57c1eaea59917c99bd01abb2c2ece0369d3d1" { // MANIFEST.md
		t.Errorf("payload %+v", byPath["/tmp/.x/payload"])
	}
	if sp := byPath["/usr/bin/passwd"]; sp.Perm != "4755" || sp.Mode != "-rwsr-xr-x" {
		t.Errorf("passwd perm %s mode %s", sp.Perm, sp.Mode)
	}
	n := 0
	for _, e := range evs {
		if e.Source == Source && e.TimestampDesc == DescPECompile && e.Time.Format(time.RFC3339) == "2015-04-21T14:53:56Z" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d PE compile events", n)
	}
}

func TestHashLimit(t *testing.T) {
	fsys := fstest.MapFS{"bin/big": {Data: bytes.Repeat([]byte{0x7f, 'E', 'L', 'F'}, 1000), Mode: 0o755}}
	opts := DefaultOptions()
	opts.MaxHashSize = 100
	rep, all, _ := extract(t, fsys, opts)
	if rep.Hashed != 0 || len(all) != 1 || all[0].SHA256 != "" || !slices.Contains(all[0].Flags, FlagNotHashedTooLarge) {
		t.Errorf("rep %+v all %+v", rep, all)
	}
}

func TestWorkersAgree(t *testing.T) {
	g := guest(t)
	o1 := DefaultOptions()
	o1.Workers = 1
	o8 := DefaultOptions()
	o8.Workers = 8
	_, a, _ := extract(t, g, o1)
	_, b, _ := extract(t, g, o8)
	sum := func(bs []Binary) []string {
		var s []string
		for _, x := range bs {
			s = append(s, x.Path+" "+x.SHA256+" "+x.MD5)
		}
		slices.Sort(s)
		return s
	}
	if !slices.Equal(sum(a), sum(b)) {
		t.Errorf("1 worker %v\n8 workers %v", sum(a), sum(b))
	}
}

func FuzzReadELF(f *testing.F) {
	testenv.SeedPeer(f, "binaries/pyelftools/aarch64_super_stripped.elf", "binaries/pyelftools/corrupt_sh.elf", "binaries/pyelftools/sample_exe64.elf")
	f.Fuzz(func(t *testing.T, data []byte) {
		ReadELF(bytes.NewReader(data), int64(len(data)))
	})
}

func FuzzCapabilities(f *testing.F) {
	f.Add([]byte{0x01, 0, 0, 0x02, 0x00, 0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x00, 0, 0, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xe8, 3, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) { DecodeCapabilities(data) })
}

func TestMaxFlaggedAndMZText(t *testing.T) {
	fsys := fstest.MapFS{
		"tmp/a":      {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
		"tmp/b":      {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
		"tmp/c":      {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
		"tmp/mz.txt": {Data: append([]byte("MZ is a text file"), make([]byte, 100)...), Mode: 0o644},
	}
	opts := DefaultOptions()
	opts.MaxFlagged = 2
	rep, all, _ := extract(t, fsys, opts)
	if rep.Total != 3 || rep.FlaggedTotal != 3 || len(rep.Flagged) != 2 || len(all) != 3 {
		t.Errorf("total %d flagged %d kept %d each %d", rep.Total, rep.FlaggedTotal, len(rep.Flagged), len(all))
	}
}

// BenchmarkWalk measures the cost per file of a walk where nothing is
// flagged: allocations must not depend on how many files were walked
// before (the report keeps nothing for them).
func BenchmarkWalk(b *testing.B) {
	fsys := fstest.MapFS{}
	for i := 0; i < 2000; i++ {
		fsys["usr/bin/f"+strconv.Itoa(i)] = &fstest.MapFile{Data: []byte("#!/bin/sh\nexit 0\n"), Mode: 0o755}
		fsys["usr/share/d"+strconv.Itoa(i)] = &fstest.MapFile{Data: []byte("data"), Mode: 0o644}
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		rep, err := Extract(context.Background(), &artifacts.Env{FS: fsys, Zone: time.UTC}, DefaultOptions())
		if err != nil || rep.Total != 2000 || len(rep.Flagged) != 0 {
			b.Fatalf("%+v %v", rep, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/4000, "ns/file")
}

func FuzzReadPE(f *testing.F) {
	testenv.SeedPeer(f, "binaries/plaso/test_pe.exe", "binaries/plaso/wrc-test-wevt_template.dll")
	f.Fuzz(func(t *testing.T, data []byte) {
		ReadPE(data)
	})
}
