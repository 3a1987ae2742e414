// Package fsutil holds the io/fs plumbing the filesystem drivers share:
// a FileInfo over a *fs.Stat, a paging directory reader, a read position
// over an io.ReaderAt, and a path walker that follows symlinks with a hop
// limit. It knows nothing of any on-disk format; drivers supply lookups.
package fsutil

import (
	"errors"
	"io"
	iofs "io/fs"
	"path"
	"strings"
	"time"

	cfs "github.com/coldcase-dfir/coldcase/fs"
)

// Errors a driver's files return for misuse; they carry no format name
// because the caller's PathError names the file.
var (
	ErrIsDir  = errors.New("is a directory")
	ErrNotDir = errors.New("not a directory")
)

// FileInfo is an io/fs.FileInfo whose Sys is the driver's *fs.Stat.
type FileInfo struct {
	N  string    // base name; "." for the root
	St *cfs.Stat // never nil
}

func (fi *FileInfo) Name() string        { return fi.N }
func (fi *FileInfo) Size() int64         { return fi.St.Size }
func (fi *FileInfo) Mode() iofs.FileMode { return fi.St.Mode }
func (fi *FileInfo) ModTime() time.Time  { return fi.St.Mtime }
func (fi *FileInfo) IsDir() bool         { return fi.St.Mode.IsDir() }
func (fi *FileInfo) Sys() any            { return fi.St }
func (fi *FileInfo) String() string      { return iofs.FormatFileInfo(fi) }

// BaseName is the FileInfo name of a valid io/fs path: "." stays ".".
func BaseName(name string) string {
	if name == "." {
		return "."
	}
	return path.Base(name)
}

// Dir pages a directory's entries for ReadDirFile.ReadDir. Load runs on
// the first call only; its entries are then handed out in order.
type Dir struct {
	Load func() ([]iofs.DirEntry, error)

	ents   []iofs.DirEntry
	pos    int
	loaded bool
}

// ReadDir follows io/fs.ReadDirFile: n <= 0 returns all that is left
// (and a nil error at the end); n > 0 at most n, and io.EOF at the end.
// When Load fails with entries, those entries are kept and the error is
// returned once with them.
func (d *Dir) ReadDir(n int) ([]iofs.DirEntry, error) {
	if !d.loaded {
		ents, err := d.Load()
		if err != nil && len(ents) == 0 {
			return nil, err
		}
		d.ents, d.loaded = ents, true
		if err != nil {
			d.pos = len(ents)
			return ents, err
		}
	}
	rest := d.ents[d.pos:]
	if n <= 0 {
		d.pos = len(d.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.pos += n
	return rest[:n:n], nil
}

// Cursor is the read position of an open file whose content is an
// io.ReaderAt of a known size.
type Cursor struct{ Pos int64 }

// Read reads at the position and advances it; a read that got bytes and
// met the end returns a nil error, as io.Reader prefers.
func (c *Cursor) Read(r io.ReaderAt, p []byte) (int, error) {
	n, err := r.ReadAt(p, c.Pos)
	c.Pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Move moves the position as io.Seeker.Seek does for a file of size bytes.
func (c *Cursor) Move(offset int64, whence int, size int64) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += c.Pos
	case io.SeekEnd:
		offset += size
	default:
		return 0, iofs.ErrInvalid
	}
	if offset < 0 {
		return 0, iofs.ErrInvalid
	}
	c.Pos = offset
	return offset, nil
}

// SafeName keeps a name read from a directory usable as one io/fs path
// element: '/' and NUL become U+FFFD, and "", "." and ".." get a U+FFFD
// prefix. Valid filesystems never need this; hostile ones may.
func SafeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == 0 {
			return '\uFFFD'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		s = "\uFFFD" + s
	}
	return s
}

// UnixMode converts a Unix st_mode (type and permission bits, as ext4's
// i_mode and XFS's di_mode store it) to an io/fs FileMode. A type Unix
// does not define is ModeIrregular.
func UnixMode(m uint16) iofs.FileMode {
	mode := iofs.FileMode(m & 0o777)
	switch m & 0xf000 {
	case 0x8000:
	case 0x4000:
		mode |= iofs.ModeDir
	case 0xa000:
		mode |= iofs.ModeSymlink
	case 0x2000:
		mode |= iofs.ModeDevice | iofs.ModeCharDevice
	case 0x6000:
		mode |= iofs.ModeDevice
	case 0x1000:
		mode |= iofs.ModeNamedPipe
	case 0xc000:
		mode |= iofs.ModeSocket
	default:
		mode |= iofs.ModeIrregular
	}
	if m&0o4000 != 0 {
		mode |= iofs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= iofs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= iofs.ModeSticky
	}
	return mode
}
