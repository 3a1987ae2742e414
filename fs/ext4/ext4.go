// Package ext4 reads ext2, ext3 and ext4 filesystems read-only from an
// io.ReaderAt, for forensics: every inode's four times with nanoseconds
// (including i_crtime and dates past 2038), owners, extended attributes,
// and the inodes and names deleted files leave behind.
//
// It follows the on-disk layout of the kernel's fs/ext4/ext4.h: the
// superblock, 32- or 64-byte group descriptors (meta_bg included), inodes
// of any size, extent trees, ext2/3 indirect blocks, inline data, linear
// and htree directories (whose leaves a linear read lists in full), and
// xattrs in the inode and in an external block. Checksums are not
// verified. Open reads the volume as it is on disk, as The Sleuth Kit
// does: a filesystem whose journal needs recovery is reported Dirty, and
// OpenReplayed applies its committed transactions in memory, as a mount
// would, without writing.
//
// Every offset, count and link read from the volume is checked; a bad
// structure is an error naming the inode, block and byte offset. Extent
// trees and indirect blocks may not revisit a block; path lookups refuse a
// directory that is its own ancestor or that is reached by a second name
// (a hard-linked directory), so that any io/fs walk ends and visits each
// directory once; symlinks are followed at most 40 times.
//
// Importing the package registers the "ext4" driver with coldcase's fs
// package.
package ext4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/fs/internal/fsutil"
)

func init() {
	cfs.Register(cfs.Driver{Name: "ext4", Probe: Probe,
		Open:   func(r io.ReaderAt, size int64) (cfs.FS, error) { return Open(r, size) },
		Replay: func(r io.ReaderAt, size int64) (cfs.FS, error) { return OpenReplayed(r, size) },
	})
}

// Probe reports whether the volume carries the ext2/3/4 superblock magic.
func Probe(r io.ReaderAt, size int64) bool {
	var b [2]byte
	if size < superblockOffset+superblockSize {
		return false
	}
	if _, err := r.ReadAt(b[:], superblockOffset+0x38); err != nil {
		return false
	}
	return binary.LittleEndian.Uint16(b[:]) == magic
}

// FS is an opened ext2/3/4 filesystem. It is safe for concurrent use.
type FS struct {
	r     io.ReaderAt
	size  int64
	sb    *Superblock
	bs    int64
	cache *chunkCache
	gds   []groupDesc
	notes []string

	dirMu    sync.Mutex
	dirCache map[uint64]*dirIndex // lookups by name, bounded by dirCacheMax names
	parents  map[uint64]uint64    // ".." of directories met in lookups, bounded by maxParents
	dirNames int

	walk fsutil.Walker[step] // path resolution; built once, read-only
}

// Open reads the superblock and group descriptors of the filesystem on r,
// which holds size bytes.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	c := newChunkCache(r, size)
	b, err := c.readMeta(superblockOffset, superblockSize)
	if err != nil {
		return nil, fmt.Errorf("ext4: superblock: %w", err)
	}
	sb, err := parseSuperblock(b)
	if err != nil {
		return nil, fmt.Errorf("ext4: %w", err)
	}
	f := &FS{r: r, size: size, sb: sb, bs: sb.BlockSize(), cache: c, dirCache: map[uint64]*dirIndex{}, parents: map[uint64]uint64{}}
	f.walk = f.walker()

	groups := sb.groupCount()
	if need := (uint64(sb.InodesCount) + uint64(sb.InodesPerGroup) - 1) / uint64(sb.InodesPerGroup); need > groups {
		return nil, fmt.Errorf("ext4: superblock at %#x: %d inodes need %d groups, the blocks make %d", superblockOffset, sb.InodesCount, need, groups)
	}
	// Descriptors must lie in the volume, which bounds their number by its size.
	if groups*uint64(sb.DescSize) > uint64(size) {
		return nil, fmt.Errorf("ext4: superblock at %#x: %d group descriptors do not fit in a %d-byte volume", superblockOffset, groups, size)
	}
	if fsBytes := sb.BlocksCount * uint64(f.bs); fsBytes > uint64(size) {
		f.notes = append(f.notes, fmt.Sprintf("volume is %d bytes, shorter than the filesystem's %d", size, fsBytes))
	}
	perBlock := uint64(f.bs) / uint64(sb.DescSize)
	f.gds = make([]groupDesc, groups)
	for i := uint64(0); i < groups; i += perBlock {
		blk := sb.descBlock(i / perBlock)
		if blk >= sb.BlocksCount {
			return nil, fmt.Errorf("ext4: group descriptor block %d past the filesystem's %d blocks", blk, sb.BlocksCount)
		}
		db, err := c.readMeta(int64(blk)*f.bs, f.bs)
		if err != nil {
			return nil, fmt.Errorf("ext4: group descriptors at block %d: %w", blk, err)
		}
		for j := uint64(0); j < perBlock && i+j < groups; j++ {
			f.gds[i+j] = parseGroupDesc(db[j*uint64(sb.DescSize):], sb.FeatureIncompat&incompat64Bit != 0)
		}
	}
	if sb.FeatureIncompat&incompatRecover != 0 {
		f.notes = append(f.notes, noteNotReplayed)
	}
	if sb.State&1 == 0 {
		f.notes = append(f.notes, "not cleanly unmounted (state not clean)")
	}
	if sb.State&2 != 0 {
		f.notes = append(f.notes, "errors detected (state has errors)")
	}
	if sb.LastOrphan != 0 {
		f.notes = append(f.notes, fmt.Sprintf("orphan inode list starts at inode %d", sb.LastOrphan))
	}
	f.notes = append(f.notes, "features: "+strings.Join(sb.Features(), " "))
	if _, err := f.inode(rootIno); err != nil {
		return nil, fmt.Errorf("ext4: root directory: %w", err)
	}
	return f, nil
}

const rootIno = 2

const noteNotReplayed = "journal needs recovery (needs_recovery set); read as on disk, not replayed (see OpenReplayed)"

// Superblock returns the decoded superblock.
func (f *FS) Superblock() *Superblock { return f.sb }

// Info describes the filesystem.
func (f *FS) Info() cfs.Info {
	sb := f.sb
	return cfs.Info{
		Type:          sb.Type(),
		Label:         sb.VolumeName,
		UUID:          sb.UUIDString(),
		Size:          int64(sb.BlocksCount) * f.bs,
		BlockSize:     int(f.bs),
		LastMounted:   sb.LastMounted,
		LastMountTime: sb.Mtime,
		LastWriteTime: sb.Wtime,
		Created:       sb.MkfsTime,
		Dirty:         sb.FeatureIncompat&incompatRecover != 0 || sb.State&1 == 0,
		Notes:         slices.Clone(f.notes),
	}
}

// inode reads inode number ino.
func (f *FS) inode(ino uint64) (*Inode, error) {
	in := new(Inode)
	if err := f.readInode(ino, in); err != nil {
		return nil, err
	}
	return in, nil
}

// readInode decodes inode ino into in.
func (f *FS) readInode(ino uint64, in *Inode) error {
	if ino == 0 || ino > uint64(f.sb.InodesCount) {
		return fmt.Errorf("inode %d out of range (1..%d)", ino, f.sb.InodesCount)
	}
	g := (ino - 1) / uint64(f.sb.InodesPerGroup)
	idx := (ino - 1) % uint64(f.sb.InodesPerGroup)
	if g >= uint64(len(f.gds)) {
		return fmt.Errorf("inode %d: group %d beyond %d groups", ino, g, len(f.gds))
	}
	tbl := f.gds[g].InodeTable
	tblBlocks := (uint64(f.sb.InodesPerGroup)*uint64(f.sb.InodeSize) + uint64(f.bs) - 1) / uint64(f.bs)
	if tbl == 0 || tbl+tblBlocks > f.sb.BlocksCount {
		return fmt.Errorf("inode %d: group %d inode table at block %d outside the filesystem", ino, g, tbl)
	}
	off := int64(tbl)*f.bs + int64(idx)*int64(f.sb.InodeSize)
	b, err := f.cache.readMeta(off, int64(f.sb.InodeSize))
	if err != nil {
		return fmt.Errorf("inode %d: %w", ino, err)
	}
	decodeInode(in, ino, off, b)
	return nil
}

// Inode returns the decoded inode ino, for callers that work by number.
func (f *FS) Inode(ino uint64) (*Inode, error) { return f.inode(ino) }

// Runs returns the block map of inode ino (nil for inline data).
func (f *FS) Runs(ino uint64) ([]Run, error) {
	in, err := f.inode(ino)
	if err != nil {
		return nil, err
	}
	d, err := f.dataOf(in)
	if err != nil {
		return nil, err
	}
	return d.runs, nil
}

// stat builds the shared forensic metadata of an inode.
func (f *FS) stat(in *Inode) (*cfs.Stat, error) {
	st := new(cfs.Stat)
	err := f.statInto(in, st)
	return st, err
}

// statInto fills st from in.
func (f *FS) statInto(in *Inode, st *cfs.Stat) error {
	*st = cfs.Stat{
		Inode:   in.Num,
		Mode:    fsutil.UnixMode(in.Mode),
		RawMode: uint32(in.Mode),
		Size:    int64(in.Size),
		UID:     in.UID,
		GID:     in.GID,
		Nlink:   uint32(in.Links),
		Atime:   in.Atime,
		Mtime:   in.Mtime,
		Ctime:   in.Ctime,
		Btime:   in.Btime,
	}
	if in.Dtime != 0 {
		st.Dtime = time.Unix(int64(in.Dtime), 0).UTC()
	}
	if st.Size < 0 {
		return fmt.Errorf("inode %d at %#x: size %d out of range", in.Num, in.Offset, in.Size)
	}
	x, err := f.xattrs(in)
	st.Xattrs = x
	if err != nil {
		return err
	}
	if in.isSymlink() {
		t, err := f.readlinkInode(in)
		if err != nil {
			return err
		}
		st.Target = t
	}
	return nil
}

// maxSymlink bounds a symlink target; the kernel's is one page.
const maxSymlink = 4096

func (f *FS) readlinkInode(in *Inode) (string, error) {
	if in.Size > maxSymlink {
		return "", fmt.Errorf("inode %d at %#x: symlink of %d bytes exceeds %d", in.Num, in.Offset, in.Size, maxSymlink)
	}
	d, err := f.dataOf(in)
	if err != nil {
		return "", err
	}
	buf := make([]byte, in.Size)
	if n, err := d.ReadAt(buf, 0); n < len(buf) {
		return "", fmt.Errorf("inode %d: symlink target: %w", in.Num, err)
	}
	return string(buf), nil
}

// dirIndex is a parsed directory kept for name lookups.
type dirIndex struct {
	names map[string]uint32
	// extraLinks holds the names after the first that link the same
	// directory inode (nil when there are none, as on any sane volume).
	extraLinks map[string]bool
}

const dirCacheMax = 1 << 18 // names held across cached directories

// lookup finds name in directory inode dir. extra reports a second or
// later name for a directory inode this directory already lists.
func (f *FS) lookup(dir *Inode, name string) (ino uint32, ok, extra bool, err error) {
	f.dirMu.Lock()
	di := f.dirCache[dir.Num]
	f.dirMu.Unlock()
	if di == nil {
		di = &dirIndex{names: map[string]uint32{}}
		var dirs map[uint32]bool
		err := f.readDir(dir, false, func(e dirent) error {
			name := string(e.Name)
			di.names[name] = e.Ino
			if (e.Type == ftDir || e.Type == ftUnknown) && name != "." && name != ".." {
				if dirs == nil {
					dirs = map[uint32]bool{}
				}
				if dirs[e.Ino] {
					if di.extraLinks == nil {
						di.extraLinks = map[string]bool{}
					}
					di.extraLinks[name] = true
				}
				dirs[e.Ino] = true
			}
			return nil
		})
		if err != nil {
			// A damaged directory is still searched as far as it reads.
			if ino, ok := di.names[name]; ok {
				return ino, true, di.extraLinks[name], nil
			}
			return 0, false, false, err
		}
		f.dirMu.Lock()
		if f.dirNames+len(di.names) > dirCacheMax {
			clear(f.dirCache)
			f.dirNames = 0
		}
		f.dirCache[dir.Num] = di
		f.dirNames += len(di.names)
		f.dirMu.Unlock()
	}
	ino, ok = di.names[name]
	return ino, ok, di.extraLinks[name], nil
}

// parentOf reads a directory's ".." entry: the second entry of its first
// block (or, for inline data, the first four bytes of i_block).
func (f *FS) parentOf(dir *Inode) (uint64, error) {
	f.dirMu.Lock()
	p, ok := f.parents[dir.Num]
	f.dirMu.Unlock()
	if ok {
		return p, nil
	}
	p, err := f.readParent(dir)
	if err != nil {
		return 0, err
	}
	f.dirMu.Lock()
	if len(f.parents) >= maxParents {
		clear(f.parents)
	}
	f.parents[dir.Num] = p
	f.dirMu.Unlock()
	return p, nil
}

const maxParents = 1 << 16

func (f *FS) readParent(dir *Inode) (uint64, error) {
	if dir.Flags&flagInlineData != 0 {
		return uint64(binary.LittleEndian.Uint32(dir.Block[:4])), nil
	}
	runs, err := f.blockRuns(dir)
	if err != nil {
		return 0, err
	}
	if len(runs) == 0 || runs[0].Logical != 0 {
		return 0, fmt.Errorf("directory inode %d at %#x: no first block", dir.Num, dir.Offset)
	}
	off := int64(runs[0].Physical) * f.bs
	b, err := f.cache.readMeta(off, f.bs)
	if err != nil {
		return 0, fmt.Errorf("directory inode %d: %w", dir.Num, err)
	}
	var parent uint64
	n := 0
	stop := errors.New("stop")
	err = f.parseDirBlock(b, off, dir.Num, false, func(e dirent) error {
		n++
		if n == 2 {
			if string(e.Name) == ".." {
				parent = uint64(e.Ino)
			}
			return stop
		}
		return nil
	})
	if parent == 0 {
		if err == nil || err == stop {
			err = errors.New(`no ".." entry`)
		}
		return 0, fmt.Errorf("directory inode %d: first block %d at %#x: %w", dir.Num, runs[0].Physical, off, err)
	}
	return parent, nil
}

// ErrCycle is returned when a path goes through a directory that contains
// one of its own ancestors, or through a second name of a directory.
var ErrCycle = fsutil.ErrCycle

// step is a node of a path walk: an inode, and whether its name is a
// later one for a directory inode its parent already lists.
type step struct {
	*Inode
	extraLink bool
}

// walker resolves paths over f with fsutil's symlink, depth and ancestor
// bounds, naming inodes in its errors and adding ext4's rule on
// hard-linked directories (enter).
func (f *FS) walker() fsutil.Walker[step] {
	return fsutil.Walker[step]{
		Root: func() (step, error) {
			in, err := f.inode(rootIno)
			return step{Inode: in}, err
		},
		IsDir:  step.isDir,
		IsLink: step.isSymlink,
		Lookup: func(dir step, name string) (step, error) {
			ino, ok, extra, err := f.lookup(dir.Inode, name)
			if err != nil {
				return step{}, err
			}
			if !ok {
				return step{}, iofs.ErrNotExist
			}
			in, err := f.inode(uint64(ino))
			return step{in, extra}, err
		},
		ReadLink: func(s step) (string, error) { return f.readlinkInode(s.Inode) },
		Same:     func(a, b step) bool { return a.Num == b.Num },
		Cycle: func(again step, _ string) error {
			return fmt.Errorf("%w: inode %d is its own ancestor", ErrCycle, again.Num)
		},
		NotDir: func(s step) error {
			return fmt.Errorf("inode %d is %w: %w", s.Num, fsutil.ErrNotDir, iofs.ErrNotExist)
		},
		Enter: f.enter,
	}
}

// enter admits a directory under cur only by its one name there, in the
// parent its ".." names. Other links to it (hard-linked directories) would
// let a walk revisit subtrees, exponentially in depth; they are refused
// and only the first name leads in.
func (f *FS) enter(cur, next step, _ string) error {
	if !next.isDir() {
		return nil
	}
	parent, err := f.parentOf(next.Inode)
	if err != nil {
		return err
	}
	switch {
	case parent != cur.Num:
		return fmt.Errorf("%w: directory inode %d reached from inode %d, but its \"..\" is inode %d (hard-linked directory)", ErrCycle, next.Num, cur.Num, parent)
	case next.extraLink:
		return fmt.Errorf("%w: directory inode %d has an earlier name in inode %d (hard-linked directory)", ErrCycle, next.Num, cur.Num)
	}
	return nil
}

// resolve walks name from the root and returns its inode. follow makes
// the last element's symlink followed too; intermediate ones always are.
func (f *FS) resolve(op, name string, follow bool) (*Inode, error) {
	s, err := f.walk.Last(op, name, follow)
	return s.Inode, err
}

// fileInfo is the FileInfo of every object this package returns; its Stat
// shares the allocation.
type fileInfo struct {
	fsutil.FileInfo
	st cfs.Stat
}

func (f *FS) infoOf(op, name string, in *Inode) (*fileInfo, error) {
	fi := &fileInfo{FileInfo: fsutil.FileInfo{N: fsutil.BaseName(name)}}
	fi.St = &fi.st
	if err := f.statInto(in, &fi.st); err != nil {
		return nil, &iofs.PathError{Op: op, Path: name, Err: err}
	}
	return fi, nil
}

// Stat returns the metadata of name, following symlinks.
func (f *FS) Stat(name string) (iofs.FileInfo, error) {
	in, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return f.infoOf("stat", name, in)
}

// Lstat returns the metadata of name without following a final symlink.
func (f *FS) Lstat(name string) (iofs.FileInfo, error) {
	in, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return f.infoOf("lstat", name, in)
}

// ReadLink returns a symlink's target as stored.
func (f *FS) ReadLink(name string) (string, error) {
	in, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if !in.isSymlink() {
		return "", &iofs.PathError{Op: "readlink", Path: name, Err: iofs.ErrInvalid}
	}
	t, err := f.readlinkInode(in)
	if err != nil {
		return "", &iofs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return t, nil
}

// dirEntry is a directory entry whose inode is read on Info.
type dirEntry struct {
	f    *FS
	name string
	ino  uint32
	typ  iofs.FileMode
}

func (d *dirEntry) Name() string        { return d.name }
func (d *dirEntry) IsDir() bool         { return d.typ.IsDir() }
func (d *dirEntry) Type() iofs.FileMode { return d.typ }
func (d *dirEntry) String() string      { return iofs.FormatDirEntry(d) }
func (d *dirEntry) Info() (iofs.FileInfo, error) {
	var in Inode
	if err := d.f.readInode(uint64(d.ino), &in); err != nil {
		return nil, &iofs.PathError{Op: "stat", Path: d.name, Err: err}
	}
	return d.f.infoOf("stat", d.name, &in)
}

// Inode is the entry's inode number.
func (d *dirEntry) Inode() uint64 { return uint64(d.ino) }

var ftMode = [...]iofs.FileMode{
	ftReg: 0, ftDir: iofs.ModeDir, ftChr: iofs.ModeDevice | iofs.ModeCharDevice,
	ftBlk: iofs.ModeDevice, ftFifo: iofs.ModeNamedPipe, ftSock: iofs.ModeSocket, ftSymlink: iofs.ModeSymlink,
}

// ReadDir lists a directory sorted by name, without "." and "..".
func (f *FS) ReadDir(name string) ([]iofs.DirEntry, error) {
	in, err := f.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	return f.listing(name, in)
}

// listing is readDirInode with errors naming the path; what was read
// before a damaged block is returned with the error.
func (f *FS) listing(name string, in *Inode) ([]iofs.DirEntry, error) {
	ents, err := f.readDirInode(in)
	if err != nil {
		err = &iofs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return ents, err
}

func (f *FS) readDirInode(in *Inode) ([]iofs.DirEntry, error) {
	if !in.isDir() {
		return nil, fmt.Errorf("inode %d is %w", in.Num, fsutil.ErrNotDir)
	}
	// Entries and names are collected in two buffers and handed out as
	// slices of them: two allocations per directory, not two per entry.
	var ents []dirEntry
	var names []byte
	var ends []int
	err := f.readDir(in, false, func(e dirent) error {
		if bytes.Equal(e.Name, []byte(".")) || bytes.Equal(e.Name, []byte("..")) {
			return nil
		}
		names = append(names, e.Name...)
		ends = append(ends, len(names))
		ents = append(ents, dirEntry{f: f, ino: e.Ino})
		de := &ents[len(ents)-1]
		if int(e.Type) < len(ftMode) && e.Type != ftUnknown {
			de.typ = ftMode[e.Type]
		} else {
			// no file type in the entry (ext2 without filetype): ask the inode
			var child Inode
			if f.readInode(uint64(e.Ino), &child) == nil {
				de.typ = fsutil.UnixMode(child.Mode).Type()
			}
		}
		return nil
	})
	all := string(names)
	out := make([]iofs.DirEntry, len(ents))
	start := 0
	for i := range ents {
		ents[i].name = all[start:ends[i]]
		start = ends[i]
		out[i] = &ents[i]
	}
	slices.SortFunc(out, func(a, b iofs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, err
}

// Open opens name for reading, following symlinks.
func (f *FS) Open(name string) (iofs.File, error) {
	in, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	fi, err := f.infoOf("open", name, in)
	if err != nil {
		return nil, err
	}
	if in.isDir() {
		return &dir{fi: fi, Dir: fsutil.Dir{Load: func() ([]iofs.DirEntry, error) { return f.listing(name, in) }}}, nil
	}
	d, err := f.dataOf(in)
	if err != nil {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: err}
	}
	return &File{d: d, fi: fi}, nil
}

// File is an open regular file (or other non-directory). It implements
// io.ReaderAt and io.Seeker besides fs.File.
type File struct {
	d   *fileData
	fi  *fileInfo
	pos fsutil.Cursor
}

func (fl *File) Stat() (iofs.FileInfo, error) { return fl.fi, nil }
func (fl *File) Close() error                 { return nil }

func (fl *File) Read(p []byte) (int, error) {
	if len(p) > maxRead {
		p = p[:maxRead]
	}
	return fl.pos.Read(fl.d, p)
}

func (fl *File) ReadAt(p []byte, off int64) (int, error) { return fl.d.ReadAt(p, off) }

func (fl *File) Seek(off int64, whence int) (int64, error) {
	return fl.pos.Move(off, whence, fl.d.size)
}

// dir is an open directory; its entries are read on the first ReadDir.
type dir struct {
	fi *fileInfo
	fsutil.Dir
}

func (d *dir) Stat() (iofs.FileInfo, error) { return d.fi, nil }
func (d *dir) Close() error                 { return nil }
func (d *dir) Read([]byte) (int, error) {
	return 0, &iofs.PathError{Op: "read", Path: d.fi.N, Err: fsutil.ErrIsDir}
}

var (
	_ cfs.FS            = (*FS)(nil)
	_ cfs.DeletedLister = (*FS)(nil)
	_ io.ReaderAt       = (*File)(nil)
	_ iofs.ReadDirFile  = (*dir)(nil)
)
