package utmp

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// readAll reads every record of a peer file, returning the records and the
// offsets of corrupt ones.
func readAll(t *testing.T, rel string) (*Reader, []*Record, []int64) {
	t.Helper()
	b := testenv.PeerFile(t, rel)
	r, err := NewReader(bytesReaderAt(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var recs []*Record
	var bad []int64
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		var ce *CorruptRecordError
		if errors.As(err, &ce) {
			bad = append(bad, ce.Offset)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return r, recs, bad
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// termID is ut_id read as plaso reads it: a little-endian 32-bit integer.
func termID(r *Record) uint32 {
	var b [4]byte
	copy(b[:], r.ID)
	return binary.LittleEndian.Uint32(b[:])
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestPeerUtmp(t *testing.T) {
	// log2timeline/plaso@4ea03ef9:tests/parsers/utmp.py#L14-47: 14 events,
	// 0 warnings; #2 LOGIN_PROCESS pid 1115 tty4 id 52 LOGIN localhost
	// 0.0.0.0 exit 0 at 2013-12-13T14:45:09Z. plaso shows an empty ut_host
	// as "localhost".
	r, recs, bad := readAll(t, "artifacts/plaso/utmp/utmp")
	if len(recs) != 14 || len(bad) != 0 {
		t.Fatalf("records %d corrupt %v, want 14 and none", len(recs), bad)
	}
	if r.Layout().Size != 384 {
		t.Errorf("layout %+v", r.Layout())
	}
	e := recs[2]
	if e.Type != LoginProcess || e.PID != 1115 || e.Line != "tty4" || termID(e) != 52 ||
		e.User != "LOGIN" || e.Host != "" || e.IP().String() != "0.0.0.0" || e.Exit != 0 ||
		!e.Time.Equal(utc("2013-12-13T14:45:09Z")) {
		t.Errorf("record 2: %+v ip %v", e, e.IP())
	}
}

func TestPeerWtmp1(t *testing.T) {
	// log2timeline/plaso@4ea03ef9:tests/parsers/utmp.py#L49-82: 4 events,
	// 0 warnings; #0 USER_PROCESS pid 20060 pts/32 id 842084211 userA
	// 10.10.122.1 at 2011-12-01T17:36:38.432935Z; 1 trailing byte.
	r, recs, bad := readAll(t, "artifacts/plaso/utmp/wtmp.1")
	if len(recs) != 4 || len(bad) != 0 {
		t.Fatalf("records %d corrupt %v, want 4 and none", len(recs), bad)
	}
	e := recs[0]
	if e.Type != UserProcess || e.PID != 20060 || e.Line != "pts/32" || termID(e) != 842084211 ||
		e.User != "userA" || e.Host != "10.10.122.1" || e.IP().String() != "10.10.122.1" ||
		e.Exit != 0 || !e.Time.Equal(utc("2011-12-01T17:36:38.432935Z")) {
		t.Errorf("record 0: %+v ip %v", e, e.IP())
	}
	if r.Trailing() != 1 {
		t.Errorf("trailing %d, want 1", r.Trailing())
	}
}

func TestPeerUtmpCorrupted(t *testing.T) {
	// log2timeline/plaso@4ea03ef9:tests/parsers/utmp.py#L84-133: 2 events,
	// warnings at offsets 0x180 and 0x300; #1 at offset 1152 pid 3003 pts/0
	// type 7 bob 10.0.0.5 at 2023-11-14T22:46:40Z; the truncated tail is EOF.
	r, recs, bad := readAll(t, "artifacts/plaso/utmp/utmp_corrupted")
	if len(recs) != 2 {
		t.Fatalf("records %d, want 2", len(recs))
	}
	if len(bad) != 2 || bad[0] != 0x180 || bad[1] != 0x300 {
		t.Errorf("corrupt records at %#x, want 0x180 0x300", bad)
	}
	e := recs[1]
	if e.Offset != 1152 || e.PID != 3003 || e.Line != "pts/0" || e.Type != UserProcess ||
		e.User != "bob" || e.Host != "10.0.0.5" || e.IP().String() != "10.0.0.5" ||
		!e.Time.Equal(utc("2023-11-14T22:46:40Z")) {
		t.Errorf("record 1: %+v", e)
	}
	if r.Trailing() == 0 {
		t.Error("the partial record at the end is not counted")
	}
}

func TestPeerUtmpX8664(t *testing.T) {
	// log2timeline/plaso@4ea03ef9:tests/parsers/utmp.py#L214-246: 6 events;
	// #1 at 384 DEAD_PROCESS pid 19 tty2 id 12916 localhost 4.3.2.1
	// 2026-07-03T14:58:29Z.
	_, recs, bad := readAll(t, "artifacts/plaso/utmp/utmp_x86_64")
	if len(recs) != 6 || len(bad) != 0 {
		t.Fatalf("records %d corrupt %v", len(recs), bad)
	}
	e := recs[1]
	if e.Offset != 384 || e.Type != DeadProcess || e.PID != 19 || e.Line != "tty2" ||
		termID(e) != 12916 || e.Host != "" || e.IP().String() != "4.3.2.1" ||
		!e.Time.Equal(utc("2026-07-03T14:58:29Z")) {
		t.Errorf("record 1: %+v ip %v", e, e.IP())
	}
}

func TestPeerUtmpAarch64(t *testing.T) {
	// log2timeline/plaso@4ea03ef9:tests/parsers/utmp.py#L135-212: 400-byte
	// records, 6 events, 0 warnings; #1 offset 400 DEAD_PROCESS pid 18 tty2
	// id 12916 4.3.2.1 2026-07-03T14:57:58Z; #2 offset 800 BOOT_TIME reboot
	// "system boot" id 126 host 0.0.0.0; #5 offset 2000 NEW_TIME (3) date
	// "}" id 32382 at 2026-07-03T15:02:58Z.
	r, recs, bad := readAll(t, "artifacts/plaso/utmp/utmp_aarch64")
	if len(recs) != 6 || len(bad) != 0 {
		t.Fatalf("records %d corrupt %v", len(recs), bad)
	}
	if r.Layout().Size != 400 || !r.Layout().Time64 {
		t.Errorf("layout %+v, want 400-byte 64-bit time", r.Layout())
	}
	e := recs[1]
	if e.Offset != 400 || e.Type != DeadProcess || e.PID != 18 || e.Line != "tty2" ||
		termID(e) != 12916 || e.IP().String() != "4.3.2.1" || !e.Time.Equal(utc("2026-07-03T14:57:58Z")) {
		t.Errorf("record 1: %+v", e)
	}
	e = recs[2]
	if e.Offset != 800 || e.Type != BootTime || e.User != "reboot" || e.Line != "system boot" ||
		termID(e) != 126 || e.Host != "0.0.0.0" {
		t.Errorf("record 2: %+v", e)
	}
	e = recs[5]
	if e.Offset != 2000 || e.Type != NewTime || e.User != "date" || e.Line != "}" ||
		termID(e) != 32382 || !e.Time.Equal(utc("2026-07-03T15:02:58Z")) {
		t.Errorf("record 5: %+v", e)
	}
}

func TestPeerBtmpIPv6(t *testing.T) {
	// fox-it/dissect.target@28082eb0:tests/plugins/os/unix/log/test_utmp.py#L14-33:
	// 6 records; #0 127.0.0.1, #2 1337::1, #5 1337:1:: (IPv6 with twelve
	// trailing zero bytes, not IPv4 19.55.0.1).
	_, recs, bad := readAll(t, "artifacts/dissect/btmp-ipv6")
	if len(recs) != 6 || len(bad) != 0 {
		t.Fatalf("records %d corrupt %v", len(recs), bad)
	}
	for i, want := range map[int]string{0: "127.0.0.1", 2: "1337::1", 5: "1337:1::"} {
		if got := recs[i].IP().String(); got != want {
			t.Errorf("record %d ip %s, want %s", i, got, want)
		}
		ev, ok := RecordEvent(recs[i], "btmp")
		if !ok || ev.IP != want || ev.TimestampDesc != "Failed login" || ev.User != "dummy" {
			t.Errorf("record %d event %+v", i, ev)
		}
	}
}

func TestPeerLastlog(t *testing.T) {
	// fox-it/dissect.target@28082eb0:tests/plugins/os/unix/log/test_lastlog.py#L14-43:
	// 3 records: uid 1001 2021-12-08T16:14:06Z pts/0 127.0.0.1; uid 0
	// 2021-12-08T16:20:23Z tty1; uid 1000 2022-12-07T16:33:30Z tty1.
	b := testenv.PeerFile(t, "artifacts/dissect/lastlog")
	lr, err := NewLastlogReader(bytesReaderAt(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint32]*LastlogEntry{}
	for {
		e, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[e.UID] = e
	}
	want := []LastlogEntry{
		{UID: 1001, Time: utc("2021-12-08T16:14:06Z"), Line: "pts/0", Host: "127.0.0.1"},
		{UID: 0, Time: utc("2021-12-08T16:20:23Z"), Line: "tty1"},
		{UID: 1000, Time: utc("2022-12-07T16:33:30Z"), Line: "tty1"},
	}
	if len(got) != len(want) {
		t.Errorf("%d entries, want %d", len(got), len(want))
	}
	for _, w := range want {
		g := got[w.UID]
		if g == nil || !g.Time.Equal(w.Time) || g.Line != w.Line || g.Host != w.Host || g.Offset != int64(w.UID)*292 {
			t.Errorf("uid %d: got %+v, want %+v", w.UID, g, w)
		}
	}
}
