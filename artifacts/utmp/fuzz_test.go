package utmp

import (
	"bytes"
	"io"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

func FuzzReader(f *testing.F) {
	testenv.SeedPeer(f, "artifacts/plaso/utmp/utmp", "artifacts/plaso/utmp/utmp_aarch64",
		"artifacts/plaso/utmp/utmp_corrupted", "artifacts/plaso/utmp/utmp_x86_64",
		"artifacts/plaso/utmp/wtmp.1", "artifacts/dissect/btmp-ipv6")
	f.Add([]byte{})
	f.Add(make([]byte, 383))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		n := 0
		for ; ; n++ {
			if n > len(b)/384+1 {
				t.Fatalf("%d records from %d bytes", n, len(b))
			}
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if _, ok := err.(*CorruptRecordError); ok {
					continue
				}
				t.Fatal(err)
			}
			if !rec.Type.Valid() || rec.Offset%int64(r.Layout().Size) != 0 {
				t.Fatalf("record %+v", rec)
			}
			RecordEvent(rec, "wtmp")
			RecordEvent(rec, "btmp")
			_ = rec.IP()
		}
		if r.Trailing() >= r.Layout().Size {
			t.Fatalf("trailing %d", r.Trailing())
		}
	})
}

func FuzzLastlog(f *testing.F) {
	testenv.SeedPeer(f, "artifacts/dissect/lastlog")
	f.Add(make([]byte, 292*3))
	f.Add([]byte("\x01\x02\x03\x04tty1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lr, err := NewLastlogReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for n := 0; ; n++ {
			if n > len(b)/292+1 {
				t.Fatalf("%d entries from %d bytes", n, len(b))
			}
			e, err := lr.Next()
			if err != nil {
				break
			}
			if e.Offset != int64(e.UID)*int64(lr.Layout().Size) {
				t.Fatalf("entry %+v", e)
			}
			LastlogEvent(e, "")
		}
	})
}
