package ntfs

import (
	"errors"
	"fmt"
	"path"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/fs/internal/fsutil"
)

// Deleted lists MFT entries that are not in use but still hold their
// attributes: deleted files and directories with their $SI and $FN times.
// The path is rebuilt from the $FILE_NAME parent references while those
// lead to the root through entries in use; otherwise it is
// "$OrphanFiles/name", and entries without any $FILE_NAME are
// "$OrphanFiles/OrphanFile-N", as TSK names them. The scan visits each
// MFT entry once (bounded by the $MFT size); unreadable entries are
// skipped.
func (f *FS) Deleted() ([]cfs.DeletedEntry, error) {
	var out []cfs.DeletedEntry
	dirs := map[int64]string{rootEntry: ""}
	var errs []error
	for id := int64(0); id < f.mftCount; id++ {
		e, err := f.entry(id)
		if err != nil {
			continue // never used, or not an MFT record
		}
		var inUse bool
		if err := guard(id, "flags", func() error { inUse = e.Flags().IsSet("ALLOCATED"); return nil }); err != nil {
			errs = append(errs, err)
			continue
		}
		if inUse {
			continue
		}
		n, err := f.stat(id, "", -1)
		if err != nil {
			continue
		}
		if n.st.Btime.IsZero() && n.st.Mtime.IsZero() && n.fnName == "" {
			continue // no $STANDARD_INFORMATION or $FILE_NAME: nothing left
		}
		p := fmt.Sprintf("$OrphanFiles/OrphanFile-%d", id)
		if n.fnName != "" {
			p = "$OrphanFiles/" + fsutil.SafeName(n.fnName)
			if dp, ok := f.dirPath(n.fnPar, dirs, 0); ok {
				p = path.Join(dp, fsutil.SafeName(n.fnName))
			}
		}
		out = append(out, cfs.DeletedEntry{Path: p, Stat: *n.st})
	}
	return out, errors.Join(errs...)
}

// dirPath is the path of live directory id from its $FILE_NAME parents.
func (f *FS) dirPath(id int64, memo map[int64]string, depth int) (string, bool) {
	if p, ok := memo[id]; ok {
		return p, true
	}
	if depth > 64 || id < 0 || id >= f.mftCount {
		return "", false
	}
	n, err := f.stat(id, "", -1)
	if err != nil || !n.inUse || !n.dir || n.fnName == "" || n.fnPar == id {
		return "", false
	}
	pp, ok := f.dirPath(n.fnPar, memo, depth+1)
	if !ok {
		return "", false
	}
	p := path.Join(pp, fsutil.SafeName(n.fnName))
	if len(memo) < 1<<16 {
		memo[id] = p
	}
	return p, true
}

var _ cfs.DeletedLister = (*FS)(nil)
