package ext4

import (
	"errors"
	"fmt"
	"path"
	"sort"

	cfs "github.com/coldcase-dfir/coldcase/fs"
)

// OrphanDir is the path prefix of deleted inodes whose name was not found,
// as The Sleuth Kit names them ("$OrphanFiles/OrphanFile-<inode>").
const OrphanDir = "$OrphanFiles"

// maxWalkErrors bounds the errors Deleted collects while it keeps going.
const maxWalkErrors = 16

// Deleted lists inodes that were deleted but still hold their metadata:
// a deletion time set and either no links left or a clear bit in the inode
// bitmap (debugfs kill_file leaves the link count). A name is given when
// one is found in the slack of a live directory block; otherwise the entry
// is placed under $OrphanFiles. Damage met on the way is returned joined
// with whatever was found.
func (f *FS) Deleted() ([]cfs.DeletedEntry, error) {
	var errs []error
	note := func(err error) {
		if len(errs) < maxWalkErrors {
			errs = append(errs, err)
		}
	}
	names := f.slackNames(note)

	var out []cfs.DeletedEntry
	csum := f.sb.FeatureRoCompat&(roCompatGdtCsum|roCompatMetadataCsum) != 0
	ipg := uint64(f.sb.InodesPerGroup)
	for g, gd := range f.gds {
		if csum && gd.Flags&bgInodeUninit != 0 {
			continue
		}
		used := ipg
		if csum && uint64(gd.ItableUnused) < ipg {
			used = ipg - uint64(gd.ItableUnused)
		}
		var bitmap []byte
		if gd.InodeBitmap != 0 && gd.InodeBitmap < f.sb.BlocksCount {
			b, err := f.cache.readMeta(int64(gd.InodeBitmap)*f.bs, f.bs)
			if err != nil {
				note(fmt.Errorf("group %d: inode bitmap: %w", g, err))
			}
			bitmap = b
		}
		for i := uint64(0); i < used; i++ {
			ino := uint64(g)*ipg + i + 1
			if ino > uint64(f.sb.InodesCount) {
				break
			}
			if ino < uint64(f.sb.FirstIno) {
				continue
			}
			in, err := f.inode(ino)
			if err != nil {
				note(err)
				break // the rest of this group's table is as unreadable
			}
			if in.Mode == 0 || in.Dtime == 0 {
				continue
			}
			allocated := bitmap != nil && int(i/8) < len(bitmap) && bitmap[i/8]&(1<<(i%8)) != 0
			if in.Links != 0 && allocated {
				continue // dtime reused as the orphan-list link of a live inode
			}
			st, _ := f.stat(in) // blocks of a deleted inode may be reused; keep what decodes
			st.Deleted = true
			p, ok := names[uint32(ino)]
			if !ok {
				p = fmt.Sprintf("%s/OrphanFile-%d", OrphanDir, ino)
			}
			out = append(out, cfs.DeletedEntry{Path: p, Stat: *st})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stat.Inode < out[j].Stat.Inode })
	return out, errors.Join(errs...)
}

// slackNames walks the live tree once and maps the inodes of deleted
// directory entries found in block slack to their paths. Each directory
// inode is read once, so a tree with cycles or hard-linked directories
// ends.
func (f *FS) slackNames(note func(error)) map[uint32]string {
	type item struct {
		ino  uint64
		path string
	}
	names := map[uint32]string{}
	seen := map[uint64]bool{rootIno: true}
	queue := []item{{rootIno, ""}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		in, err := f.inode(it.ino)
		if err != nil {
			note(err)
			continue
		}
		if !in.isDir() {
			continue
		}
		err = f.readDir(in, true, func(e dirent) error {
			name := string(e.Name)
			if name == "." || name == ".." {
				return nil
			}
			p := path.Join(it.path, name)
			if e.Deleted {
				if _, dup := names[e.Ino]; !dup {
					names[e.Ino] = p
				}
				return nil
			}
			if seen[uint64(e.Ino)] || (e.Type != ftDir && e.Type != ftUnknown) {
				return nil
			}
			if e.Type == ftUnknown {
				child, err := f.inode(uint64(e.Ino))
				if err != nil || !child.isDir() {
					return nil
				}
			}
			seen[uint64(e.Ino)] = true
			queue = append(queue, item{uint64(e.Ino), p})
			return nil
		})
		if err != nil {
			note(err)
		}
	}
	return names
}
