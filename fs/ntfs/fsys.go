package ntfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"www.velocidex.com/golang/go-ntfs/parser"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/fs/internal/fsutil"
)

// Stream is one named $DATA stream (alternate data stream) of a file.
type Stream struct {
	Name string
	Size int64
}

// node is a file reached by one name.
type node struct {
	name    string
	id      int64
	parent  int64
	dir     bool
	st      *cfs.Stat
	streams []Stream
	hasData bool
	stream  string // for "file:stream" opens
	inUse   bool
	fnName  string // best $FILE_NAME name and parent, for deleted entries
	fnPar   int64
}

// dirent is one name in a directory index.
type dirent struct {
	name string
	id   int64
}

const (
	nameTypePOSIX = 0
	nameTypeWin32 = 1
	nameTypeDOS   = 2
	nameTypeBoth  = 3

	reparseSymlink    = 0xa000000c
	reparseMountPoint = 0xa0000003
)

// listing reads the $I30 index of directory id: each name once, DOS 8.3
// aliases left out (the long name of the same entry is listed).
func (f *FS) listing(id int64) ([]dirent, error) {
	f.lcMu.Lock()
	if l, ok := f.lc[id]; ok {
		f.lcMu.Unlock()
		return l, nil
	}
	f.lcMu.Unlock()
	e, as, err := f.entryAttrs(id)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if a.Type().Value == attrIndexAllocation {
			if n := a.DataSize(); n < 0 || n > maxIndexBytes || n > f.size {
				return nil, fmt.Errorf("ntfs: MFT entry %d: $INDEX_ALLOCATION of %d bytes on a %d-byte volume: %w", id, n, f.size, ErrCorrupt)
			}
		}
	}
	var recs []*parser.INDEX_RECORD_ENTRY
	err = guard(id, "directory index", func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		recs = e.Dir(f.ctx)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []dirent
	seen := map[dirent]bool{}
	err = guard(id, "directory index entries", func() error {
		for _, r := range recs {
			fn := r.File()
			ref := int64(r.MftReference())
			if fn.NameType().Value == nameTypeDOS || ref < 0 || ref >= f.mftCount {
				continue
			}
			d := dirent{name: fsutil.SafeName(fn.Name()), id: ref}
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
			if len(out) > maxEntries {
				return fmt.Errorf("ntfs: MFT entry %d: directory with more than %d entries: %w", id, maxEntries, ErrCorrupt)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	f.lcMu.Lock()
	if f.lcN+len(out) > maxCachedEntries {
		clear(f.lc)
		f.lcN = 0
	}
	f.lc[id] = out
	f.lcN += len(out)
	f.lcMu.Unlock()
	return out, nil
}

// stat builds the metadata of entry id as reached by name from parent.
func (f *FS) stat(id int64, name string, parent int64) (*node, error) {
	e, as, err := f.entryAttrs(id)
	if err != nil {
		return nil, err
	}
	n := &node{name: name, id: id, parent: parent, st: &cfs.Stat{Inode: uint64(id)}}
	var siFlags uint32
	var fnBest []byte
	fnRank := -1
	err = guard(id, "attributes", func() error {
		n.st.Nlink = uint32(e.Link_count())
		n.dir = e.Flags().IsSet("DIRECTORY")
		n.inUse = e.Flags().IsSet("ALLOCATED")
		n.st.Deleted = !n.inUse
		for _, a := range as {
			switch a.Type().Value {
			case attrStandardInformation:
				b, err := f.attrContent(id, a, 1024)
				if err != nil || len(b) < 36 {
					return fmt.Errorf("ntfs: MFT entry %d: $STANDARD_INFORMATION of %d bytes: %v: %w", id, len(b), err, ErrCorrupt)
				}
				n.st.Btime = filetime(binary.LittleEndian.Uint64(b[0:]))
				n.st.Mtime = filetime(binary.LittleEndian.Uint64(b[8:]))
				n.st.Ctime = filetime(binary.LittleEndian.Uint64(b[16:]))
				n.st.Atime = filetime(binary.LittleEndian.Uint64(b[24:]))
				siFlags = binary.LittleEndian.Uint32(b[32:])
			case attrFileName:
				b, err := f.attrContent(id, a, 1024)
				if err != nil || len(b) < 66 || len(b) < 66+2*int(b[64]) {
					continue
				}
				// Prefer the $FILE_NAME of the name we came by.
				fnName := utf16le(b[66 : 66+2*int(b[64])])
				fnParent := int64(binary.LittleEndian.Uint64(b[0:]) & 0xffffffffffff)
				rank := 0
				if b[65] != nameTypeDOS {
					rank = 1
				}
				if fnParent == parent {
					rank += 2
				}
				if fnName == name {
					rank += 4
				}
				if rank > fnRank {
					fnRank, fnBest = rank, b
					n.fnName, n.fnPar = fnName, fnParent
				}
			case attrData:
				if !a.IsResident() && a.Runlist_vcn_start() != 0 {
					continue // a later piece of a stream split over entries
				}
				if sn := a.Name(); sn != "" {
					n.streams = append(n.streams, Stream{Name: sn, Size: a.DataSize()})
				} else {
					n.hasData = true
					n.st.Size = a.DataSize()
				}
			case attrReparsePoint:
				b, err := f.attrContent(id, a, 16384)
				if err == nil {
					n.st.Target = reparseTarget(b)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if fnBest != nil {
		n.st.Extra = map[string]time.Time{
			"fn_btime": filetime(binary.LittleEndian.Uint64(fnBest[8:])),
			"fn_mtime": filetime(binary.LittleEndian.Uint64(fnBest[16:])),
			"fn_ctime": filetime(binary.LittleEndian.Uint64(fnBest[24:])),
			"fn_atime": filetime(binary.LittleEndian.Uint64(fnBest[32:])),
		}
	}
	perm := uint32(0o777)
	if siFlags&0x01 != 0 { // FILE_ATTRIBUTE_READONLY
		perm = 0o555
	}
	switch {
	case n.st.Target != "":
		n.st.RawMode = 0o120000 | perm
		n.st.Mode = iofs.ModeSymlink | iofs.FileMode(perm)
	case n.dir:
		n.st.RawMode = 0o040000 | perm
		n.st.Mode = iofs.ModeDir | iofs.FileMode(perm)
		n.st.Size = 0
	default:
		n.st.RawMode = 0o100000 | perm
		n.st.Mode = iofs.FileMode(perm)
	}
	return n, nil
}

// reparseTarget decodes the substitute name of a symbolic link or
// junction reparse point; other tags give "".
func reparseTarget(b []byte) string {
	if len(b) < 16 {
		return ""
	}
	tag := binary.LittleEndian.Uint32(b)
	hdr := 16 // tag, data length, reserved, 4 name offsets/lengths
	switch tag {
	case reparseSymlink:
		hdr = 20 // plus flags
	case reparseMountPoint:
	default:
		return ""
	}
	off, n := int(binary.LittleEndian.Uint16(b[8:])), int(binary.LittleEndian.Uint16(b[10:]))
	if hdr+off+n > len(b) || n%2 != 0 {
		return ""
	}
	return utf16le(b[hdr+off : hdr+off+n])
}

// resolve walks a path from the root. A final "name:stream" component
// that is not itself a name selects a named $DATA stream.
func (f *FS) resolve(op, name string, follow bool) (*node, error) {
	return f.resolveDepth(op, name, follow, 0)
}

func (f *FS) resolveDepth(op, name string, follow bool, depth int) (*node, error) {
	if !iofs.ValidPath(name) {
		return nil, &iofs.PathError{Op: op, Path: name, Err: iofs.ErrInvalid}
	}
	if depth > fsutil.DefaultMaxHops {
		return nil, &iofs.PathError{Op: op, Path: name, Err: fmt.Errorf("ntfs: too many levels of reparse points: %w", ErrLoop)}
	}
	n, err := f.stat(rootEntry, ".", rootEntry)
	if err != nil {
		return nil, &iofs.PathError{Op: op, Path: name, Err: err}
	}
	if name == "." {
		return n, nil
	}
	comps := strings.Split(name, "/")
	seen := map[int64]bool{rootEntry: true}
	for i, comp := range comps {
		last := i == len(comps)-1
		if n.st.Target != "" && n.dir {
			// A junction or directory symlink in the middle of a path.
			t, ok := f.localTarget(n.st.Target)
			if !ok {
				return nil, &iofs.PathError{Op: op, Path: name, Err: fmt.Errorf("ntfs: reparse target %q is not on this volume: %w", n.st.Target, iofs.ErrNotExist)}
			}
			return f.resolveDepth(op, path.Join(append([]string{t}, comps[i:]...)...), follow, depth+1)
		}
		if !n.dir {
			return nil, &iofs.PathError{Op: op, Path: name, Err: iofs.ErrNotExist}
		}
		l, err := f.listing(n.id)
		if err != nil {
			return nil, &iofs.PathError{Op: op, Path: name, Err: err}
		}
		stream := ""
		d, ok := lookup(l, comp)
		if !ok && last {
			if base, s, cut := strings.Cut(comp, ":"); cut && s != "" {
				d, ok = lookup(l, base)
				stream = s
			}
		}
		if !ok {
			return nil, &iofs.PathError{Op: op, Path: name, Err: iofs.ErrNotExist}
		}
		c, err := f.stat(d.id, d.name, n.id)
		if err != nil {
			return nil, &iofs.PathError{Op: op, Path: name, Err: err}
		}
		if !c.inUse {
			return nil, &iofs.PathError{Op: op, Path: name, Err: iofs.ErrNotExist}
		}
		if c.dir && c.st.Target == "" {
			if seen[c.id] {
				return nil, &iofs.PathError{Op: op, Path: name, Err: fmt.Errorf("ntfs: MFT entry %d (%q) is also a parent: %w", c.id, c.name, ErrLoop)}
			}
			seen[c.id] = true
		}
		if stream != "" {
			var found *Stream
			for i := range c.streams {
				if strings.EqualFold(c.streams[i].Name, stream) {
					found = &c.streams[i]
				}
			}
			if found == nil {
				return nil, &iofs.PathError{Op: op, Path: name, Err: iofs.ErrNotExist}
			}
			c.stream = found.Name
			c.name = c.name + ":" + found.Name
			c.st.Size = found.Size
			c.dir = false
			c.st.Mode &^= iofs.ModeDir | iofs.ModeSymlink
			c.st.RawMode = 0o100000 | c.st.RawMode&0o7777
			c.st.Target = ""
		}
		n = c
	}
	if follow && n.st.Target != "" {
		t, ok := f.localTarget(n.st.Target)
		if !ok {
			return nil, &iofs.PathError{Op: op, Path: name, Err: fmt.Errorf("ntfs: reparse target %q is not on this volume: %w", n.st.Target, iofs.ErrNotExist)}
		}
		return f.resolveDepth(op, t, follow, depth+1)
	}
	return n, nil
}

// localTarget turns a reparse substitute name ("\??\C:\dir\x") into a
// path on this volume. The drive letter is assumed to be this volume.
func (f *FS) localTarget(t string) (string, bool) {
	t = strings.TrimPrefix(t, `\??\`)
	if len(t) >= 2 && t[1] == ':' {
		t = t[2:]
	} else if strings.HasPrefix(t, `\\`) || strings.HasPrefix(t, "Volume{") {
		return "", false
	}
	t = strings.Trim(strings.ReplaceAll(t, `\`, "/"), "/")
	if t == "" {
		return ".", true
	}
	t = path.Clean(t)
	return t, iofs.ValidPath(t)
}

// lookup finds name exactly, then case-insensitively (NTFS compares
// names through $UpCase; Unicode simple folding is close to it).
func lookup(l []dirent, name string) (dirent, bool) {
	for _, d := range l {
		if d.name == name {
			return d, true
		}
	}
	for _, d := range l {
		if strings.EqualFold(d.name, name) {
			return d, true
		}
	}
	return dirent{}, false
}

// Open opens a file, a directory, or "file:stream"; reparse points on
// this volume are followed.
func (f *FS) Open(name string) (iofs.File, error) {
	n, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	return f.openNode(n, name)
}

func (f *FS) openNode(n *node, name string) (*File, error) {
	fl := &File{fs: f, n: n, name: name}
	if n.dir {
		return fl, nil
	}
	if !n.hasData && n.stream == "" {
		return fl, nil // no $DATA: an empty file
	}
	if n.st.Size < 0 || n.st.Size > 1<<44 {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: fmt.Errorf("ntfs: MFT entry %d: $DATA size %d: %w", n.id, n.st.Size, ErrCorrupt)}
	}
	// go-ntfs sizes its LZNT1 buffers by the compression unit (2^unit
	// clusters); Windows only writes 4. Refuse what would allocate huge
	// buffers before handing the stream over.
	e, as, err := f.entryAttrs(n.id)
	if err != nil {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: err}
	}
	err = guard(n.id, "compression unit", func() error {
		for _, a := range as {
			if a.Type().Value == attrData && !a.IsResident() && a.Name() == n.stream {
				if u := a.Compression_unit_size(); u > 8 {
					return fmt.Errorf("ntfs: MFT entry %d: $DATA compression unit 2^%d clusters: %w", n.id, u, ErrCorrupt)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: err}
	}
	sname := n.stream
	if sname == "" {
		sname = parser.WILDCARD_STREAM_NAME // with the wildcard id: the unnamed stream first
	}
	err = guard(n.id, "open $DATA", func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		r, err := parser.OpenStream(f.ctx, e, attrData, parser.WILDCARD_STREAM_ID, sname)
		if err != nil {
			return fmt.Errorf("ntfs: MFT entry %d: $DATA %q: %w", n.id, n.stream, err)
		}
		fl.data = r
		return nil
	})
	if err != nil {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: err}
	}
	return fl, nil
}

// Stat follows reparse points on this volume; Lstat does not.
func (f *FS) Stat(name string) (iofs.FileInfo, error) {
	n, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return info(n), nil
}

func (f *FS) Lstat(name string) (iofs.FileInfo, error) {
	n, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return info(n), nil
}

// ReadLink returns a symbolic link's or junction's substitute name, raw
// ("\??\C:\Users").
func (f *FS) ReadLink(name string) (string, error) {
	n, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.st.Target == "" {
		return "", &iofs.PathError{Op: "readlink", Path: name, Err: iofs.ErrInvalid}
	}
	return n.st.Target, nil
}

// ReadDir lists a directory in index (collation) order. Reparse points
// are listed as symlinks, not followed.
func (f *FS) ReadDir(name string) ([]iofs.DirEntry, error) {
	n, err := f.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	return f.readDir(n, name)
}

func (f *FS) readDir(n *node, name string) ([]iofs.DirEntry, error) {
	if !n.dir {
		return nil, &iofs.PathError{Op: "readdir", Path: name, Err: fsutil.ErrNotDir}
	}
	l, err := f.listing(n.id)
	if err != nil {
		return nil, &iofs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]iofs.DirEntry, 0, len(l))
	var errs []error
	for _, d := range l {
		if n.id == rootEntry && d.id == rootEntry {
			continue // the root lists itself as "."
		}
		c, err := f.stat(d.id, d.name, n.id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !c.inUse {
			continue // a stale index entry; the file is in Deleted()
		}
		out = append(out, iofs.FileInfoToDirEntry(info(c)))
	}
	if len(errs) > 0 {
		return out, &iofs.PathError{Op: "readdir", Path: name, Err: errors.Join(errs...)}
	}
	return out, nil
}

// Streams lists the named $DATA streams (alternate data streams) of a
// file; open one as "path:name".
func (f *FS) Streams(name string) ([]Stream, error) {
	n, err := f.resolve("streams", name, false)
	if err != nil {
		return nil, err
	}
	return append([]Stream(nil), n.streams...), nil
}

// info is the FileInfo of n: its name as reached ("." for the root).
func info(n *node) *fsutil.FileInfo { return &fsutil.FileInfo{N: n.name, St: n.st} }

// File is an open file, stream or directory. Files implement
// io.ReaderAt and io.Seeker; sparse ranges read as zeros.
type File struct {
	fs   *FS
	n    *node
	name string
	data io.ReaderAt
	pos  fsutil.Cursor
	dir  fsutil.Dir
	mu   sync.Mutex
}

func (fl *File) Stat() (iofs.FileInfo, error) { return info(fl.n), nil }
func (fl *File) Close() error                 { return nil }

func (fl *File) Read(p []byte) (int, error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.pos.Read(fl, p)
}

func (fl *File) ReadAt(p []byte, off int64) (int, error) {
	if fl.n.dir {
		return 0, &iofs.PathError{Op: "read", Path: fl.name, Err: fsutil.ErrIsDir}
	}
	if off < 0 {
		return 0, &iofs.PathError{Op: "read", Path: fl.name, Err: iofs.ErrInvalid}
	}
	size := fl.n.st.Size
	if off >= size || fl.data == nil {
		return 0, io.EOF
	}
	want := p
	if int64(len(want)) > size-off {
		want = want[:size-off]
	}
	var n int
	err := guard(fl.n.id, "read $DATA", func() error {
		fl.fs.mu.Lock()
		defer fl.fs.mu.Unlock()
		var err error
		n, err = fl.data.ReadAt(want, off)
		if n < len(want) {
			// go-ntfs returns short reads at run ends; what is past the
			// runs but within the size reads as zeros (uninitialised).
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("ntfs: MFT entry %d: data at %#x: %w", fl.n.id, off+int64(n), err)
			}
			clear(want[n:])
			n = len(want)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (fl *File) Seek(offset int64, whence int) (int64, error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.pos.Move(offset, whence, fl.n.st.Size)
}

func (fl *File) ReadDir(count int) ([]iofs.DirEntry, error) {
	if fl.dir.Load == nil {
		fl.dir.Load = func() ([]iofs.DirEntry, error) { return fl.fs.readDir(fl.n, fl.name) }
	}
	return fl.dir.ReadDir(count)
}

var (
	_ cfs.FS           = (*FS)(nil)
	_ iofs.ReadDirFile = (*File)(nil)
	_ io.ReaderAt      = (*File)(nil)
)
