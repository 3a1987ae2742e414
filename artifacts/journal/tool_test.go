package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

const journalRemote = "/lib/systemd/systemd-journal-remote"

// writeExport writes n entries in journal export format: text fields, a
// binary field (length-prefixed), a large compressible message, non-ASCII
// text, a value holding '=' and a repeated field name.
func writeExport(t testing.TB, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	boots := []string{"0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"}
	for i := range n {
		boot := boots[i*2/n]
		fmt.Fprintf(w, "__REALTIME_TIMESTAMP=%d\n", 1780000000000000+int64(i)*1234567)
		fmt.Fprintf(w, "__MONOTONIC_TIMESTAMP=%d\n", 5000000+int64(i)*1000)
		fmt.Fprintf(w, "_BOOT_ID=%s\n", boot)
		fmt.Fprintf(w, "_HOSTNAME=host-%d\n", i%3)
		fmt.Fprintf(w, "_PID=%d\n", 100+i%50)
		fmt.Fprintf(w, "_UID=%d\n", (i%2)*1000)
		fmt.Fprintf(w, "_COMM=sshd\n_EXE=/usr/sbin/sshd\nSYSLOG_IDENTIFIER=sshd\n_TRANSPORT=syslog\nPRIORITY=6\n")
		fmt.Fprintf(w, "_SYSTEMD_UNIT=ssh.service\n")
		switch {
		case i%97 == 5 && i < 2000:
			// A message large enough to be compressed (only early on, so
			// that large benchmark journals stay reasonable).
			fmt.Fprintf(w, "MESSAGE=big %d %s\n", i, strings.Repeat("0123456789abcdef", 8192))
		case i%31 == 7:
			v := []byte(fmt.Sprintf("bin\x00ary\n%d\xff\xfe", i))
			w.WriteString("MESSAGE\n")
			binary.Write(w, binary.LittleEndian, uint64(len(v)))
			w.Write(v)
			w.WriteString("\n")
		default:
			fmt.Fprintf(w, "MESSAGE=Accepted publickey for user%d from 203.0.113.%d port %d ssh2: é ✓ a=b\n", i%7, i%250, 40000+i)
		}
		if i%10 == 0 {
			fmt.Fprintf(w, "TAG=one\nTAG=two\n")
		}
		w.WriteString("\n")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// buildJournal runs systemd-journal-remote on an export file with extra
// environment and flags.
func buildJournal(t testing.TB, export, out string, env []string, flags ...string) {
	t.Helper()
	args := append([]string{"-o", out}, flags...)
	cmd := exec.Command(journalRemote, append(args, export)...)
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v\n%s", err, b)
	}
}

func needJournalTools(t testing.TB) {
	t.Helper()
	testenv.NeedTool(t, "journalctl")
	if _, err := os.Stat(journalRemote); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing in CI", journalRemote)
		}
		t.Skipf("%s not installed (package systemd-journal-remote)", journalRemote)
	}
}

var (
	cursorSeq  = regexp.MustCompile(`;i=([0-9a-f]+);`)
	cursorBoot = regexp.MustCompile(`;b=([0-9a-f]{32});`)
)

// journalctlEntries runs journalctl -o json --all and returns every entry
// as a sorted list of "NAME=value" strings, with the entry's realtime,
// monotonic, boot id and seqnum (the last two from the cursor) first.
func journalctlEntries(t testing.TB, file string) [][]string {
	t.Helper()
	out := testenv.Output(t, "journalctl", "--file", file, "-o", "json", "--all", "--no-pager")
	var res [][]string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		var fields []string
		var head []string
		for k, raw := range m {
			vals := decodeJSONValue(t, raw)
			switch k {
			case "__CURSOR":
				s := cursorSeq.FindStringSubmatch(vals[0])
				seq, _ := strconv.ParseUint(s[1], 16, 64)
				head = append(head, fmt.Sprintf("~seq=%d", seq), "~boot="+cursorBoot.FindStringSubmatch(vals[0])[1])
				continue
			case "__REALTIME_TIMESTAMP", "__MONOTONIC_TIMESTAMP":
				head = append(head, "~"+k+"="+vals[0])
				continue
			case "__SEQNUM", "__SEQNUM_ID":
				continue
			}
			for _, v := range vals {
				fields = append(fields, k+"="+v)
			}
		}
		sort.Strings(head)
		sort.Strings(fields)
		res = append(res, append(head, fields...))
	}
	return res
}

// decodeJSONValue decodes journalctl's JSON for one field: a string, an
// array of byte values (binary), or an array of those (repeated field).
func decodeJSONValue(t testing.TB, raw json.RawMessage) []string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}
	}
	var bs []byte
	var nums []int
	if json.Unmarshal(raw, &nums) == nil {
		for _, n := range nums {
			bs = append(bs, byte(n))
		}
		return []string{string(bs)}
	}
	var multi []json.RawMessage
	if err := json.Unmarshal(raw, &multi); err != nil {
		t.Fatalf("json value %s: %v", raw, err)
	}
	var out []string
	for _, m := range multi {
		out = append(out, decodeJSONValue(t, m)...)
	}
	return out
}

// ourEntries reads a journal with our reader in the same form.
func ourEntries(t testing.TB, file string) ([][]string, error) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	j, err := Open(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.Warn = func(off int64, msg string) { t.Errorf("warning at %#x: %s", off, msg) }
	var res [][]string
	it := j.Entries()
	for it.Next() {
		e := it.Entry()
		head := []string{
			fmt.Sprintf("~seq=%d", e.Seqnum),
			fmt.Sprintf("~__MONOTONIC_TIMESTAMP=%d", e.Monotonic),
			fmt.Sprintf("~__REALTIME_TIMESTAMP=%d", e.Realtime),
			"~boot=" + e.BootIDString(),
		}
		sort.Strings(head)
		var fields []string
		for _, fl := range e.Fields {
			fields = append(fields, fl.Name+"="+string(fl.Value))
		}
		sort.Strings(fields)
		res = append(res, append(head, fields...))
	}
	return res, it.Err()
}

func compareEntries(t *testing.T, ours, theirs [][]string) {
	t.Helper()
	if len(ours) != len(theirs) {
		t.Errorf("%d entries, journalctl %d", len(ours), len(theirs))
	}
	bad := 0
	for i := range min(len(ours), len(theirs)) {
		if strings.Join(ours[i], "\x00") != strings.Join(theirs[i], "\x00") {
			if bad++; bad <= 3 {
				t.Errorf("entry %d differs:\nours     %.600q\njournalctl %.600q", i, ours[i], theirs[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d entries differ", bad)
	}
}

// TestAgainstJournalctl builds journals in the formats this host's
// systemd writes (compact + keyed hash + zstd, regular + zstd, regular
// uncompressed) and compares every entry field by field with journalctl.
func TestAgainstJournalctl(t *testing.T) {
	needJournalTools(t)
	dir := t.TempDir()
	export := filepath.Join(dir, "export.txt")
	n := 1500
	if testing.Short() {
		n = 200
	}
	writeExport(t, export, n)
	variants := []struct {
		name  string
		env   []string
		flags []string
		want  []string // header flags
	}{
		{"compact-zstd", []string{"SYSTEMD_JOURNAL_COMPACT=1", "SYSTEMD_JOURNAL_KEYED_HASH=1"}, nil, []string{"KEYED-HASH", "COMPRESSED-ZSTD", "COMPACT"}},
		{"regular-zstd", []string{"SYSTEMD_JOURNAL_COMPACT=0", "SYSTEMD_JOURNAL_KEYED_HASH=0"}, nil, []string{"COMPRESSED-ZSTD"}},
		{"regular-plain", []string{"SYSTEMD_JOURNAL_COMPACT=0", "SYSTEMD_JOURNAL_KEYED_HASH=0"}, []string{"--compress=no"}, nil},
		{"compact-plain", []string{"SYSTEMD_JOURNAL_COMPACT=1"}, []string{"--compress=no"}, []string{"KEYED-HASH", "COMPACT"}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			out := filepath.Join(dir, v.name+".journal")
			buildJournal(t, export, out, v.env, v.flags...)
			f, _ := os.Open(out)
			fi, _ := f.Stat()
			j, err := Open(f, fi.Size())
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if got := strings.Join(j.Header.FlagNames(), " "); got != strings.Join(v.want, " ") {
				t.Errorf("flags %q, want %q", got, strings.Join(v.want, " "))
			}
			theirs := journalctlEntries(t, out)
			if len(theirs) != n {
				t.Fatalf("journalctl shows %d entries, want %d", len(theirs), n)
			}
			ours, err := ourEntries(t, out)
			if err != nil {
				t.Errorf("damage in an intact file: %v", err)
			}
			compareEntries(t, ours, theirs)
		})
	}
}

// TestTruncatedGenerated cuts a generated journal in the middle of its
// entries: the entries before the cut are exactly journalctl's first ones
// from the intact file, and the cut is reported.
func TestTruncatedGenerated(t *testing.T) {
	needJournalTools(t)
	dir := t.TempDir()
	export := filepath.Join(dir, "export.txt")
	writeExport(t, export, 400)
	full := filepath.Join(dir, "full.journal")
	buildJournal(t, export, full, []string{"SYSTEMD_JOURNAL_COMPACT=0"})
	theirs := journalctlEntries(t, full)
	b, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	j, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	// Cut at the middle entry's object.
	var offs []int64
	it := j.Entries()
	for it.Next() {
		offs = append(offs, it.Entry().Offset)
	}
	cut := offs[len(offs)/2] + 20
	short := filepath.Join(dir, "short.journal")
	if err := os.WriteFile(short, b[:cut], 0o644); err != nil {
		t.Fatal(err)
	}
	ours, damage := ourEntries(t, short)
	if damage == nil {
		t.Error("no damage reported for a cut file")
	}
	if len(ours) == 0 || len(ours) >= len(theirs) {
		t.Fatalf("%d entries recovered of %d", len(ours), len(theirs))
	}
	compareEntries(t, ours, theirs[:len(ours)])
	if len(ours) != len(offs)/2 {
		t.Errorf("%d entries recovered, want the %d before the cut", len(ours), len(offs)/2)
	}
}
