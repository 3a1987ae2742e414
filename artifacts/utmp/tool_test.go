package utmp

import (
	"bufio"
	"bytes"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// buildWtmp converts testdata/artifacts/utmp/wtmp.txt (utmpdump's text
// form) into a binary wtmp with `utmpdump -r`.
func buildWtmp(t *testing.T) string { return buildWtmpTB(t) }

func buildWtmpTB(t testing.TB) string {
	t.Helper()
	testenv.NeedTool(t, "utmpdump")
	src := filepath.Join(testenv.RepoRoot(t), "testdata", "artifacts", "utmp", "wtmp.txt")
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out := filepath.Join(t.TempDir(), "wtmp")
	of, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	p, _ := testenv.LookPath("utmpdump")
	cmd := exec.Command(p, "-r")
	cmd.Stdin, cmd.Stdout = in, of
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("utmpdump -r: %v\n%s", err, stderr.Bytes())
	}
	return out
}

func readFileRecords(t *testing.T, path string) []*Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	r, err := NewReader(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	var recs []*Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

var dumpLine = regexp.MustCompile(`^\[(\d+)\] \[(\d+)\] \[(.{4})\] \[(.*?) *\] \[(.*?) *\] \[(.*?) *\] \[(.*?) *\] \[(.*)\]$`)

// TestAgainstUtmpdump reads a wtmp built by `utmpdump -r` and compares
// every field with what `utmpdump FILE` prints of it.
func TestAgainstUtmpdump(t *testing.T) {
	path := buildWtmp(t)
	recs := readFileRecords(t, path)
	dump := testenv.Output(t, "utmpdump", path)
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(dump))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "[") {
			lines = append(lines, sc.Text())
		}
	}
	if len(lines) != len(recs) || len(recs) != 10 {
		t.Fatalf("utmpdump shows %d records, we read %d (want 10)", len(lines), len(recs))
	}
	for i, l := range lines {
		m := dumpLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("unparsed utmpdump line %q", l)
		}
		r := recs[i]
		typ, _ := strconv.Atoi(m[1])
		pid, _ := strconv.Atoi(m[2])
		// utmpdump prints ut_id padded to four columns (and -r stores the padding).
		if int(r.Type) != typ || int(r.PID) != pid || strings.TrimRight(r.ID, " ") != strings.TrimRight(m[3], " ") ||
			r.User != m[4] || r.Line != m[5] || r.Host != m[6] {
			t.Errorf("record %d: %+v\nutmpdump: %s", i, r, l)
		}
		// The address: utmpdump shows IPv4 whenever the last 12 bytes are
		// zero; compare the stored bytes, not the rendering.
		a, err := netip.ParseAddr(m[7])
		if err != nil {
			t.Fatalf("record %d: address %q: %v", i, m[7], err)
		}
		var raw [16]byte
		if a.Is4() {
			v4 := a.As4()
			copy(raw[:], v4[:])
		} else {
			raw = a.As16()
		}
		if raw != r.Addr {
			t.Errorf("record %d: address bytes %x, utmpdump %s", i, r.Addr, m[7])
		}
		tm, err := time.Parse("2006-01-02T15:04:05,000000Z07:00", m[8])
		if err != nil {
			t.Fatal(err)
		}
		if !tm.Equal(r.Time) {
			t.Errorf("record %d: time %v, utmpdump %v", i, r.Time, tm)
		}
	}
	// Where util-linux renders 1337:1:: as 19.55.0.1, ut_host decides.
	if got := recs[6].IP().String(); got != "1337:1::" {
		t.Errorf("mallory's address %s, want 1337:1:: (as ut_host says)", got)
	}
	if got := recs[4].IP().String(); got != "2001:db8::42" {
		t.Errorf("bob's address %s", got)
	}
}

var lastLine = regexp.MustCompile(`^(\S+)\s+(.+?)\s+(\S+)\s+(\S+) - (\S+)`)

// TestAgainstLast compares our events with the sessions `last -x` pairs
// from the same wtmp: every login, its logout, the boot and the shutdown.
func TestAgainstLast(t *testing.T) {
	testenv.NeedTool(t, "last")
	path := buildWtmp(t)
	recs := readFileRecords(t, path)
	type key struct{ desc, user, tty, when string }
	have := map[key]string{} // → IP
	for _, r := range recs {
		ev, ok := RecordEvent(r, "wtmp")
		if !ok {
			continue
		}
		have[key{ev.TimestampDesc, ev.User, ev.Attrs["tty"], ev.Time.Truncate(time.Second).Format(time.RFC3339)}] = ev.IP
	}
	out := testenv.Output(t, "last", "-f", path, "--time-format", "iso", "-w", "-i", "-x")
	sessions := 0
	for _, l := range strings.Split(string(out), "\n") {
		m := lastLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		user, tty, ip, in, outT := m[1], m[2], m[3], m[4], m[5]
		norm := func(s string) string {
			tm, err := time.Parse(time.RFC3339, s)
			if err != nil {
				t.Fatalf("last time %q: %v", s, err)
			}
			return tm.UTC().Format(time.RFC3339)
		}
		switch {
		case user == "reboot":
			if _, ok := have[key{"Boot", "reboot", "~", norm(in)}]; !ok {
				t.Errorf("no Boot event for %q", l)
			}
		case user == "shutdown":
			if _, ok := have[key{"Shutdown", "shutdown", "~~", norm(in)}]; !ok {
				t.Errorf("no Shutdown event for %q", l)
			}
		case user == "runlevel":
			if _, ok := have[key{"Run level", "runlevel", "~", norm(in)}]; !ok {
				t.Errorf("no Run level event for %q", l)
			}
		default:
			sessions++
			gotIP, ok := have[key{"Login", user, tty, norm(in)}]
			if !ok {
				t.Errorf("no Login event for %q", l)
				continue
			}
			// last shows 1337:1:: as 19.55.0.1 (see TestAgainstUtmpdump).
			if gotIP != ip && !(ip == "19.55.0.1" && gotIP == "1337:1::") {
				t.Errorf("login %q: ip %s", l, gotIP)
			}
			if _, ok := have[key{"Logout", "", tty, norm(outT)}]; !ok {
				t.Errorf("no Logout event for %q", l)
			}
		}
	}
	if sessions != 3 {
		t.Errorf("last shows %d sessions, want 3:\n%s", sessions, out)
	}
}
