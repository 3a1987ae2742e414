package users

import (
	iofs "io/fs"
	"path"
	"strings"
	"time"

	cfs "github.com/coldcase-dfir/coldcase/fs"
)

// FileMeta is what the filesystem says about an artifact's file: the times
// an investigator compares with the records inside it, and its owner. Owner,
// inode and the times other than mtime are only known when the guest tree
// comes from a coldcase driver (FileInfo.Sys() is a *fs.Stat); on
// fstest.MapFS or os.DirFS they stay empty.
type FileMeta struct {
	Path  string     `json:"path"`
	Inode uint64     `json:"inode,omitempty"`
	Size  int64      `json:"size"`
	Mode  string     `json:"mode"` // ls-style, e.g. "-rw-------"
	UID   *uint32    `json:"uid,omitempty"`
	GID   *uint32    `json:"gid,omitempty"`
	Mtime time.Time  `json:"mtime"`
	Atime *time.Time `json:"atime,omitempty"`
	Ctime *time.Time `json:"ctime,omitempty"`
	Btime *time.Time `json:"btime,omitempty"`
}

// MetaOf describes the file at name (relative to the FS root or with a
// leading slash) as Stat sees it, following symlinks.
func MetaOf(fsys iofs.FS, name string) (FileMeta, bool) {
	fi, err := iofs.Stat(fsys, Rel(name))
	if err != nil {
		return FileMeta{Path: Abs(name)}, false
	}
	return MetaFromInfo(name, fi), true
}

// MetaFromInfo converts a FileInfo already at hand.
func MetaFromInfo(name string, fi iofs.FileInfo) FileMeta {
	m := FileMeta{Path: Abs(name), Size: fi.Size(), Mode: LsMode(fi), Mtime: fi.ModTime().UTC()}
	if st := cfs.StatOf(fi); st != nil {
		m.Inode = st.Inode
		uid, gid := st.UID, st.GID
		m.UID, m.GID = &uid, &gid
		m.Atime, m.Ctime, m.Btime = nonZero(st.Atime), nonZero(st.Ctime), nonZero(st.Btime)
		if !st.Mtime.IsZero() {
			m.Mtime = st.Mtime.UTC()
		}
	}
	return m
}

func nonZero(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// Rel turns a guest path into an io/fs name ("/etc/passwd" → "etc/passwd").
func Rel(p string) string {
	p = strings.TrimLeft(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// Abs turns an io/fs name into a guest path ("etc/passwd" → "/etc/passwd").
func Abs(p string) string { return path.Clean("/" + p) }

// PermBits returns a file's Unix permission bits including setuid, setgid
// and sticky, from the driver's raw st_mode when there is one.
func PermBits(fi iofs.FileInfo) uint32 {
	if st := cfs.StatOf(fi); st != nil && st.RawMode != 0 {
		return st.RawMode & 0o7777
	}
	m := fi.Mode()
	v := uint32(m.Perm())
	if m&iofs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&iofs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&iofs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

// LsMode formats a file's type and permissions as ls -l does
// ("-rwsr-xr-x", "drwxrwxrwt"), from the driver's raw st_mode when there
// is one.
func LsMode(fi iofs.FileInfo) string {
	m := fi.Mode()
	perm := PermBits(fi)
	b := []byte("----------")
	switch {
	case m.IsDir():
		b[0] = 'd'
	case m&iofs.ModeSymlink != 0:
		b[0] = 'l'
	case m&iofs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&iofs.ModeSocket != 0:
		b[0] = 's'
	case m&iofs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&iofs.ModeDevice != 0:
		b[0] = 'b'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if perm&(1<<(8-i)) != 0 {
			b[1+i] = rwx[i]
		}
	}
	special := func(i int, bit uint32, set, unset byte) {
		if perm&bit != 0 {
			if b[i] == '-' {
				b[i] = unset
			} else {
				b[i] = set
			}
		}
	}
	special(3, 0o4000, 's', 'S')
	special(6, 0o2000, 's', 'S')
	special(9, 0o1000, 't', 'T')
	return string(b)
}
