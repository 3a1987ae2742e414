// Package fs defines what every filesystem driver of coldcase provides: an
// io/fs.FS over one volume that also answers Stat, ReadDir, ReadLink and
// Lstat, and whose FileInfo.Sys() is a *Stat with the forensic metadata
// (inode, all four times with nanoseconds, owner, deleted state).
//
// Drivers live in sub-packages (fs/ext4, fs/xfs, fs/fat, fs/ntfs) and
// register themselves with Register, as database/sql drivers do; Open tries
// each registered probe on a volume's first bytes.
package fs

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"sort"
	"sync"
	"time"
)

// Stat is the forensic metadata of one filesystem object. Times that the
// filesystem does not record are the zero time.
type Stat struct {
	Inode   uint64            `json:"inode"`
	Mode    iofs.FileMode     `json:"-"`
	RawMode uint32            `json:"mode"` // st_mode as the filesystem stores it (type + permission bits)
	Size    int64             `json:"size"`
	UID     uint32            `json:"uid"`
	GID     uint32            `json:"gid"`
	Nlink   uint32            `json:"nlink"`
	Atime   time.Time         `json:"atime"`
	Mtime   time.Time         `json:"mtime"`
	Ctime   time.Time         `json:"ctime"` // inode change time (NTFS: MFT entry modified)
	Btime   time.Time         `json:"btime"` // birth / creation time
	Dtime   time.Time         `json:"dtime,omitempty"`
	Target  string            `json:"target,omitempty"` // symlink target, raw
	Xattrs  map[string][]byte `json:"xattrs,omitempty"`
	Deleted bool              `json:"deleted,omitempty"`
	// Extra holds times only some filesystems keep, e.g. NTFS $FILE_NAME
	// times under "fn_mtime", "fn_atime", "fn_ctime", "fn_btime".
	Extra map[string]time.Time `json:"extra,omitempty"`
}

// Info describes a filesystem as a whole.
type Info struct {
	Type          string    `json:"type"` // "ext4", "xfs", "vfat", "ntfs"
	Label         string    `json:"label,omitempty"`
	UUID          string    `json:"uuid,omitempty"`
	Size          int64     `json:"size"`
	BlockSize     int       `json:"block_size,omitempty"`
	LastMounted   string    `json:"last_mounted,omitempty"` // path it was last mounted on, where recorded
	LastMountTime time.Time `json:"last_mount_time,omitempty"`
	LastWriteTime time.Time `json:"last_write_time,omitempty"`
	Created       time.Time `json:"created,omitempty"`
	Dirty         bool      `json:"dirty"` // needs journal recovery / not cleanly unmounted
	Notes         []string  `json:"notes,omitempty"`
}

// FS is a read-only filesystem of one volume. Open and Stat follow symlinks
// (absolute targets resolve against this filesystem's own root); Lstat and
// ReadLink do not. fs/guest resolves symlinks across mount points itself
// with Lstat and ReadLink.
type FS interface {
	iofs.FS
	iofs.StatFS
	iofs.ReadDirFS
	iofs.ReadLinkFS
	Info() Info
}

// DeletedEntry is a file that is no longer linked in the live tree but whose
// inode or directory entry remains.
type DeletedEntry struct {
	Path string // best known path ("$OrphanFiles/…" style when the name is lost)
	Stat Stat
}

// DeletedLister is implemented by drivers that can recover deleted entries.
type DeletedLister interface {
	Deleted() ([]DeletedEntry, error)
}

// Driver opens one filesystem type.
type Driver struct {
	Name string
	// Probe reports whether the volume holds this filesystem, from its
	// superblock magic only.
	Probe func(r io.ReaderAt, size int64) bool
	Open  func(r io.ReaderAt, size int64) (FS, error)
	// Replay, when not nil, opens the volume as the kernel would see it
	// after mounting: a journal that needs recovery is replayed in memory.
	Replay func(r io.ReaderAt, size int64) (FS, error)
}

var (
	mu      sync.RWMutex
	drivers = map[string]Driver{}
)

// Register makes a driver available to Open and Detect. It panics on a
// duplicate name, as it runs from init.
func Register(d Driver) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := drivers[d.Name]; dup {
		panic("fs: Register called twice for " + d.Name)
	}
	drivers[d.Name] = d
}

func sorted() []Driver {
	mu.RLock()
	defer mu.RUnlock()
	ds := make([]Driver, 0, len(drivers))
	for _, d := range drivers {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].Name < ds[j].Name })
	return ds
}

// ErrUnknown is returned when no registered driver recognises a volume.
var ErrUnknown = errors.New("no known filesystem")

// Detect names the filesystem on a volume, or "" when none is recognised.
func Detect(r io.ReaderAt, size int64) string {
	for _, d := range sorted() {
		if d.Probe(r, size) {
			return d.Name
		}
	}
	return ""
}

// Open detects the filesystem on a volume and opens it read-only, as it is
// on disk — as TSK and debugfs read it.
func Open(r io.ReaderAt, size int64) (FS, error) { return open(r, size, false) }

// OpenReplayed is Open, but a filesystem whose journal needs recovery (the
// VM was stopped or snapshotted while running) is shown as after the
// kernel's replay on mount, with the committed transactions applied in
// memory; nothing is written. Drivers without replay open as Open.
func OpenReplayed(r io.ReaderAt, size int64) (FS, error) { return open(r, size, true) }

func open(r io.ReaderAt, size int64, replay bool) (FS, error) {
	for _, d := range sorted() {
		if d.Probe(r, size) {
			openFS := d.Open
			if replay && d.Replay != nil {
				openFS = d.Replay
			}
			f, err := openFS(r, size)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", d.Name, err)
			}
			return f, nil
		}
	}
	return nil, ErrUnknown
}

// StatOf returns the forensic metadata behind a FileInfo from any driver,
// or nil when the FileInfo did not come from one.
func StatOf(fi iofs.FileInfo) *Stat {
	if fi == nil {
		return nil
	}
	st, _ := fi.Sys().(*Stat)
	return st
}
