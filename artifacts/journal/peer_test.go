package journal

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// peerJournal returns one member of Velociraptor's system.journal.zip.
func peerJournal(t testing.TB, name string) []byte {
	t.Helper()
	zr, err := zip.OpenReader(testenv.PeerData(t, "artifacts/velociraptor/system.journal.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name != name {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Fatalf("%s not in system.journal.zip", name)
	return nil
}

// entries reads all entries of a journal, copying them, and returns the
// damage error and the warnings.
func entries(t testing.TB, b []byte) ([]Entry, error, []string) {
	t.Helper()
	j, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var warns []string
	j.Warn = func(off int64, msg string) { warns = append(warns, msg) }
	var out []Entry
	it := j.Entries()
	for it.Next() {
		e := *it.Entry()
		e.Fields = append([]Field(nil), e.Fields...)
		out = append(out, e)
	}
	return out, it.Err(), warns
}

func us(s string) uint64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return uint64(t.UnixMicro())
}

func want(t *testing.T, e *Entry, field, value string) {
	t.Helper()
	if got, ok := e.Get(field); !ok || got != value {
		t.Errorf("entry seq %d: %s = %q (present %v), want %q", e.Seqnum, field, got, ok, value)
	}
}

func TestPeerTruncatedSystemJournal(t *testing.T) {
	// Velocidex/velociraptor@cd02ac66:artifacts/testdata/server/testcases/linux_systemd.out.yaml#L4-44
	// (and #L504-543 with LIMIT 2): exactly one entry recoverable, seq 19161.
	b := peerJournal(t, "system.journal")
	es, damage, _ := entries(t, b)
	if len(es) != 1 {
		t.Fatalf("%d entries, want 1", len(es))
	}
	if damage == nil || !errors.Is(damage, ErrBeyondEOF) {
		t.Errorf("damage %v, want a beyond-end-of-file error", damage)
	}
	e := &es[0]
	if e.Seqnum != 19161 || e.Realtime != us("2023-05-09T01:31:12.435195Z") ||
		e.BootIDString() != "25557887eed141e0ad99932789c02184" {
		t.Errorf("entry %d at %v boot %s", e.Seqnum, e.Time(), e.BootIDString())
	}
	want(t, e, "_HOSTNAME", "devbox")
	want(t, e, "_BOOT_ID", "25557887eed141e0ad99932789c02184")
	want(t, e, "_MACHINE_ID", "4e7cbddbe9494fb9876af4e3e85c9eb4")
	want(t, e, "_PID", "1")
	want(t, e, "_COMM", "systemd")
	want(t, e, "_SOURCE_REALTIME_TIMESTAMP", "1683595864438049") // 2023-05-09T01:31:04.438049Z
	if us("2023-05-09T01:31:04.438049Z") != 1683595864438049 {
		t.Error("SOURCE_REALTIME expectation miscomputed")
	}
	want(t, e, "MESSAGE", "session-717.scope: Consumed 5.643s CPU time.")
	want(t, e, "CODE_LINE", "2474")
	want(t, e, "CPU_USAGE_NSEC", "5643944000")

	j, _ := Open(bytes.NewReader(b), int64(len(b)))
	if !j.Truncated() || j.Header.NEntries != 2814 {
		t.Errorf("truncated %v, header entries %d (want true, 2814)", j.Truncated(), j.Header.NEntries)
	}
	// journal_fields.out.yaml#L175-176: Velociraptor lists no field names
	// for this file. We list the field objects that survived the cut and
	// report the chains that run past it; every field of the recovered
	// entry must be among them (its field objects precede it).
	names, err := j.FieldNames()
	if err == nil || !errors.Is(err, ErrBeyondEOF) {
		t.Errorf("field chains: %v, want cut chains reported", err)
	}
	set := map[string]bool{}
	for _, n := range names {
		if !ValidFieldName(n) {
			t.Errorf("field name %q", n)
		}
		set[n] = true
	}
	for _, fl := range e.Fields {
		if !set[fl.Name] {
			t.Errorf("field %s of the recovered entry not listed", fl.Name)
		}
	}
}

func TestPeerCompactJournal(t *testing.T) {
	b := peerJournal(t, "compact.journal")
	es, damage, _ := entries(t, b)
	if damage == nil {
		t.Error("truncated compact.journal read without damage")
	}
	// linux_systemd.out.yaml#L45-491: first entries seq 4837 … 4846.
	if len(es) < 10 {
		t.Fatalf("%d entries", len(es))
	}
	e := &es[0]
	if e.Seqnum != 4837 || e.Realtime != us("2024-07-19T07:52:28.539547Z") ||
		e.BootIDString() != "23a9ab0f82de434496c353945dcf5919" {
		t.Errorf("first entry %d at %v boot %s", e.Seqnum, e.Time(), e.BootIDString())
	}
	want(t, e, "MESSAGE", "Queued start job for default target default.target.")
	want(t, e, "_PID", "3137")
	want(t, e, "_UID", "1000")
	for i := range 10 {
		if es[i].Seqnum != 4837+uint64(i) {
			t.Errorf("entry %d seq %d", i, es[i].Seqnum)
		}
	}
	want(t, &es[9], "MESSAGE", "Listening on dirmngr.socket - GnuPG network certificate management daemon.")

	// linux_systemd.out.yaml#L493-501: exactly 2 entries in
	// [07:52:34.531807, 07:52:48.259133].
	lo, hi := us("2024-07-19T07:52:34.531807Z"), us("2024-07-19T07:52:48.259133Z")
	n := 0
	for _, e := range es {
		if e.Realtime >= lo && e.Realtime <= hi {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d entries in the window, want 2", n)
	}

	// journal_fields.out.yaml#L4-147: 47 distinct field names, CODE_FILE … _UID.
	j, _ := Open(bytes.NewReader(b), int64(len(b)))
	names, _ := j.FieldNames()
	set := map[string]bool{}
	for _, nm := range names {
		set[nm] = true
	}
	if len(set) != 47 || !set["CODE_FILE"] || !set["_UID"] {
		t.Errorf("%d field names: %v", len(set), names)
	}
}

func TestPeer2004LZ4(t *testing.T) {
	// linux_systemd.out.yaml#L631-657: seq 3, 2026-06-07T14:01:18.946813Z,
	// _HOSTNAME 9f5c084797a0, _COMM cat, _PID 1058, _TRANSPORT stdout,
	// SYSLOG_IDENTIFIER mytag, MESSAGE 5000 × X (an LZ4 data object).
	es, damage, warns := entries(t, peerJournal(t, "2004.journal"))
	if damage != nil || len(warns) != 0 || len(es) != 3 {
		t.Fatalf("%d entries, damage %v, warnings %v", len(es), damage, warns)
	}
	e := &es[2]
	if e.Seqnum != 3 || e.Realtime != us("2026-06-07T14:01:18.946813Z") {
		t.Errorf("entry %d at %v", e.Seqnum, e.Time())
	}
	want(t, e, "_HOSTNAME", "9f5c084797a0")
	want(t, e, "_COMM", "cat")
	want(t, e, "_PID", "1058")
	want(t, e, "_TRANSPORT", "stdout")
	want(t, e, "SYSLOG_IDENTIFIER", "mytag")
	want(t, e, "MESSAGE", strings.Repeat("X", 5000))
}

func TestPeer2404CompactZstd(t *testing.T) {
	// linux_systemd.out.yaml#L659-687: seq 3 at 2026-06-07T14:44:55.635693Z,
	// _HOSTNAME dd19d3f1f1a9, _PID 3354, MESSAGE 5000 × X;
	// journal_fields.out.yaml#L149-173: _COMM cat ×1, systemd-journal ×2;
	// _BOOT_ID 1621aee481fa42ad9693fe91a054f095 ×3, first 14:44:42.302536Z.
	es, damage, warns := entries(t, peerJournal(t, "2404.journal"))
	if damage != nil || len(warns) != 0 || len(es) != 3 {
		t.Fatalf("%d entries, damage %v, warnings %v", len(es), damage, warns)
	}
	e := &es[2]
	if e.Seqnum != 3 || e.Realtime != us("2026-06-07T14:44:55.635693Z") {
		t.Errorf("entry %d at %v", e.Seqnum, e.Time())
	}
	want(t, e, "_HOSTNAME", "dd19d3f1f1a9")
	want(t, e, "_PID", "3354")
	want(t, e, "MESSAGE", strings.Repeat("X", 5000))
	comm := map[string]int{}
	for i := range es {
		c, _ := es[i].Get("_COMM")
		comm[c]++
		want(t, &es[i], "_BOOT_ID", "1621aee481fa42ad9693fe91a054f095")
	}
	if comm["cat"] != 1 || comm["systemd-journal"] != 2 {
		t.Errorf("_COMM counts %v", comm)
	}
	if es[0].Realtime != us("2026-06-07T14:44:42.302536Z") {
		t.Errorf("first entry at %v", es[0].Time())
	}
}
