package journal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// tinyJournal writes a minimal journal of our own: header, data objects,
// entries and one entry array, without hash tables. It gives the fuzzer
// small valid seeds and exercises the xz payloads this host's systemd
// cannot write. Payloads of 64 bytes or more are compressed with comp
// (one of the obj* compression flags, or 0).
func tinyJournal(t testing.TB, entries [][]string, compact bool, comp uint8) []byte {
	t.Helper()
	le := binary.LittleEndian
	var incompat uint32
	if compact {
		incompat |= FlagCompact
	}
	switch comp {
	case objCompressedXZ:
		incompat |= FlagCompressedXZ
	case objCompressedLZ4:
		incompat |= FlagCompressedLZ4
	case objCompressedZSTD:
		incompat |= FlagCompressedZSTD
	}
	buf := make([]byte, 272)
	align := func() {
		for len(buf)%8 != 0 {
			buf = append(buf, 0)
		}
	}
	object := func(typ, flags uint8, body []byte) uint64 {
		align()
		off := uint64(len(buf))
		var h [16]byte
		h[0], h[1] = typ, flags
		le.PutUint64(h[8:], uint64(16+len(body)))
		buf = append(buf, h[:]...)
		buf = append(buf, body...)
		return off
	}
	var entryOffs []uint64
	for i, fields := range entries {
		var dataOffs []uint64
		for _, fv := range fields {
			payload, flags := []byte(fv), uint8(0)
			if comp != 0 && len(payload) >= 64 {
				payload, flags = compress(t, payload, comp), comp
			}
			body := make([]byte, 48) // hash … n_entries
			if compact {
				body = append(body, make([]byte, 8)...)
			}
			dataOffs = append(dataOffs, object(objData, flags, append(body, payload...)))
		}
		body := make([]byte, 48)
		le.PutUint64(body[0:], uint64(i+1))                        // seqnum
		le.PutUint64(body[8:], 1780000000000000+uint64(i)*1000000) // realtime
		le.PutUint64(body[16:], 1000+uint64(i))                    // monotonic
		copy(body[24:40], "0123456789abcdef")                      // boot id
		for _, d := range dataOffs {
			if compact {
				body = le.AppendUint32(body, uint32(d))
			} else {
				body = le.AppendUint64(body, d)
				body = le.AppendUint64(body, 0)
			}
		}
		entryOffs = append(entryOffs, object(objEntry, 0, body))
	}
	arr := make([]byte, 8) // next_entry_array_offset
	for _, e := range entryOffs {
		if compact {
			arr = le.AppendUint32(arr, uint32(e))
		} else {
			arr = le.AppendUint64(arr, e)
		}
	}
	arrOff := uint64(0)
	if len(entryOffs) > 0 {
		arrOff = object(objEntryArray, 0, arr)
	}
	align()
	copy(buf, "LPKSHHRH")
	le.PutUint32(buf[12:], incompat)
	le.PutUint64(buf[88:], 272)
	le.PutUint64(buf[96:], uint64(len(buf)-272))
	le.PutUint64(buf[152:], uint64(len(entries)))
	le.PutUint64(buf[176:], arrOff)
	return buf
}

func compress(t testing.TB, b []byte, comp uint8) []byte {
	switch comp {
	case objCompressedXZ:
		var out bytes.Buffer
		w, err := xz.NewWriter(&out)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
		return out.Bytes()
	case objCompressedLZ4:
		out := make([]byte, 8+lz4.CompressBlockBound(len(b)))
		binary.LittleEndian.PutUint64(out, uint64(len(b)))
		n, err := lz4.CompressBlock(b, out[8:], nil)
		if err != nil || n == 0 {
			t.Fatalf("lz4: %v", err)
		}
		return out[:8+n]
	case objCompressedZSTD:
		e, _ := zstd.NewWriter(nil)
		defer e.Close()
		return e.EncodeAll(b, nil)
	}
	t.Fatalf("compression %d", comp)
	return nil
}

func tinyEntries() [][]string {
	return [][]string{
		{"MESSAGE=hello", "_PID=1", "_COMM=systemd"},
		{"MESSAGE=" + strings.Repeat("X", 5000), "_HOSTNAME=tiny", "BLOB=a\x00b"},
		{"MESSAGE=third", "_UID=1000", "EMPTY="},
	}
}

// TestTinyCompression reads our own tiny journals in every format
// combination, xz included.
func TestTinyCompression(t *testing.T) {
	for _, compact := range []bool{false, true} {
		for _, comp := range []uint8{0, objCompressedXZ, objCompressedLZ4, objCompressedZSTD} {
			t.Run(fmt.Sprintf("compact=%v/comp=%d", compact, comp), func(t *testing.T) {
				b := tinyJournal(t, tinyEntries(), compact, comp)
				es, damage, warns := entries(t, b)
				if damage != nil || len(warns) != 0 || len(es) != 3 {
					t.Fatalf("%d entries, damage %v, warnings %v", len(es), damage, warns)
				}
				for i, want := range tinyEntries() {
					var got []string
					for _, f := range es[i].Fields {
						got = append(got, f.Name+"="+string(f.Value))
					}
					if strings.Join(got, "\n") != strings.Join(want, "\n") || es[i].Seqnum != uint64(i+1) {
						t.Errorf("entry %d: %q", i, got)
					}
				}
			})
		}
	}
}

// TestHostileStructures damages tiny journals in the ways the reader
// must survive: a cycle in the entry array chain, an entry array pointing
// backwards, a data object claiming a huge size, an lz4 size prefix
// beyond the limit.
func TestHostileStructures(t *testing.T) {
	le := binary.LittleEndian
	base := tinyJournal(t, tinyEntries(), false, objCompressedLZ4)
	arr := le.Uint64(base[176:])

	// The array's next pointer points at itself.
	b := bytes.Clone(base)
	le.PutUint64(b[arr+16:], arr)
	es, damage, _ := entries(t, b)
	if len(es) != 3 || damage == nil || !strings.Contains(damage.Error(), "cycle") {
		t.Errorf("self-linked array: %d entries, %v", len(es), damage)
	}

	// The second item repeats the first entry.
	b = bytes.Clone(base)
	copy(b[arr+32:arr+40], b[arr+24:arr+32])
	es, damage, _ = entries(t, b)
	if len(es) != 1 || damage == nil {
		t.Errorf("repeated entry: %d entries, %v", len(es), damage)
	}

	// The first data object of the second entry (the big message) claims
	// an lz4 size of 1 TiB: the field is dropped with a warning.
	b = bytes.Clone(base)
	j, _ := Open(bytes.NewReader(b), int64(len(b)))
	e2 := le.Uint64(b[arr+32:])
	d := le.Uint64(b[e2+64:])
	if j.Header.Compact() || b[d+1] != objCompressedLZ4 {
		t.Fatal("test journal layout unexpected")
	}
	le.PutUint64(b[d+64:], 1<<40)
	es, damage, warns := entries(t, b)
	if len(es) != 3 || damage != nil || len(warns) != 1 || !strings.Contains(warns[0], "limit") {
		t.Errorf("lz4 bomb: %d entries, %v, %q", len(es), damage, warns)
	}
	if _, ok := es[1].Get("MESSAGE"); ok {
		t.Error("bad field kept")
	}

	// A data object whose size runs past the end of the file.
	b = bytes.Clone(base)
	le.PutUint64(b[d+8:], 1<<62)
	es, _, warns = entries(t, b)
	if len(es) != 3 || len(warns) != 1 {
		t.Errorf("oversized data object: %d entries, %q", len(es), warns)
	}

	// Header_size beyond the file.
	b = bytes.Clone(base)
	le.PutUint64(b[88:], 1<<40)
	if _, err := Open(bytes.NewReader(b), int64(len(b))); err == nil {
		t.Error("header_size beyond the file accepted")
	}
}
