package main

import (
	"errors"
	iofs "io/fs"
	"path"
	"strconv"
	"strings"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/timeline"
)

// splitImagesPath separates images from a trailing guest path: with two or
// more arguments, a last argument starting with "/" is the guest path.
func splitImagesPath(args []string, root string) (images []string, guestPath string) {
	if root != "" {
		if len(args) > 0 {
			return nil, args[len(args)-1]
		}
		return nil, "/"
	}
	if len(args) >= 2 && strings.HasPrefix(args[len(args)-1], "/") {
		return args[:len(args)-1], args[len(args)-1]
	}
	return args, "/"
}

// fsName turns a guest path ("/etc/passwd") into an io/fs name
// ("etc/passwd").
func fsName(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// fileOf describes a filesystem object for the timeline and bodyfile.
func fileOf(guestPath string, fi iofs.FileInfo) timeline.File {
	f := timeline.File{Path: guestPath, Size: fi.Size(), Mtime: fi.ModTime(), Inode: "0"}
	if st := cfs.StatOf(fi); st != nil {
		f.Inode = strconv.FormatUint(st.Inode, 10)
		f.RawMode, f.UID, f.GID = st.RawMode, st.UID, st.GID
		f.Atime, f.Mtime, f.Ctime, f.Btime = st.Atime, st.Mtime, st.Ctime, st.Btime
		f.Target, f.Deleted = st.Target, st.Deleted
	} else {
		f.RawMode = unixMode(fi.Mode())
	}
	f.Evidence.Path = guestPath
	if n, err := strconv.ParseUint(f.Inode, 10, 64); err == nil {
		f.Evidence.Inode = n
	}
	return f
}

// unixMode rebuilds st_mode bits from an io/fs mode, for trees that give no
// forensic Stat (a --root directory read through os.DirFS).
func unixMode(m iofs.FileMode) uint32 {
	u := uint32(m.Perm())
	switch {
	case m.IsDir():
		u |= 0o040000
	case m&iofs.ModeSymlink != 0:
		u |= 0o120000
	case m&iofs.ModeNamedPipe != 0:
		u |= 0o010000
	case m&iofs.ModeSocket != 0:
		u |= 0o140000
	case m&iofs.ModeCharDevice != 0:
		u |= 0o020000
	case m&iofs.ModeDevice != 0:
		u |= 0o060000
	default:
		u |= 0o100000
	}
	if m&iofs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&iofs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&iofs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// walkFiles calls fn for every object under start (not start itself when
// recursive), depth first in name order, with Lstat metadata. Errors on
// single directories are reported through warn and the walk goes on: a
// damaged directory must not hide the rest of the evidence.
func walkFiles(fsys iofs.FS, start string, recursive bool, warn func(error), fn func(guestPath string, fi iofs.FileInfo) error) error {
	name := fsName(start)
	lst, ok := fsys.(iofs.ReadLinkFS)
	lstat := func(n string) (iofs.FileInfo, error) {
		if ok {
			return lst.Lstat(n)
		}
		return iofs.Stat(fsys, n)
	}
	fi, err := iofs.Stat(fsys, name)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		fi, err = lstat(name)
		if err != nil {
			return err
		}
		return fn("/"+strings.TrimPrefix(name, "."), fi)
	}
	return iofs.WalkDir(fsys, name, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			if p == name {
				return err
			}
			warn(err)
			if d != nil && d.IsDir() {
				return iofs.SkipDir
			}
			return nil
		}
		if p == name {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			warn(err)
			return nil
		}
		if err := fn("/"+p, info); err != nil {
			return err
		}
		if d.IsDir() && !recursive {
			return iofs.SkipDir
		}
		return nil
	})
}

var errStop = errors.New("stop")
