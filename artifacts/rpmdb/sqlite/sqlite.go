// Package sqlite reads rows of ordinary (rowid) tables from an SQLite 3
// database file, read-only and without SQLite: the 100-byte file header,
// sqlite_schema on page 1, table b-tree interior and leaf pages, overflow
// chains and the record format. Committed frames of a write-ahead log
// (the "-wal" file beside the database) can be laid over the pages.
//
// It exists so coldcase can read rpmdb.sqlite and dnf's history.sqlite
// from evidence without writing beside it (SQLite itself creates -shm and
// journal files) and without compiling a full SQLite into the tool.
// Indexes, WITHOUT ROWID tables, UTF-16 databases and queries are out of
// scope; every page number, offset, length and chain is checked against
// the file, and walks are bounded by the page count.
package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// ErrFormat is wrapped by every format error.
var ErrFormat = errors.New("sqlite")

// MaxPayload bounds one record (header, blob and text included).
const MaxPayload = 64 << 20

const maxDepth = 40 // b-trees of a database ≤ 2^64 bytes are far shallower

// DB is an open database file. It is not safe for concurrent use.
type DB struct {
	r        io.ReaderAt
	size     int64
	name     string
	pageSize int
	usable   int
	nPages   uint32
	// wal maps page numbers to the offset of their newest committed frame
	// in walR.
	wal  map[uint32]int64
	walR io.ReaderAt
	// ovfBudget counts down the overflow pages Rows may still read.
	ovfBudget int64
}

// Open reads the header of the database in r (size bytes). name labels
// errors.
func Open(r io.ReaderAt, size int64, name string) (*DB, error) {
	var h [100]byte
	if size < 100 {
		return nil, fmt.Errorf("%w: %s: %d bytes, too short for a header", ErrFormat, name, size)
	}
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("%w: %s: header: %v", ErrFormat, name, err)
	}
	if string(h[:16]) != "SQLite format 3\x00" {
		return nil, fmt.Errorf("%w: %s: no \"SQLite format 3\" magic at offset 0", ErrFormat, name)
	}
	ps := int(binary.BigEndian.Uint16(h[16:]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return nil, fmt.Errorf("%w: %s: page size %d at offset 0x10 invalid", ErrFormat, name, ps)
	}
	res := int(h[20])
	if ps-res < 480 {
		return nil, fmt.Errorf("%w: %s: reserved space %d at offset 0x14 leaves too little of a %d-byte page", ErrFormat, name, res, ps)
	}
	if enc := binary.BigEndian.Uint32(h[56:]); enc > 1 {
		return nil, fmt.Errorf("%w: %s: text encoding %d (UTF-16) not supported", ErrFormat, name, enc)
	}
	n := size / int64(ps)
	if n > math.MaxUint32-1 {
		n = math.MaxUint32 - 1
	}
	return &DB{r: r, size: size, name: name, pageSize: ps, usable: ps - res, nPages: uint32(n)}, nil
}

// PageSize returns the database's page size.
func (db *DB) PageSize() int { return db.pageSize }

// ApplyWAL lays the committed frames of a write-ahead log over the
// database, as SQLite would on opening it: frames whose salts match the
// log header and whose running checksum holds, up to the last commit
// frame. It returns the number of frames applied. A log of another page
// size or with a bad header is an error and nothing is applied.
func (db *DB) ApplyWAL(r io.ReaderAt, size int64, name string) (int, error) {
	var h [32]byte
	if size < 32 {
		return 0, nil // SQLite treats a short log as empty
	}
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return 0, fmt.Errorf("%w: %s: header: %v", ErrFormat, name, err)
	}
	var bo binary.ByteOrder
	switch binary.BigEndian.Uint32(h[0:]) {
	case 0x377f0682:
		bo = binary.LittleEndian
	case 0x377f0683:
		bo = binary.BigEndian
	default:
		return 0, fmt.Errorf("%w: %s: no WAL magic at offset 0", ErrFormat, name)
	}
	if ps := int(binary.BigEndian.Uint32(h[8:])); ps != db.pageSize {
		return 0, fmt.Errorf("%w: %s: page size %d differs from the database's %d", ErrFormat, name, ps, db.pageSize)
	}
	s0, s1 := walSum(bo, h[:24], 0, 0)
	if s0 != binary.BigEndian.Uint32(h[24:]) || s1 != binary.BigEndian.Uint32(h[28:]) {
		return 0, fmt.Errorf("%w: %s: header checksum mismatch", ErrFormat, name)
	}
	salt := h[16:24]
	frame := make([]byte, 24+db.pageSize)
	pending := map[uint32]int64{}
	committed := map[uint32]int64{}
	maxPage := db.nPages
	applied := 0
	for off := int64(32); off+int64(len(frame)) <= size; off += int64(len(frame)) {
		if _, err := r.ReadAt(frame, off); err != nil {
			return 0, fmt.Errorf("%w: %s: frame at offset %#x: %v", ErrFormat, name, off, err)
		}
		if string(frame[8:16]) != string(salt) {
			break
		}
		s0, s1 = walSum(bo, frame[:8], s0, s1)
		s0, s1 = walSum(bo, frame[24:], s0, s1)
		if s0 != binary.BigEndian.Uint32(frame[16:]) || s1 != binary.BigEndian.Uint32(frame[20:]) {
			break
		}
		pg := binary.BigEndian.Uint32(frame[0:])
		if pg == 0 {
			break
		}
		pending[pg] = off + 24
		if commit := binary.BigEndian.Uint32(frame[4:]); commit != 0 {
			for p, o := range pending {
				committed[p] = o
			}
			applied += len(pending)
			clear(pending)
			maxPage = commit
		}
	}
	if len(committed) == 0 {
		return 0, nil
	}
	db.wal, db.walR = committed, r
	// The commit frame records the database size in pages after the
	// transaction; pages beyond the main file exist only in the log.
	db.nPages = maxPage
	return applied, nil
}

// walSum continues SQLite's WAL checksum over b (a multiple of 8 bytes).
func walSum(bo binary.ByteOrder, b []byte, s0, s1 uint32) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += bo.Uint32(b[i:]) + s1
		s1 += bo.Uint32(b[i+4:]) + s0
	}
	return s0, s1
}

// page reads page n (1-based) into buf.
func (db *DB) page(n uint32, buf []byte) error {
	if n == 0 || n > db.nPages {
		return fmt.Errorf("%w: %s: page %d out of range (1..%d)", ErrFormat, db.name, n, db.nPages)
	}
	if off, ok := db.wal[n]; ok {
		if _, err := db.walR.ReadAt(buf[:db.pageSize], off); err != nil {
			return fmt.Errorf("%w: %s: page %d from the WAL at offset %#x: %v", ErrFormat, db.name, n, off, err)
		}
		return nil
	}
	off := int64(n-1) * int64(db.pageSize)
	if off+int64(db.pageSize) > db.size {
		return fmt.Errorf("%w: %s: page %d at offset %#x past the end", ErrFormat, db.name, n, off)
	}
	if _, err := db.r.ReadAt(buf[:db.pageSize], off); err != nil {
		return fmt.Errorf("%w: %s: page %d at offset %#x: %v", ErrFormat, db.name, n, off, err)
	}
	return nil
}

func (db *DB) pageOff(n uint32) int64 { return int64(n-1) * int64(db.pageSize) }

// fileOff returns the offset in the database file of byte off of page n,
// or -1 when the page was read from the WAL.
func (db *DB) fileOff(n uint32, off int) int64 {
	if _, ok := db.wal[n]; ok {
		return -1
	}
	return db.pageOff(n) + int64(off)
}

// Table is a table found in sqlite_schema.
type Table struct {
	Name    string
	Columns []string
	SQL     string
	root    uint32
	rowid   int // index of the INTEGER PRIMARY KEY column, -1 if none
	// real marks columns of REAL affinity: SQLite stores their integral
	// values as integers and reads them back as floats.
	real []bool
}

// Col returns the index of a column by name (case-insensitive), or -1.
func (t *Table) Col(name string) int {
	for i, c := range t.Columns {
		if strings.EqualFold(c, name) {
			return i
		}
	}
	return -1
}

// Table finds a table by name in sqlite_schema.
func (db *DB) Table(name string) (*Table, error) {
	schema := &Table{Name: "sqlite_schema", Columns: []string{"type", "name", "tbl_name", "rootpage", "sql"}, root: 1, rowid: -1}
	var found *Table
	err := db.Rows(schema, func(r Row) error {
		if r.Text(0) != "table" || !strings.EqualFold(r.Text(1), name) {
			return nil
		}
		root, _ := r.Int(3)
		if root <= 0 || root > math.MaxUint32 {
			return fmt.Errorf("%w: %s: table %s has root page %d", ErrFormat, db.name, name, root)
		}
		sql := r.Text(4)
		cols, rowid, real, err := parseColumns(sql)
		if err != nil {
			return fmt.Errorf("%w: %s: table %s: %v", ErrFormat, db.name, name, err)
		}
		found = &Table{Name: r.Text(1), Columns: cols, SQL: sql, root: uint32(root), rowid: rowid, real: real}
		return errStop
	})
	if err != nil && err != errStop {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("%w: %s: no table %q: %w", ErrFormat, db.name, name, ErrNoTable)
	}
	return found, nil
}

// ErrNoTable is wrapped when a table is absent.
var ErrNoTable = errors.New("no such table")

var errStop = errors.New("stop")

// Row is one table row. Values are nil, int64, float64, string or []byte;
// columns a row lacks (added by ALTER TABLE later) read as nil.
type Row struct {
	Rowid  int64
	Values []any
	// Page and Offset locate the row's cell in the database file; Offset
	// is -1 when the page came from the WAL.
	Page   uint32
	Offset int64
}

func (r Row) get(i int) any {
	if i < 0 || i >= len(r.Values) {
		return nil
	}
	return r.Values[i]
}

// Int returns column i as an integer (false when NULL or not one).
func (r Row) Int(i int) (int64, bool) {
	switch v := r.get(i).(type) {
	case int64:
		return v, true
	case float64:
		return int64(v), true
	}
	return 0, false
}

// Text returns column i as text ("" when NULL; blobs as their bytes).
func (r Row) Text(i int) string {
	switch v := r.get(i).(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

// Blob returns column i as bytes (text as its bytes).
func (r Row) Blob(i int) []byte {
	switch v := r.get(i).(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	return nil
}

// Rows calls fn for every row of t in rowid order. fn may keep the
// Values. It stops at fn's first error and returns it.
func (db *DB) Rows(t *Table, fn func(Row) error) error {
	visited := make([]uint64, (uint64(db.nPages)+64)/64)
	buf := make([]byte, db.pageSize)
	ovf := make([]byte, db.pageSize)
	// Cells of a hostile file can share one long overflow chain; reading
	// it once per cell would take quadratic time. SQLite never shares
	// pages, so twice the file's pages is plenty.
	db.ovfBudget = 2*int64(db.nPages) + 16
	var walk func(pg uint32, depth int) error
	walk = func(pg uint32, depth int) error {
		if depth > maxDepth {
			return fmt.Errorf("%w: %s: table %s: b-tree deeper than %d at page %d", ErrFormat, db.name, t.Name, maxDepth, pg)
		}
		if pg == 0 || pg > db.nPages {
			return fmt.Errorf("%w: %s: table %s: child page %d out of range (1..%d)", ErrFormat, db.name, t.Name, pg, db.nPages)
		}
		if visited[pg/64]&(1<<(pg%64)) != 0 {
			return fmt.Errorf("%w: %s: table %s: page %d reached twice (cycle)", ErrFormat, db.name, t.Name, pg)
		}
		visited[pg/64] |= 1 << (pg % 64)
		if err := db.page(pg, buf); err != nil {
			return err
		}
		hdr := 0
		if pg == 1 {
			hdr = 100
		}
		p := buf[:db.usable]
		where := func(off int) string {
			return fmt.Sprintf("%s: table %s: page %d at offset %#x", db.name, t.Name, pg, db.pageOff(pg)+int64(off))
		}
		typ := p[hdr]
		ncell := int(binary.BigEndian.Uint16(p[hdr+3:]))
		var hlen int
		switch typ {
		case 0x0d:
			hlen = 8
		case 0x05:
			hlen = 12
		default:
			return fmt.Errorf("%w: %s: page type %#x is not a table b-tree page", ErrFormat, where(hdr), typ)
		}
		ptrs := hdr + hlen
		if ptrs+2*ncell > len(p) {
			return fmt.Errorf("%w: %s: %d cells do not fit the page", ErrFormat, where(hdr+3), ncell)
		}
		// Interior cells are copied out first: the recursion reuses buf.
		if typ == 0x05 {
			children := make([]uint32, 0, ncell+1)
			for i := 0; i < ncell; i++ {
				c := int(binary.BigEndian.Uint16(p[ptrs+2*i:]))
				if c < ptrs+2*ncell || c+4 > len(p) {
					return fmt.Errorf("%w: %s: cell %d pointer %#x outside the cell area", ErrFormat, where(ptrs+2*i), i, c)
				}
				children = append(children, binary.BigEndian.Uint32(p[c:]))
			}
			children = append(children, binary.BigEndian.Uint32(p[hdr+8:]))
			for _, ch := range children {
				if err := walk(ch, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		for i := 0; i < ncell; i++ {
			c := int(binary.BigEndian.Uint16(p[ptrs+2*i:]))
			if c < ptrs+2*ncell || c >= len(p) {
				return fmt.Errorf("%w: %s: cell %d pointer %#x outside the cell area", ErrFormat, where(ptrs+2*i), i, c)
			}
			plen, n1 := uvarint(p[c:])
			rowid, n2 := uvarint(p[c+max(n1, 0):])
			if n1 <= 0 || n2 <= 0 {
				return fmt.Errorf("%w: %s: cell %d header cut", ErrFormat, where(c), i)
			}
			if plen > MaxPayload {
				return fmt.Errorf("%w: %s: cell %d payload of %d bytes exceeds the %d limit", ErrFormat, where(c), i, plen, MaxPayload)
			}
			start := c + n1 + n2
			payload, err := db.payload(p, start, int(plen), ovf, t.Name)
			if err != nil {
				return fmt.Errorf("%w (cell %d at %s)", err, i, where(c))
			}
			vals, err := decodeRecord(payload, len(t.Columns))
			if err != nil {
				return fmt.Errorf("%w: %s: cell %d record: %v", ErrFormat, where(c), i, err)
			}
			if t.rowid >= 0 && t.rowid < len(vals) && vals[t.rowid] == nil {
				vals[t.rowid] = int64(rowid)
			}
			for i, r := range t.real {
				if x, ok := vals[i].(int64); ok && r {
					vals[i] = float64(x)
				}
			}
			if err := fn(Row{Rowid: int64(rowid), Values: vals, Page: pg, Offset: db.fileOff(pg, c)}); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(t.root, 0)
}

// payload assembles a leaf cell's payload: the local part on page p at
// start, the rest from its overflow chain.
func (db *DB) payload(p []byte, start, plen int, ovf []byte, table string) ([]byte, error) {
	u := db.usable
	x := u - 35
	local := plen
	if plen > x {
		m := ((u-12)*32)/255 - 23
		k := m + (plen-m)%(u-4)
		if k <= x {
			local = k
		} else {
			local = m
		}
	}
	if start+local > len(p) || (local < plen && start+local+4 > len(p)) {
		return nil, fmt.Errorf("%w: %s: table %s: payload of %d bytes (%d local) overruns its page", ErrFormat, db.name, table, plen, local)
	}
	out := make([]byte, 0, min(plen, 1<<20))
	out = append(out, p[start:start+local]...)
	if local == plen {
		return out, nil
	}
	next := binary.BigEndian.Uint32(p[start+local:])
	seen := map[uint32]bool{}
	for len(out) < plen {
		if next == 0 || next > db.nPages {
			return nil, fmt.Errorf("%w: %s: table %s: overflow page %d out of range (1..%d) with %d of %d bytes read", ErrFormat, db.name, table, next, db.nPages, len(out), plen)
		}
		if seen[next] {
			return nil, fmt.Errorf("%w: %s: table %s: overflow chain cycles at page %d (offset %#x)", ErrFormat, db.name, table, next, db.pageOff(next))
		}
		seen[next] = true
		if db.ovfBudget--; db.ovfBudget < 0 {
			return nil, fmt.Errorf("%w: %s: table %s: overflow pages read more often than the file has pages (shared chains) at page %d", ErrFormat, db.name, table, next)
		}
		if err := db.page(next, ovf); err != nil {
			return nil, err
		}
		n := min(plen-len(out), u-4)
		out = append(out, ovf[4:4+n]...)
		next = binary.BigEndian.Uint32(ovf)
	}
	return out, nil
}

// uvarint decodes SQLite's big-endian varint; n ≤ 0 when b is too short.
func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < 9; i++ {
		if i >= len(b) {
			return 0, 0
		}
		if i == 8 {
			return v<<8 | uint64(b[i]), 9
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// decodeRecord decodes a record into at least ncol values.
func decodeRecord(b []byte, ncol int) ([]any, error) {
	hlen, n := uvarint(b)
	if n <= 0 || hlen < uint64(n) || hlen > uint64(len(b)) {
		return nil, fmt.Errorf("header length %d of a %d-byte record", hlen, len(b))
	}
	var types []uint64
	for p := n; p < int(hlen); {
		t, k := uvarint(b[p:int(hlen)])
		if k <= 0 {
			return nil, fmt.Errorf("serial type cut at record offset %d", p)
		}
		types = append(types, t)
		p += k
	}
	vals := make([]any, max(ncol, len(types)))
	p := int(hlen)
	for i, t := range types {
		var sz int
		switch {
		case t <= 4:
			sz = int(t)
		case t == 5:
			sz = 6
		case t == 6 || t == 7:
			sz = 8
		case t == 8 || t == 9:
			vals[i] = int64(t - 8)
			continue
		case t == 10 || t == 11:
			return nil, fmt.Errorf("reserved serial type %d", t)
		default:
			if (t-12)/2 > uint64(len(b)) {
				return nil, fmt.Errorf("column %d of %d bytes overruns the record", i, (t-12)/2)
			}
			sz = int((t - 12) / 2)
		}
		if p+sz > len(b) {
			return nil, fmt.Errorf("column %d (serial type %d) at record offset %d overruns the %d-byte record", i, t, p, len(b))
		}
		v := b[p : p+sz]
		p += sz
		switch {
		case t == 0:
			vals[i] = nil
		case t <= 6:
			var x int64
			for _, c := range v {
				x = x<<8 | int64(c)
			}
			shift := 64 - 8*uint(sz) // sign-extend
			vals[i] = x << shift >> shift
		case t == 7:
			vals[i] = math.Float64frombits(binary.BigEndian.Uint64(v))
		case t%2 == 0:
			vals[i] = append([]byte(nil), v...)
		default:
			vals[i] = string(v)
		}
	}
	return vals, nil
}

// parseColumns takes the column names from a CREATE TABLE statement and
// finds the INTEGER PRIMARY KEY column, which holds the rowid.
func parseColumns(sql string) ([]string, int, []bool, error) {
	sql = removeComments(sql)
	i := strings.IndexByte(sql, '(')
	j := strings.LastIndexByte(sql, ')')
	if i < 0 || j < i {
		return nil, -1, nil, fmt.Errorf("no column list in %q", trunc(sql))
	}
	if strings.Contains(strings.ToUpper(sql[j:]), "WITHOUT ROWID") {
		return nil, -1, nil, fmt.Errorf("WITHOUT ROWID tables are not supported")
	}
	var defs []string
	depth, start := 0, i+1
	var quote byte
	for k := i + 1; k < j; k++ {
		c := sql[k]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`' || c == '[':
			quote = c
			if c == '[' {
				quote = ']'
			}
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			defs = append(defs, sql[start:k])
			start = k + 1
		}
	}
	defs = append(defs, sql[start:j])
	var cols, types []string
	var real []bool
	rowid := -1
	tablePK := ""
	for _, d := range defs {
		d = strings.TrimSpace(d)
		f := strings.Fields(d)
		if len(f) == 0 {
			continue
		}
		up := strings.ToUpper(d)
		switch strings.ToUpper(f[0]) {
		case "CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN":
			// PRIMARY KEY("id") on one INTEGER column makes it the
			// rowid too (dnf 5 declares keys this way).
			if k := strings.Index(up, "PRIMARY KEY"); k >= 0 {
				in := d[k+len("PRIMARY KEY"):]
				if a, b := strings.IndexByte(in, '('), strings.IndexByte(in, ')'); a >= 0 && b > a && !strings.Contains(in[a:b], ",") {
					kf := strings.Fields(in[a+1 : b])
					if len(kf) > 0 && !strings.Contains(strings.ToUpper(in[a:b]), "DESC") {
						tablePK = strings.Trim(kf[0], "\"`[]'")
					}
				}
			}
			continue
		}
		name := strings.Trim(f[0], "\"`[]'")
		if len(f) > 1 && strings.ToUpper(f[1]) == "INTEGER" && strings.Contains(up, "PRIMARY KEY") && !strings.Contains(up, "DESC") {
			rowid = len(cols)
		}
		cols = append(cols, name)
		typ := ""
		if len(f) > 1 {
			typ = strings.ToUpper(f[1])
		}
		types = append(types, typ)
		real = append(real, !strings.Contains(typ, "INT") && !strings.Contains(typ, "CHAR") && !strings.Contains(typ, "CLOB") &&
			!strings.Contains(typ, "TEXT") && !strings.Contains(typ, "BLOB") &&
			(strings.Contains(typ, "REAL") || strings.Contains(typ, "FLOA") || strings.Contains(typ, "DOUB")))
	}
	if len(cols) == 0 {
		return nil, -1, nil, fmt.Errorf("no columns in %q", trunc(sql))
	}
	if rowid < 0 && tablePK != "" {
		for i, c := range cols {
			if strings.EqualFold(c, tablePK) && types[i] == "INTEGER" {
				rowid = i
			}
		}
	}
	return cols, rowid, real, nil
}

func removeComments(s string) string {
	for {
		i := strings.Index(s, "/*")
		if i < 0 {
			break
		}
		j := strings.Index(s[i+2:], "*/")
		if j < 0 {
			s = s[:i]
			break
		}
		s = s[:i] + " " + s[i+2+j+2:]
	}
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if k := strings.Index(l, "--"); k >= 0 {
			l = l[:k]
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
