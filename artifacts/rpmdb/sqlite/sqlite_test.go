package sqlite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// makeDB runs SQL through the sqlite3 CLI into a new database file.
func makeDB(t testing.TB, dir, sql string) string {
	t.Helper()
	testenv.NeedTool(t, "sqlite3")
	p := filepath.Join(dir, "t.db")
	cmd := exec.Command("sqlite3", p)
	cmd.Stdin = strings.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	return p
}

// copyTo copies the database (and its -wal) to a new folder, for tools
// that may checkpoint.
func copyTo(t testing.TB, p string) string {
	t.Helper()
	d := t.TempDir()
	for _, s := range []string{"", "-wal"} {
		b, err := os.ReadFile(p + s)
		if err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(d, "t.db"+s), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(d, "t.db")
}

func openFile(t testing.TB, p string, wal bool) *DB {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(bytes.NewReader(b), int64(len(b)), p)
	if err != nil {
		t.Fatal(err)
	}
	if wal {
		w, err := os.ReadFile(p + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := db.ApplyWAL(bytes.NewReader(w), int64(len(w)), p+"-wal"); err != nil || n == 0 {
			t.Fatalf("ApplyWAL = %d, %v", n, err)
		}
	}
	return db
}

// quote formats a value as SQLite's quote() does.
func quote(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	case string:
		return "'" + strings.ReplaceAll(x, "'", "''") + "'"
	case []byte:
		return fmt.Sprintf("X'%X'", x)
	}
	return "?"
}

func dump(t *testing.T, db *DB, table string) []string {
	t.Helper()
	tb, err := db.Table(table)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	err = db.Rows(tb, func(r Row) error {
		var f []string
		for i := range tb.Columns {
			f = append(f, quote(r.get(i)))
		}
		out = append(out, strconv.FormatInt(r.Rowid, 10)+"|"+strings.Join(f, "|"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sqlite3Dump(t *testing.T, p, table string, cols []string) []string {
	t.Helper()
	var q []string
	for _, c := range cols {
		q = append(q, "quote("+c+")")
	}
	out, err := exec.Command("sqlite3", "-readonly", p, "select rowid, "+strings.Join(q, ", ")+" from "+table+" order by rowid").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func compare(t *testing.T, want, got []string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("sqlite3 gives %d rows, we %d", len(want), len(got))
	}
	for i := 0; i < len(want) && i < len(got); i++ {
		if want[i] != got[i] {
			t.Errorf("row %d:\n sqlite3: %.200s\n us:      %.200s", i, want[i], got[i])
			return
		}
	}
}

const testSQL = `PRAGMA page_size=1024;
CREATE TABLE t (
	id INTEGER PRIMARY KEY AUTOINCREMENT, /* rowid alias, a comment, with commas */
	name TEXT NOT NULL,  -- line comment (with, commas)
	n INTEGER, f REAL,
	data BLOB,
	CONSTRAINT u UNIQUE (name, n)
);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 3000)
INSERT INTO t(name, n, f, data) SELECT 'row '''||i, (i*i*i*7919) - 100000000, i/4.0,
	CASE WHEN i % 500 = 0 THEN randomblob(5000 + i) WHEN i % 3 = 0 THEN NULL ELSE randomblob(i % 40) END FROM c;
INSERT INTO t(name, n) VALUES ('big', 9223372036854775807), ('small', -9223372036854775808), ('zero', 0), ('one', 1);
ALTER TABLE t ADD COLUMN late TEXT DEFAULT 'x';
INSERT INTO t(name, late) VALUES ('after alter', 'set');
DELETE FROM t WHERE id % 7 = 0;
`

func TestAgainstSQLite3(t *testing.T) {
	p := makeDB(t, t.TempDir(), testSQL)
	db := openFile(t, p, false)
	tb, err := db.Table("t")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tb.Columns, ",") != "id,name,n,f,data,late" || tb.rowid != 0 {
		t.Fatalf("columns %v, rowid column %d", tb.Columns, tb.rowid)
	}
	got := dump(t, db, "t")
	// Rows written before the ALTER lack the late column: SQLite shows
	// its default, we NULL.
	want := sqlite3Dump(t, copyTo(t, p), "t", []string{"id", "name", "n", "f", "data", "nullif(late, 'x')"})
	compare(t, want, got)
	if len(got) < 2500 {
		t.Errorf("%d rows; the script leaves over 2500", len(got))
	}
}

// TestWAL: sqlite3 told not to checkpoint on close leaves every row in the
// log; the main file holds an empty schema.
func TestWAL(t *testing.T) {
	p := makeDB(t, t.TempDir(), `.dbconfig no_ckpt_on_close on
PRAGMA journal_mode=wal;
PRAGMA wal_autocheckpoint=0;
CREATE TABLE w (id INTEGER PRIMARY KEY, name TEXT, data BLOB);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 400)
INSERT INTO w(name, data) SELECT 'n'||i, randomblob(i*20) FROM c;
UPDATE w SET name = 'updated' WHERE id = 5;
`)
	if fi, err := os.Stat(p + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("sqlite3 left no WAL: %v", err)
	}
	if _, err := openFile(t, p, false).Table("w"); !errors.Is(err, ErrNoTable) {
		t.Errorf("without the WAL: %v, want ErrNoTable", err)
	}
	got := dump(t, openFile(t, p, true), "w")
	compare(t, sqlite3Dump(t, copyTo(t, p), "w", []string{"id", "name", "data"}), got)
	if len(got) != 400 {
		t.Errorf("%d rows, want 400", len(got))
	}
}

// page returns a copy of page n of b.
func pageOf(b []byte, ps, n int) []byte { return b[(n-1)*ps : n*ps] }

func TestHostile(t *testing.T) {
	p := makeDB(t, t.TempDir(), testSQL)
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	const ps = 1024
	run := func(b []byte) error {
		db, err := Open(bytes.NewReader(b), int64(len(b)), "h.db")
		if err != nil {
			return err
		}
		tb, err := db.Table("t")
		if err != nil {
			return err
		}
		return db.Rows(tb, func(Row) error { return nil })
	}
	if err := run(orig); err != nil {
		t.Fatal(err)
	}
	// Find t's root page (an interior page) and a leaf cell with overflow.
	db, _ := Open(bytes.NewReader(orig), int64(len(orig)), "x")
	tb, _ := db.Table("t")
	root := int(tb.root)
	cases := map[string]func(b []byte){
		"truncated":     nil,
		"bad magic":     func(b []byte) { b[0] = 'X' },
		"page size":     func(b []byte) { binary.BigEndian.PutUint16(b[16:], 1000) },
		"child cycle":   func(b []byte) { pg := pageOf(b, ps, root); binary.BigEndian.PutUint32(pg[8:], uint32(root)) },
		"child range":   func(b []byte) { pg := pageOf(b, ps, root); binary.BigEndian.PutUint32(pg[8:], 1<<30) },
		"cell count":    func(b []byte) { pg := pageOf(b, ps, root); binary.BigEndian.PutUint16(pg[3:], 0xffff) },
		"cell pointer":  func(b []byte) { pg := pageOf(b, ps, root); binary.BigEndian.PutUint16(pg[12:], 0xfff0) },
		"page type":     func(b []byte) { pageOf(b, ps, root)[0] = 0x0a },
		"schema root":   func(b []byte) { binary.BigEndian.PutUint16(b[103:], 0xffff) },
		"overflow loop": nil,
	}
	for name, mut := range cases {
		b := append([]byte(nil), orig...)
		switch name {
		case "truncated":
			b = b[:len(b)/2]
		case "overflow loop":
			// Point every overflow page's next pointer at itself.
			n := 0
			for pg := 2; pg <= len(b)/ps; pg++ {
				page := pageOf(b, ps, pg)
				if page[0] == 0 && binary.BigEndian.Uint32(page) != 0 {
					binary.BigEndian.PutUint32(page, uint32(pg))
					n++
				}
			}
			if n == 0 {
				t.Fatal("no overflow page found")
			}
		default:
			mut(b)
		}
		err := run(b)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "h.db") {
			t.Errorf("%s: %v: want an ErrFormat naming the file", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}

func FuzzDB(f *testing.F) {
	if _, err := exec.LookPath("sqlite3"); err == nil {
		p := makeDB(f, f.TempDir(), `PRAGMA page_size=512;
CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 40)
INSERT INTO Packages(blob) SELECT randomblob(i*31) FROM c;`)
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	if b, err := os.ReadFile("testdata/seed.db"); err == nil {
		f.Add(b) // testdata/artifacts/rpm/seeds.sh
	}
	f.Add([]byte("SQLite format 3\x00\x02\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		db, err := Open(bytes.NewReader(b), int64(len(b)), "f.db")
		if err != nil {
			return
		}
		for _, name := range []string{"Packages", "sqlite_sequence"} {
			tb, err := db.Table(name)
			if err != nil {
				continue
			}
			_ = db.Rows(tb, func(r Row) error { _ = r.Blob(1); return nil })
		}
	})
}

// TestTablePrimaryKey: a table-level PRIMARY KEY on one INTEGER column
// makes that column the rowid, as dnf 5 declares its tables.
func TestTablePrimaryKey(t *testing.T) {
	p := makeDB(t, t.TempDir(), `CREATE TABLE "trans" (
	"id" INTEGER,
	"description" TEXT, /* a comment, with (parens) */
	PRIMARY KEY("id" AUTOINCREMENT)
);
CREATE TABLE pair (a INTEGER, b INTEGER, PRIMARY KEY (a, b));
INSERT INTO trans(id, description) VALUES (5, 'dnf5 install x'), (9, 'y');
INSERT INTO pair VALUES (3, 4);`)
	db := openFile(t, p, false)
	compare(t, sqlite3Dump(t, copyTo(t, p), "trans", []string{"id", "description"}), dump(t, db, "trans"))
	compare(t, sqlite3Dump(t, copyTo(t, p), "pair", []string{"a", "b"}), dump(t, db, "pair"))
}
