package timeline

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func sampleFiles() []File {
	return []File{
		{Path: "/etc/passwd", Inode: "131", RawMode: 0o100644, Size: 1520, UID: 0, GID: 0,
			Mtime: ts("2026-09-12T02:15:30.123456789Z"), Atime: ts("2026-09-12T03:00:00Z"),
			Ctime: ts("2026-09-12T02:15:30.123456789Z"), Btime: ts("2026-01-01T00:00:00Z")},
		{Path: "/tmp/.x/sh", Inode: "77", RawMode: 0o104755, Size: 125688, Mtime: ts("2026-09-12T02:20:00Z"),
			Atime: ts("2026-09-12T02:20:00Z"), Ctime: ts("2026-09-12T02:20:00Z"), Btime: ts("2026-09-12T02:20:00Z")},
		{Path: "/bin/sh", Inode: "12", RawMode: 0o120777, Size: 4, Target: "dash",
			Mtime: ts("2025-01-01T00:00:00Z"), Atime: ts("2025-01-02T00:00:00Z"), Ctime: ts("2025-01-03T00:00:00Z")},
		{Path: "/var/log/gone", Inode: "99", RawMode: 0o100600, Deleted: true, Size: 10,
			Mtime: ts("2026-09-13T00:00:00Z"), Atime: ts("2026-09-13T00:00:00Z"), Ctime: ts("2026-09-14T00:00:00Z")},
	}
}

func TestMACBLetters(t *testing.T) {
	var got []string
	for _, f := range sampleFiles() {
		f.Events(func(e Event) error {
			got = append(got, e.Time.Format(time.RFC3339)+" "+e.Attrs["macb"]+" "+e.Message)
			return nil
		})
	}
	want := []string{
		"2026-09-12T02:15:30Z m.c. /etc/passwd",
		"2026-09-12T03:00:00Z .a.. /etc/passwd",
		"2026-01-01T00:00:00Z ...b /etc/passwd",
		"2026-09-12T02:20:00Z macb /tmp/.x/sh",
		"2025-01-01T00:00:00Z m... /bin/sh -> dash",
		"2025-01-02T00:00:00Z .a.. /bin/sh -> dash",
		"2025-01-03T00:00:00Z ..c. /bin/sh -> dash",
		"2026-09-13T00:00:00Z ma.. /var/log/gone (deleted)",
		"2026-09-14T00:00:00Z ..c. /var/log/gone (deleted)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[uint32]string{
		0o100644: "r/rrw-r--r--", 0o040755: "d/drwxr-xr-x", 0o120777: "l/lrwxrwxrwx",
		0o104755: "r/rrwsr-xr-x", 0o102644: "r/rrw-r-Sr--", 0o041777: "d/drwxrwxrwt",
		0o020620: "c/crw--w----", 0o010644: "p/prw-r--r--",
	} {
		if got := ModeString(m); got != want {
			t.Errorf("ModeString(%o) = %q, want %q", m, got, want)
		}
	}
}

// TestBodyfileMactime reads our bodyfile lines with TSK's mactime and
// checks that the rows it prints are exactly our MACB events (same times,
// same letters), so the two views of a file agree.
func TestBodyfileMactime(t *testing.T) {
	testenv.NeedTool(t, "mactime")
	var body bytes.Buffer
	w, _ := NewWriter(&body, "bodyfile")
	var want []string
	for _, f := range sampleFiles() {
		w.(FileWriter).WriteFile(&f)
		f.Events(func(e Event) error {
			want = append(want, fmt.Sprintf("%s,%s,%s", e.Time.UTC().Format("2006-01-02T15:04:05Z"), e.Attrs["macb"], e.Message))
			return nil
		})
	}
	w.Close()
	cmd := exec.Command("mactime", "-b", "-", "-d", "-y", "-z", "UTC")
	cmd.Stdin = bytes.NewReader(body.Bytes())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mactime: %v", err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n")[1:] {
		c := strings.Split(line, ",")
		if strings.HasPrefix(c[0], "0000-") { // a time the filesystem does not have
			continue
		}
		got = append(got, c[0]+","+c[2]+","+strings.Trim(strings.Join(c[7:], ","), `"`))
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mactime rows:\n%s\nour events:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSorterSpillsAndMerges(t *testing.T) {
	s := &Sorter{Dir: t.TempDir(), RunSize: 1000}
	base := ts("2026-01-01T00:00:00Z")
	const n = 10_537
	for i := 0; i < n; i++ {
		// a permutation of times with many ties
		sec := (i * 7919) % 3001
		if err := s.Add(Event{Time: base.Add(time.Duration(sec) * time.Second), Message: fmt.Sprint(i), Source: "t",
			Attrs: map[string]string{"i": fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Spilled() < 10 {
		t.Fatalf("expected spills, got %d", s.Spilled())
	}
	var prev Event
	count := 0
	lastIdx := map[int64]int{}
	err := s.Each(func(e Event) error {
		if count > 0 && e.Time.Before(prev.Time) {
			return fmt.Errorf("out of order at %d: %v after %v", count, e.Time, prev.Time)
		}
		var i int
		fmt.Sscan(e.Message, &i)
		if e.Attrs["i"] != e.Message {
			return fmt.Errorf("attrs lost: %v", e.Attrs)
		}
		// ties keep insertion order
		if j, ok := lastIdx[e.Time.Unix()]; ok && j > i {
			return fmt.Errorf("tie order broken at %v: %d after %d", e.Time, i, j)
		}
		lastIdx[e.Time.Unix()] = i
		prev = e
		count++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("got %d events, want %d", count, n)
	}
}

func TestCSVNeutralisesFormulas(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, "csv")
	w.Write(&Event{Time: ts("2026-01-01T00:00:00Z"), Message: "=HYPERLINK(\"http://x\")", User: "+cmd", IP: "-1", Path: "@SUM(A1)",
		Source: "auth", Attrs: map[string]string{"k": "a,b\"c\nd"}})
	w.Close()
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("want header + 1 row, got %d", len(recs))
	}
	row := map[string]string{}
	for i, h := range recs[0] {
		row[h] = recs[1][i]
	}
	for k, want := range map[string]string{"message": "'=HYPERLINK(\"http://x\")", "user": "'+cmd", "ip": "'-1", "path": "'@SUM(A1)",
		"attrs": `{"k":"a,b\"c\nd"}`, "datetime": "2026-01-01T00:00:00.000000000Z"} {
		if row[k] != want {
			t.Errorf("%s = %q, want %q", k, row[k], want)
		}
	}
}

// TestJSONLTimesketch checks the fields Timesketch's JSONL importer
// requires (message, datetime, timestamp_desc; optional timestamp in µs)
// and that attributes are flat top-level strings.
func TestJSONLTimesketch(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, "jsonl")
	e := Event{Time: ts("2026-09-12T02:15:30.123456789Z"), TimestampDesc: "SSH login accepted", Message: "Accepted password for root",
		Source: "auth", User: "root", IP: "203.0.113.7", Evidence: Evidence{Path: "/var/log/auth.log", Line: 42, Inode: 1234},
		Attrs: map[string]string{"port": "52144", "message": "shadow attempt"}}
	w.Write(&e)
	w.Close()
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"message": "Accepted password for root", "datetime": "2026-09-12T02:15:30.123456789Z",
		"timestamp": float64(1789179330123456), "timestamp_desc": "SSH login accepted",
		"port": "52144", "evidence_path": "/var/log/auth.log", "evidence_line": float64(42), "evidence_inode": float64(1234),
	} {
		if m[k] != want {
			t.Errorf("%s = %v (%T), want %v", k, m[k], m[k], want)
		}
	}
	if !regexp.MustCompile(`^\{"message":`).Match(buf.Bytes()) {
		t.Errorf("line does not start with message: %s", buf.String())
	}
	var back Event
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &back); err != nil {
		t.Fatal(err)
	}
	if !back.Time.Equal(e.Time) || back.Attrs["port"] != "52144" || back.Evidence.Line != 42 {
		t.Errorf("round trip lost data: %+v", back)
	}
}

func TestFilter(t *testing.T) {
	from, _ := ParseBound("2026-09-12", false)
	to, _ := ParseBound("2026-09-12", true)
	f := Filter{From: from, To: to, Sources: []string{"auth"}, Grep: regexp.MustCompile(`203\.0\.113\.`)}
	in := Event{Time: ts("2026-09-12T23:59:59Z"), Source: "auth", IP: "203.0.113.7"}
	if !f.Match(&in) {
		t.Error("event inside the day rejected")
	}
	for _, e := range []Event{
		{Time: ts("2026-09-13T00:00:00Z"), Source: "auth", IP: "203.0.113.7"},
		{Time: ts("2026-09-12T10:00:00Z"), Source: "fs", IP: "203.0.113.7"},
		{Time: ts("2026-09-12T10:00:00Z"), Source: "auth", IP: "198.51.100.1"},
	} {
		if f.Match(&e) {
			t.Errorf("event %+v should not match", e)
		}
	}
	if _, err := ParseBound("yesterday", false); err == nil {
		t.Error("bad bound accepted")
	}
}
