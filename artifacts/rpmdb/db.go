package rpmdb

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/artifacts/rpmdb/sqlite"
)

// Database formats.
const (
	FormatSQLite = "sqlite" // rpmdb.sqlite, rpm ≥ 4.16
	FormatBDB    = "bdb"    // Packages, Berkeley DB hash
	FormatNDB    = "ndb"    // Packages.db, SUSE's own format (not read)
)

// Locations lists where rpm keeps its database, in the order looked at.
// rpm's %_dbpath is /var/lib/rpm on RHEL and /usr/lib/sysimage/rpm on
// Fedora ≥ 36 and SUSE, which keep a /var/lib/rpm symlink to it.
var Locations = []struct{ Path, Format string }{
	{"var/lib/rpm/rpmdb.sqlite", FormatSQLite},
	{"var/lib/rpm/Packages", FormatBDB},
	{"var/lib/rpm/Packages.db", FormatNDB},
	{"usr/lib/sysimage/rpm/rpmdb.sqlite", FormatSQLite},
	{"usr/lib/sysimage/rpm/Packages", FormatBDB},
	{"usr/lib/sysimage/rpm/Packages.db", FormatNDB},
}

// Database is an rpm database found in a guest.
type Database struct {
	Path   string `json:"path"` // in the guest, "/var/lib/rpm/rpmdb.sqlite"
	Format string `json:"format"`
}

// Find returns the guest's rpm database: the first of Locations that is a
// non-empty regular file (rpm leaves an empty Packages behind after
// converting to sqlite).
func Find(fsys iofs.FS) (Database, bool) {
	for _, l := range Locations {
		fi, err := iofs.Stat(fsys, l.Path)
		if err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			return Database{Path: "/" + l.Path, Format: l.Format}, true
		}
	}
	return Database{}, false
}

// ErrUnsupported is returned for database formats not read (NDB).
var ErrUnsupported = errors.New("rpm database format not supported")

// Record locates a package's header blob in the database file.
type Record struct {
	HNum   uint32
	Offset int64 // of the sqlite cell or the BDB item; -1 when unknown
}

// Walk reads every package of the database, calling fn in storage order.
// A header that does not parse is passed to warn and skipped; an error
// from the container stops the walk. For sqlite, a "-wal" file beside the
// database is applied (its committed pages are newer than the file's) and
// told through warn.
func (d Database) Walk(fsys iofs.FS, fn func(*Package, Record) error, warn func(string)) error {
	name := path.Clean("/" + d.Path)
	rel := name[1:]
	each := func(hnum uint32, blob []byte, off int64) error {
		p, err := ParsePackage(blob)
		if err != nil {
			where := fmt.Sprintf("offset %#x", off)
			if off < 0 {
				where = "a page of the -wal log"
			}
			warn(fmt.Sprintf("%s: record %d at %s: %v", name, hnum, where, err))
			return nil
		}
		p.HNum = hnum
		return fn(p, Record{HNum: hnum, Offset: off})
	}
	switch d.Format {
	case FormatBDB:
		r, size, c, err := artifacts.OpenReaderAt(fsys, rel)
		if err != nil {
			return fmt.Errorf("rpmdb: %s: %w", name, err)
		}
		defer c.Close()
		return WalkBDB(r, size, name, each, func(err error) { warn(err.Error()) })
	case FormatSQLite:
		db, dc, err := OpenSQLite(fsys, rel, warn)
		if err != nil {
			return err
		}
		defer dc.Close()
		t, err := db.Table("Packages")
		if err != nil {
			return err
		}
		hc, bc := t.Col("hnum"), t.Col("blob")
		if hc < 0 || bc < 0 {
			return fmt.Errorf("rpmdb: %s: table Packages lacks hnum or blob columns (%v)", name, t.Columns)
		}
		return db.Rows(t, func(row sqlite.Row) error {
			h, _ := row.Int(hc)
			return each(uint32(h), row.Blob(bc), row.Offset)
		})
	}
	return fmt.Errorf("rpmdb: %s: %w (%s)", name, ErrUnsupported, d.Format)
}

// OpenSQLite opens a guest's sqlite database (rel: path under the guest
// root) read-only, with its "-wal" applied when one is present; warn is
// told of the log, and of a log that could not be applied. Close the
// returned closer when done with the DB.
func OpenSQLite(fsys iofs.FS, rel string, warn func(string)) (*sqlite.DB, io.Closer, error) {
	name := "/" + rel
	r, size, c, err := artifacts.OpenReaderAt(fsys, rel)
	if err != nil {
		return nil, nil, fmt.Errorf("rpmdb: %s: %w", name, err)
	}
	db, err := sqlite.Open(r, size, name)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	wr, wsize, wc, err := artifacts.OpenReaderAt(fsys, rel+"-wal")
	if err != nil {
		return db, c, nil
	}
	closers := closeAll{c, wc}
	if wsize == 0 {
		return db, closers, nil
	}
	n, err := db.ApplyWAL(wr, wsize, name+"-wal")
	if err != nil {
		warn(fmt.Sprintf("%s-wal present (%d bytes) but not applied: %v; rows may be older than the guest saw them", name, wsize, err))
		return db, closers, nil
	}
	warn(fmt.Sprintf("%s-wal present (%d bytes): %d committed page(s) applied over the database", name, wsize, n))
	return db, closers, nil
}

type closeAll []io.Closer

func (cs closeAll) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
