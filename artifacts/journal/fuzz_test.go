package journal

import (
	"archive/zip"
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// FuzzJournal opens and iterates arbitrary bytes as a journal. Seeds: the
// first KiB of each peer journal (headers of every flavour) and tiny
// journals of our own in every format.
func FuzzJournal(f *testing.F) {
	if zr, err := zip.OpenReader(filepath.Join(testenv.Shared(f), "peerdata", "artifacts/velociraptor/system.journal.zip")); err == nil {
		for _, zf := range zr.File {
			rc, err := zf.Open()
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(io.LimitReader(rc, 1024))
			rc.Close()
			f.Add(b)
		}
		zr.Close()
	}
	for _, compact := range []bool{false, true} {
		for _, comp := range []uint8{0, objCompressedXZ, objCompressedLZ4, objCompressedZSTD} {
			f.Add(tinyJournal(f, tinyEntries(), compact, comp))
		}
	}
	old := MaxFieldSize
	MaxFieldSize = 1 << 20
	defer func() { MaxFieldSize = old }()
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		defer j.Close()
		it := j.Entries()
		for n := 0; it.Next(); n++ {
			if n > len(b)/64 {
				t.Fatalf("%d entries from %d bytes", n, len(b))
			}
			e := it.Entry()
			if e.Offset < 0 || e.Offset >= int64(len(b)) {
				t.Fatalf("entry offset %#x", e.Offset)
			}
			EntryEvent(e)
		}
		j.FieldNames()
	})
}
