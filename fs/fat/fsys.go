package fat

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/fs/internal/fsutil"
)

// dirCache keeps parsed directories, bounded by the number of entries
// they hold (a hostile image can make every directory 65536 entries).
type dirCache struct {
	mu    sync.Mutex
	m     map[uint64]*dirListing
	nodes int
}

const maxCachedNodes = 1 << 17

func (f *FS) cache() *dirCache { return &f.dc }

// dirBytes reads a directory's slots: the fixed root area on FAT12/16,
// otherwise its cluster chain (at most maxDirBytes).
func (f *FS) dirBytes(n *node) ([]byte, func(int) int64, error) {
	b := f.b
	if n.inode == 2 && b.bits != 32 {
		base := int64(b.firstDataSect) * int64(b.bytesPerSector)
		buf := make([]byte, int64(b.rootDirSectors)*int64(b.bytesPerSector))
		if err := f.readFull(buf, base, "root directory"); err != nil {
			return nil, nil, err
		}
		return buf, func(i int) int64 { return base + int64(i)*entrySize }, nil
	}
	maxClus := (maxDirBytes + b.clusterSize - 1) / b.clusterSize
	ext, nclus, err := f.fat.chain(n.cluster, maxClus)
	if err != nil {
		return nil, nil, fmt.Errorf("fat: directory %q (inode %d): %w", n.name, n.inode, err)
	}
	buf := make([]byte, nclus*b.clusterSize)
	var clus []uint32 // cluster of each cluster-sized piece, for slot offsets
	pos := int64(0)
	for _, e := range ext {
		seg := buf[pos : pos+int64(e.n)*b.clusterSize]
		if err := f.readFull(seg, b.clusterOffset(e.first), fmt.Sprintf("directory %q (inode %d) cluster %d", n.name, n.inode, e.first)); err != nil {
			return nil, nil, err
		}
		for i := uint32(0); i < e.n; i++ {
			clus = append(clus, e.first+i)
		}
		pos += int64(len(seg))
	}
	per := int(b.clusterSize / entrySize)
	return buf, func(i int) int64 {
		return b.clusterOffset(clus[i/per]) + int64(i%per)*entrySize
	}, nil
}

// listing parses (or recalls) directory n.
func (f *FS) listing(n *node) (*dirListing, error) {
	c := f.cache()
	c.mu.Lock()
	l, ok := c.m[n.inode]
	c.mu.Unlock()
	if ok {
		return l, nil
	}
	buf, off, err := f.dirBytes(n)
	if err != nil {
		return nil, err
	}
	l = parseDir(buf, off, f.b)
	for _, e := range append(append([]*node(nil), l.live...), l.deleted...) {
		if e.isDir() {
			if e.deleted {
				e.size = 0 // its clusters are free and may be reused
				continue
			}
			if e.size, err = f.dirSize(e); err != nil {
				e.size = 0 // reported when the directory itself is read
			}
		}
	}
	size := len(l.live) + len(l.deleted)
	c.mu.Lock()
	if c.nodes+size > maxCachedNodes {
		clear(c.m)
		c.nodes = 0
	}
	c.m[n.inode] = l
	c.nodes += size
	c.mu.Unlock()
	return l, nil
}

// dirSize is a directory's allocated size, as TSK reports it.
func (f *FS) dirSize(n *node) (int64, error) {
	if n.inode == 2 && f.b.bits != 32 {
		return int64(f.b.rootDirSectors) * int64(f.b.bytesPerSector), nil
	}
	// A directory holds at most 65536 slots; count no further.
	_, c, err := f.fat.chain(n.cluster, maxDirBytes/f.b.clusterSize+1)
	if err != nil {
		return 0, err
	}
	return c * f.b.clusterSize, nil
}

func (f *FS) rootLabel() (string, bool) {
	l, err := f.listing(f.root)
	if err != nil || !l.hasLbl {
		return "", false
	}
	return l.label, true
}

// lookup finds name in a listing: exact long name, then case-insensitive
// long name, then the 8.3 name, as FAT is case-insensitive.
func lookup(l *dirListing, name string) *node {
	for _, e := range l.live {
		if e.name == name {
			return e
		}
	}
	for _, e := range l.live {
		if strings.EqualFold(e.name, name) {
			return e
		}
	}
	for _, e := range l.live {
		if strings.EqualFold(e.short, name) {
			return e
		}
	}
	return nil
}

// resolve walks a path from the root. A directory whose chain starts at a
// cluster already on the path is a cycle (a hostile or broken image).
func (f *FS) resolve(op, name string) (*node, error) {
	w := fsutil.Walker[*node]{
		Root:     func() (*node, error) { return f.root, nil },
		IsDir:    (*node).isDir,
		IsLink:   func(*node) bool { return false },
		ReadLink: func(*node) (string, error) { return "", iofs.ErrInvalid },
		Lookup: func(dir *node, comp string) (*node, error) {
			l, err := f.listing(dir)
			if err != nil {
				return nil, err
			}
			if c := lookup(l, comp); c != nil {
				return c, nil
			}
			return nil, iofs.ErrNotExist
		},
		Same: func(a, b *node) bool { return a.cluster == b.cluster },
		Cycle: func(c *node, _ string) error {
			return fmt.Errorf("fat: directory %q (inode %d, slot at %#x) reuses cluster %d of a parent: %w", c.name, c.inode, c.off, c.cluster, ErrLoop)
		},
	}
	stack, err := w.Walk(op, name, true)
	if err != nil {
		return nil, err
	}
	return stack[len(stack)-1], nil
}

// Open opens a file or directory. FAT has no symlinks.
func (f *FS) Open(name string) (iofs.File, error) {
	n, err := f.resolve("open", name)
	if err != nil {
		return nil, err
	}
	return f.openNode(n, name)
}

func (f *FS) openNode(n *node, name string) (*File, error) {
	fl := &File{fs: f, n: n, name: name}
	if n.isDir() {
		return fl, nil
	}
	b := f.b
	if n.size == 0 {
		return fl, nil
	}
	if n.size > int64(b.clusterCount)*b.clusterSize {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: fmt.Errorf("fat: file size %d (slot at %#x) exceeds the %d bytes of the data area: %w", n.size, n.off+28, int64(b.clusterCount)*b.clusterSize, ErrCorrupt)}
	}
	need := (n.size + b.clusterSize - 1) / b.clusterSize
	ext, got, err := f.fat.chain(n.cluster, need)
	if err != nil {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: fmt.Errorf("inode %d: %w", n.inode, err)}
	}
	if got < need {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: fmt.Errorf("fat: inode %d: chain from cluster %d ends after %d clusters, size %d needs %d: %w", n.inode, n.cluster, got, n.size, need, ErrCorrupt)}
	}
	fl.ext = ext
	return fl, nil
}

// Stat describes a file; FAT has no symlinks, so it equals Lstat.
func (f *FS) Stat(name string) (iofs.FileInfo, error) {
	n, err := f.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	return f.fileInfo(n), nil
}

// Lstat is Stat: FAT has no symlinks.
func (f *FS) Lstat(name string) (iofs.FileInfo, error) { return f.Stat(name) }

// ReadLink always fails: FAT has no symlinks.
func (f *FS) ReadLink(name string) (string, error) {
	if _, err := f.resolve("readlink", name); err != nil {
		return "", err
	}
	return "", &iofs.PathError{Op: "readlink", Path: name, Err: iofs.ErrInvalid}
}

// ReadDir lists a directory's live entries in on-disk order.
func (f *FS) ReadDir(name string) ([]iofs.DirEntry, error) {
	n, err := f.resolve("readdir", name)
	if err != nil {
		return nil, err
	}
	return f.readDir(n, name)
}

func (f *FS) readDir(n *node, name string) ([]iofs.DirEntry, error) {
	if !n.isDir() {
		return nil, &iofs.PathError{Op: "readdir", Path: name, Err: fsutil.ErrNotDir}
	}
	l, err := f.listing(n)
	if err != nil {
		return nil, &iofs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]iofs.DirEntry, 0, len(l.live))
	for _, e := range l.live {
		out = append(out, iofs.FileInfoToDirEntry(f.fileInfo(e)))
	}
	return out, nil
}

// Deleted lists the deleted (0xE5) entries found in the live directories.
// Their 8.3 name has lost its first character ('_' stands for it); the
// long name is recovered from deleted long-name slots when they remain.
// Errors in single directories do not stop the walk; they are returned
// joined with what was found.
func (f *FS) Deleted() ([]cfs.DeletedEntry, error) {
	type item struct {
		n    *node
		path string
	}
	var out []cfs.DeletedEntry
	var errs []error
	seen := map[uint32]bool{f.root.cluster: true}
	queue := []item{{f.root, ""}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		l, err := f.listing(it.n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, d := range l.deleted {
			st := f.stat(d)
			out = append(out, cfs.DeletedEntry{Path: path.Join(it.path, d.name), Stat: *st})
		}
		for _, c := range l.live {
			if c.isDir() && !seen[c.cluster] {
				seen[c.cluster] = true
				queue = append(queue, item{c, path.Join(it.path, c.name)})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, errors.Join(errs...)
}

func (f *FS) stat(n *node) *cfs.Stat {
	perm := uint32(0o777)
	if n.attr&attrReadOnly != 0 {
		perm = 0o555
	}
	st := &cfs.Stat{
		Inode:   n.inode,
		Size:    n.size,
		Nlink:   1,
		Atime:   n.atime,
		Mtime:   n.mtime,
		Btime:   n.btime,
		Deleted: n.deleted,
	}
	if n.isDir() {
		st.RawMode = 0o040000 | perm
		st.Mode = iofs.ModeDir | iofs.FileMode(perm)
	} else {
		st.RawMode = 0o100000 | perm
		st.Mode = iofs.FileMode(perm)
	}
	return st
}

func (f *FS) fileInfo(n *node) *fileInfo {
	name := n.name
	if n.inode == 2 {
		name = "."
	}
	return &fileInfo{FileInfo: fsutil.FileInfo{N: name, St: f.stat(n)}, short: n.short}
}

// fileInfo adds the 8.3 name, for ShortName.
type fileInfo struct {
	fsutil.FileInfo
	short string
}

// ShortName is the 8.3 name stored for the entry behind a FileInfo from
// this package ("" otherwise).
func ShortName(fi iofs.FileInfo) string {
	if i, ok := fi.(*fileInfo); ok {
		return i.short
	}
	return ""
}

// File is an open file or directory. Files also implement io.ReaderAt and
// io.Seeker.
type File struct {
	fs   *FS
	n    *node
	name string
	ext  []extent
	pos  fsutil.Cursor
	dir  fsutil.Dir
}

func (fl *File) Stat() (iofs.FileInfo, error) { return fl.fs.fileInfo(fl.n), nil }
func (fl *File) Close() error                 { return nil }

func (fl *File) Read(p []byte) (int, error) {
	if fl.n.isDir() {
		return 0, &iofs.PathError{Op: "read", Path: fl.name, Err: fsutil.ErrIsDir}
	}
	return fl.pos.Read(fl, p)
}

// ReadAt reads file bytes at off, following the cluster chain.
func (fl *File) ReadAt(p []byte, off int64) (int, error) {
	if fl.n.isDir() {
		return 0, &iofs.PathError{Op: "read", Path: fl.name, Err: fsutil.ErrIsDir}
	}
	if off < 0 {
		return 0, &iofs.PathError{Op: "read", Path: fl.name, Err: iofs.ErrInvalid}
	}
	if off >= fl.n.size {
		return 0, io.EOF
	}
	cs := fl.fs.b.clusterSize
	want := p
	if rest := fl.n.size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	done := 0
	var start int64 // file offset of the current extent
	for _, e := range fl.ext {
		elen := int64(e.n) * cs
		if off < start+elen {
			for done < len(want) && off < start+elen {
				k := min(int64(len(want)-done), start+elen-off)
				disk := fl.fs.b.clusterOffset(e.first) + (off - start)
				if err := fl.fs.readFull(want[done:done+int(k)], disk, fmt.Sprintf("inode %d data", fl.n.inode)); err != nil {
					return done, err
				}
				done += int(k)
				off += k
			}
			if done == len(want) {
				break
			}
		}
		start += elen
	}
	if done < len(p) {
		return done, io.EOF
	}
	return done, nil
}

func (fl *File) Seek(offset int64, whence int) (int64, error) {
	return fl.pos.Move(offset, whence, fl.n.size)
}

// ReadDir implements iofs.ReadDirFile.
func (fl *File) ReadDir(count int) ([]iofs.DirEntry, error) {
	if !fl.n.isDir() {
		return nil, &iofs.PathError{Op: "readdir", Path: fl.name, Err: fsutil.ErrNotDir}
	}
	if fl.dir.Load == nil {
		fl.dir.Load = func() ([]iofs.DirEntry, error) { return fl.fs.readDir(fl.n, fl.name) }
	}
	return fl.dir.ReadDir(count)
}

var (
	_ cfs.FS            = (*FS)(nil)
	_ cfs.DeletedLister = (*FS)(nil)
	_ iofs.ReadDirFile  = (*File)(nil)
	_ io.ReaderAt       = (*File)(nil)
)
