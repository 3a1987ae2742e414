package rpmdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// realBlobs returns the header blobs rpm wrote into the test database.
func realBlobs(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out, err := exec.Command("sqlite3", "-readonly", filepath.Join(dir, "root/var/lib/rpm/rpmdb.sqlite"),
		"select hex(blob) from Packages order by hnum").Output()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, l := range strings.Fields(string(out)) {
		b := make([]byte, len(l)/2)
		for i := range b {
			var v byte
			for _, c := range l[2*i : 2*i+2] {
				v <<= 4
				if c >= 'A' {
					v |= byte(c-'A') + 10
				} else {
					v |= byte(c - '0')
				}
			}
			b[i] = v
		}
		p, err := ParsePackage(b)
		if err != nil {
			t.Fatal(err)
		}
		m[p.Name] = b
	}
	return m
}

// entryAt returns the byte offset of tag's index entry in blob.
func entryAt(t *testing.T, blob []byte, tag uint32) int {
	t.Helper()
	il := int(binary.BigEndian.Uint32(blob))
	for i := 0; i < il; i++ {
		if binary.BigEndian.Uint32(blob[8+16*i:]) == tag {
			return 8 + 16*i
		}
	}
	t.Fatalf("tag %d not in blob", tag)
	return 0
}

func TestHostileHeader(t *testing.T) {
	blob := realBlobs(t, testDB(t))["cc-alpha"]
	cases := map[string]func(b []byte) []byte{
		"empty":            func(b []byte) []byte { return nil },
		"truncated":        func(b []byte) []byte { return b[:len(b)-1] },
		"truncated index":  func(b []byte) []byte { return b[:20] },
		"huge index count": func(b []byte) []byte { binary.BigEndian.PutUint32(b, 0x7fffffff); return b },
		"huge data length": func(b []byte) []byte { binary.BigEndian.PutUint32(b[4:], 0xfffffff0); return b },
		"offset past end": func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[entryAt(t, b, TagName)+8:], 0x7ffffff0)
			return b
		},
		"huge int count": func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[entryAt(t, b, TagFileSizes)+12:], 0x40000000)
			return b
		},
		"huge string count": func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[entryAt(t, b, TagBaseNames)+12:], 0xffffffff)
			return b
		},
		"unknown type": func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[entryAt(t, b, TagName)+4:], 77)
			return b
		},
		"unterminated string": func(b []byte) []byte {
			// NAME moves to the store's last byte, which is no NUL.
			dl := binary.BigEndian.Uint32(b[4:])
			binary.BigEndian.PutUint32(b[entryAt(t, b, TagName)+8:], dl-1)
			b[len(b)-1] = 'x'
			return b
		},
		"dir index out of range": func(b []byte) []byte {
			e := entryAt(t, b, TagDirIndexes)
			il := binary.BigEndian.Uint32(b)
			off := 8 + 16*il + binary.BigEndian.Uint32(b[e+8:])
			binary.BigEndian.PutUint32(b[off:], 9999)
			return b
		},
		"array length mismatch": func(b []byte) []byte {
			e := entryAt(t, b, TagFileMtimes)
			binary.BigEndian.PutUint32(b[e+12:], binary.BigEndian.Uint32(b[e+12:])-1)
			return b
		},
	}
	for name, mut := range cases {
		b := mut(append([]byte(nil), blob...))
		_, err := ParsePackage(b)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !errors.Is(err, ErrHeader) {
			t.Errorf("%s: %v does not wrap ErrHeader", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}

func TestHostileBDB(t *testing.T) {
	dir := testDB(t)
	orig, err := os.ReadFile(filepath.Join(dir, "bdb/Packages"))
	if err != nil {
		t.Fatal(err)
	}
	const ps = 4096
	if binary.LittleEndian.Uint32(orig[20:]) != ps {
		t.Fatalf("page size %d, build.sh asks 4096", binary.LittleEndian.Uint32(orig[20:]))
	}
	walk := func(b []byte) (n int, bad []error, err error) {
		err = WalkBDB(bytes.NewReader(b), int64(len(b)), "Packages", func(k uint32, v []byte, off int64) error {
			if _, err := ParsePackage(v); err != nil {
				bad = append(bad, err)
			}
			n++
			return nil
		}, func(e error) { bad = append(bad, e) })
		return
	}
	if n, bad, err := walk(orig); n != 3 || len(bad) != 0 || err != nil {
		t.Fatalf("intact: %d records, %v, %v", n, bad, err)
	}
	overflow := func(b []byte, f func(pg []byte)) []byte {
		for off := ps; off+ps <= len(b); off += ps {
			if b[off+25] == pOverflow {
				f(b[off : off+ps])
			}
		}
		return b
	}
	cases := map[string]func(b []byte) []byte{
		"overflow cycle": func(b []byte) []byte {
			return overflow(b, func(pg []byte) { copy(pg[16:20], pg[8:12]) }) // next = self
		},
		"overflow out of range": func(b []byte) []byte {
			return overflow(b, func(pg []byte) { binary.LittleEndian.PutUint32(pg[16:], 1<<30) })
		},
		"overflow length": func(b []byte) []byte {
			return overflow(b, func(pg []byte) { binary.LittleEndian.PutUint16(pg[22:], 0xffff) })
		},
		"entry count": func(b []byte) []byte {
			for off := ps; off+ps <= len(b); off += ps {
				if b[off+25] == pHash {
					binary.LittleEndian.PutUint16(b[off+20:], 0xffff)
				}
			}
			return b
		},
		"off-page length": func(b []byte) []byte {
			for off := ps; off+ps <= len(b); off += ps {
				if b[off+25] != pHash {
					continue
				}
				n := int(binary.LittleEndian.Uint16(b[off+20:]))
				for i := 1; i < n; i += 2 {
					it := off + int(binary.LittleEndian.Uint16(b[off+26+2*i:]))
					if b[it] == hOffPage {
						binary.LittleEndian.PutUint32(b[it+8:], 0xfffffff0)
					}
				}
			}
			return b
		},
		"truncated": func(b []byte) []byte { return b[:len(b)-ps-100] },
	}
	for name, mut := range cases {
		b := mut(append([]byte(nil), orig...))
		n, bad, err := walk(b)
		if err != nil {
			t.Errorf("%s: walk stopped: %v", name, err)
			continue
		}
		if len(bad) == 0 {
			t.Errorf("%s: %d records, no error reported", name, n)
			continue
		}
		for _, e := range bad {
			if !errors.Is(e, ErrBDB) && !errors.Is(e, ErrHeader) {
				t.Errorf("%s: %v wraps neither ErrBDB nor ErrHeader", name, e)
			}
		}
		t.Logf("%s: %d records; %v", name, n, bad[0])
	}
	for name, b := range map[string][]byte{"short": orig[:100], "magic": append([]byte{}, orig[:ps]...)} {
		if name == "magic" {
			b[12] ^= 0xff
		}
		if _, _, err := walk(b); !errors.Is(err, ErrBDB) {
			t.Errorf("%s: %v, want ErrBDB", name, err)
		}
	}
}

func FuzzHeader(f *testing.F) {
	if seed, err := os.ReadFile("testdata/cc-gamma.hdr"); err == nil {
		f.Add(seed)
	}
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 3, 232, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 'b', 'c', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePackage(b)
		if err == nil {
			_ = p.NEVRA()
		}
	})
}

func FuzzBDB(f *testing.F) {
	if seed, err := os.ReadFile("testdata/Packages.bdb"); err == nil {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = WalkBDB(bytes.NewReader(b), int64(len(b)), "f", func(k uint32, v []byte, off int64) error {
			_, _ = ParsePackage(v)
			return nil
		}, func(error) {})
	})
}
