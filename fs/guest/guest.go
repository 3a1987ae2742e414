// Package guest assembles the guest's view of its filesystems: it finds
// the root filesystem (the one holding /etc/fstab and an OS release file)
// and mounts the other volumes where that fstab says, so artifacts read
// "/var/log/auth.log" from whichever volume the guest kept it on.
//
// Symlinks are resolved inside the guest, component by component, across
// mount points — never on the host. Unresolvable or non-disk fstab entries
// (nfs, tmpfs, swap, a device that is not among the images) are reported in
// Problems, not fatal.
package guest

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"sort"
	"strings"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/image/volume"
)

// Filesystem is one opened volume offered for assembly.
type Filesystem struct {
	Volume volume.Volume
	FS     cfs.FS
}

// Mount is a filesystem placed in the guest tree.
type Mount struct {
	Point  string `json:"mount_point"` // "/", "/var", …
	Volume string `json:"volume"`      // selector
	Type   string `json:"type"`
	Spec   string `json:"spec,omitempty"` // the fstab source that named it
	Line   int    `json:"fstab_line,omitempty"`
	fs     cfs.FS
	dir    string // Point without the leading slash, "." for root
}

// Guest is the assembled tree. It implements fs.FS, fs.StatFS,
// fs.ReadDirFS and fs.ReadLinkFS.
type Guest struct {
	Mounts   []Mount      `json:"mounts"` // root first, then by depth
	Fstab    []FstabEntry `json:"fstab,omitempty"`
	Problems []string     `json:"problems,omitempty"`
}

// maxHops bounds symlink resolution, as Linux's ELOOP does (40).
const maxHops = 40

// Assemble picks the root filesystem among fss and mounts the others as
// its /etc/fstab says. With no recognisable root, the first filesystem is
// the root and a problem is recorded.
func Assemble(fss []Filesystem) (*Guest, error) {
	if len(fss) == 0 {
		return nil, errors.New("guest: no filesystem to assemble")
	}
	root := -1
	best := 0
	for i, f := range fss {
		score := 0
		if exists(f.FS, "etc/fstab") {
			score += 2
		}
		for _, rel := range []string{"etc/os-release", "usr/lib/os-release", "etc/redhat-release", "etc/debian_version"} {
			if exists(f.FS, rel) {
				score++
				break
			}
		}
		if exists(f.FS, "etc/passwd") {
			score++
		}
		if score > best {
			best, root = score, i
		}
	}
	g := &Guest{}
	if root < 0 {
		root = 0
		g.Problems = append(g.Problems, fmt.Sprintf("no root filesystem (with /etc/fstab or an OS release file) found; showing %s as /", fss[0].Volume.Selector))
	}
	g.Mounts = append(g.Mounts, Mount{Point: "/", Volume: fss[root].Volume.Selector, Type: fss[root].FS.Info().Type, fs: fss[root].FS, dir: "."})
	used := map[int]bool{root: true}

	b, err := readSmall(fss[root].FS, "etc/fstab")
	if err != nil {
		if !errors.Is(err, iofs.ErrNotExist) {
			g.Problems = append(g.Problems, "/etc/fstab: "+err.Error())
		}
		return g, nil
	}
	g.Fstab = ParseFstab(b)
	for _, e := range g.Fstab {
		if e.Point == "/" || e.Point == "none" || e.Type == "swap" || !strings.HasPrefix(e.Point, "/") {
			if e.Type == "swap" || e.Point == "none" {
				g.Problems = append(g.Problems, fmt.Sprintf("fstab line %d: %s is swap, not mounted", e.Line, e.Spec))
			}
			continue
		}
		switch e.Type {
		case "tmpfs", "proc", "sysfs", "devpts", "nfs", "nfs4", "cifs", "smbfs", "devtmpfs", "cgroup", "cgroup2", "securityfs", "debugfs", "fuse", "sshfs", "overlay", "bind", "none":
			g.Problems = append(g.Problems, fmt.Sprintf("fstab line %d: %s on %s is %s, not on disk", e.Line, e.Spec, e.Point, e.Type))
			continue
		}
		if strings.Contains(e.Options, "bind") {
			g.Problems = append(g.Problems, fmt.Sprintf("fstab line %d: bind mount of %s on %s not reproduced", e.Line, e.Spec, e.Point))
			continue
		}
		i := resolve(e.Spec, fss)
		if i < 0 {
			g.Problems = append(g.Problems, fmt.Sprintf("fstab line %d: %s for %s matches no volume of the images", e.Line, e.Spec, e.Point))
			continue
		}
		if i == root {
			g.Problems = append(g.Problems, fmt.Sprintf("fstab line %d: %s on %s is the root filesystem again", e.Line, e.Spec, e.Point))
			continue
		}
		used[i] = true
		p := path.Clean(e.Point)
		g.Mounts = append(g.Mounts, Mount{Point: p, Volume: fss[i].Volume.Selector, Type: fss[i].FS.Info().Type,
			Spec: e.Spec, Line: e.Line, fs: fss[i].FS, dir: strings.TrimPrefix(p, "/")})
	}
	// Deeper mount points later, so /var/log/audit shadows /var/log.
	sort.SliceStable(g.Mounts, func(a, b int) bool { return depth(g.Mounts[a].dir) < depth(g.Mounts[b].dir) })
	for i, f := range fss {
		if !used[i] {
			g.Problems = append(g.Problems, fmt.Sprintf("volume %s (%s) is not mounted by the guest's fstab", f.Volume.Selector, f.FS.Info().Type))
		}
	}
	return g, nil
}

// resolve finds the filesystem an fstab source names, or -1.
func resolve(spec string, fss []Filesystem) int {
	key, val, _ := strings.Cut(spec, "=")
	val = strings.Trim(val, `"`)
	if by, ok := strings.CutPrefix(spec, "/dev/disk/by-"); ok {
		kind, v, _ := strings.Cut(by, "/")
		key, val = map[string]string{"uuid": "UUID", "label": "LABEL", "partuuid": "PARTUUID", "partlabel": "PARTLABEL"}[kind], v
	}
	for i, f := range fss {
		info := f.FS.Info()
		switch strings.ToUpper(key) {
		case "UUID":
			if strings.EqualFold(info.UUID, val) {
				return i
			}
		case "LABEL":
			if info.Label == val {
				return i
			}
		case "PARTUUID":
			if f.Volume.Scheme != "lvm" && strings.EqualFold(f.Volume.UUID, val) {
				return i
			}
		case "PARTLABEL":
			if f.Volume.Scheme == "gpt" && f.Volume.Name == val {
				return i
			}
		}
	}
	if !strings.HasPrefix(spec, "/dev/") {
		return -1
	}
	// Device paths: LVM names, then kernel partition names.
	var vols []volume.Volume
	for _, f := range fss {
		vols = append(vols, f.Volume)
	}
	if sel, ok := devToSelector(spec); ok {
		for i, f := range fss {
			if f.Volume.Selector == sel {
				return i
			}
		}
	}
	if v, err := volume.Select(vols, spec); err == nil {
		for i, f := range fss {
			if f.Volume.Selector == v.Selector {
				return i
			}
		}
	}
	return -1
}

// devToSelector maps kernel disk names to partition selectors: sda2, vda2,
// xvda2, hda2 → p2 (sdb2 → d2p2); nvme0n1p2 → p2. A bare disk (/dev/vdb)
// → d2 whole disk is "disk" only for the first.
func devToSelector(dev string) (string, bool) {
	name := strings.TrimPrefix(dev, "/dev/")
	if strings.HasPrefix(name, "nvme") {
		// nvme<ctrl>n<ns>p<part>
		var ctrl, ns, part int
		if n, _ := fmt.Sscanf(name, "nvme%dn%dp%d", &ctrl, &ns, &part); n == 3 {
			return diskPart(ctrl+ns-1, part), true
		}
		return "", false
	}
	for _, pre := range []string{"xvd", "sd", "vd", "hd"} {
		if rest, ok := strings.CutPrefix(name, pre); ok && len(rest) >= 2 && rest[0] >= 'a' && rest[0] <= 'z' {
			var part int
			if _, err := fmt.Sscanf(rest[1:], "%d", &part); err == nil && part > 0 {
				return diskPart(int(rest[0]-'a'), part), true
			}
		}
	}
	return "", false
}

func diskPart(disk, part int) string {
	if disk == 0 {
		return fmt.Sprintf("p%d", part)
	}
	return fmt.Sprintf("d%dp%d", disk+1, part)
}

func exists(f iofs.FS, name string) bool {
	_, err := iofs.Stat(f, name)
	return err == nil
}

func readSmall(f iofs.FS, name string) ([]byte, error) {
	fi, err := iofs.Stat(f, name)
	if err != nil {
		return nil, err
	}
	if fi.Size() > 1<<20 {
		return nil, fmt.Errorf("%s: %d bytes, too large", name, fi.Size())
	}
	return iofs.ReadFile(f, name)
}

// mountFor returns the deepest mount holding the guest path (no leading
// slash, cleaned) and the path inside it.
func (g *Guest) mountFor(name string) (*Mount, string) {
	var best *Mount
	rel := name
	for i := range g.Mounts {
		m := &g.Mounts[i]
		switch {
		case m.dir == ".":
			if best == nil {
				best, rel = m, name
			}
		case name == m.dir:
			if best == nil || len(m.dir) > len(best.dir) || best.dir == "." {
				best, rel = m, "."
			}
		case strings.HasPrefix(name, m.dir+"/"):
			if best == nil || best.dir == "." || len(m.dir) > len(best.dir) {
				best, rel = m, name[len(m.dir)+1:]
			}
		}
	}
	return best, rel
}

// VolumeOf names the volume a guest path lives on (for evidence).
func (g *Guest) VolumeOf(name string) string {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if name == "" {
		name = "."
	}
	m, _ := g.mountFor(name)
	return m.Volume
}

// resolvePath walks name component by component, following symlinks in
// every component but the last (and the last too when follow is set).
// It returns the cleaned guest path of the object.
func (g *Guest) resolvePath(op, name string, follow bool) (string, error) {
	if !iofs.ValidPath(name) {
		return "", &iofs.PathError{Op: op, Path: name, Err: iofs.ErrInvalid}
	}
	if name == "." {
		return ".", nil
	}
	todo := strings.Split(name, "/")
	cur := "." // resolved prefix
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		last := len(todo) == 0
		if last && !follow {
			cur = next
			break
		}
		m, rel := g.mountFor(next)
		fi, err := m.fs.Lstat(rel)
		if err != nil {
			return "", &iofs.PathError{Op: op, Path: name, Err: unwrapPathErr(err)}
		}
		if fi.Mode()&iofs.ModeSymlink == 0 || (m.dir == next) {
			cur = next
			continue
		}
		hops++
		if hops > maxHops {
			return "", &iofs.PathError{Op: op, Path: name, Err: errors.New("too many levels of symbolic links")}
		}
		target, err := m.fs.ReadLink(rel)
		if err != nil {
			return "", &iofs.PathError{Op: op, Path: name, Err: unwrapPathErr(err)}
		}
		// The target is read from the guest: resolve it inside the guest
		// tree only. Absolute targets start again at the guest's root.
		if strings.HasPrefix(target, "/") {
			cur = "."
		}
		parts := strings.Split(target, "/")
		if len(parts) > 4096 {
			return "", &iofs.PathError{Op: op, Path: name, Err: errors.New("symlink target too long")}
		}
		todo = append(parts, todo...)
	}
	return cur, nil
}

func unwrapPathErr(err error) error {
	var pe *iofs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Open opens a file, following symlinks inside the guest.
func (g *Guest) Open(name string) (iofs.File, error) {
	p, err := g.resolvePath("open", name, true)
	if err != nil {
		return nil, err
	}
	m, rel := g.mountFor(p)
	f, err := m.fs.Open(rel)
	if err != nil {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: unwrapPathErr(err)}
	}
	fi, err := f.Stat()
	if err != nil || !fi.IsDir() {
		return f, err
	}
	// Directories list through the guest, so that mount points inside
	// them show the mounted filesystem.
	return &dirFile{File: f, g: g, p: p}, nil
}

// Stat follows symlinks.
func (g *Guest) Stat(name string) (iofs.FileInfo, error) {
	p, err := g.resolvePath("stat", name, true)
	if err != nil {
		return nil, err
	}
	return g.statAt(p)
}

// Lstat does not follow a final symlink.
func (g *Guest) Lstat(name string) (iofs.FileInfo, error) {
	p, err := g.resolvePath("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return g.statAt(p)
}

// ReadLink returns a symlink's target as stored.
func (g *Guest) ReadLink(name string) (string, error) {
	p, err := g.resolvePath("readlink", name, false)
	if err != nil {
		return "", err
	}
	m, rel := g.mountFor(p)
	return m.fs.ReadLink(rel)
}

// ReadDir lists a directory; a mount point lists the mounted filesystem's
// root.
func (g *Guest) ReadDir(name string) ([]iofs.DirEntry, error) {
	p, err := g.resolvePath("readdir", name, true)
	if err != nil {
		return nil, err
	}
	m, rel := g.mountFor(p)
	ents, err := m.fs.ReadDir(rel)
	if err != nil {
		return nil, &iofs.PathError{Op: "readdir", Path: name, Err: unwrapPathErr(err)}
	}
	// A mount point shows the mounted filesystem's root, whether or not
	// the parent holds a directory of that name.
	for i := range g.Mounts {
		mm := &g.Mounts[i]
		if mm.dir == "." || path.Dir(mm.dir) != p {
			continue
		}
		fi, err := mm.fs.Lstat(".")
		if err != nil {
			continue
		}
		de := iofs.FileInfoToDirEntry(renamed{fi, path.Base(mm.dir)})
		replaced := false
		for j, e := range ents {
			if e.Name() == de.Name() {
				ents[j], replaced = de, true
				break
			}
		}
		if !replaced {
			ents = append(ents, de)
			sort.Slice(ents, func(a, b int) bool { return ents[a].Name() < ents[b].Name() })
		}
	}
	return ents, nil
}

// statAt returns metadata for a resolved guest path, named as asked: a
// mount point's root carries the mount point's name, not ".".
func (g *Guest) statAt(p string) (iofs.FileInfo, error) {
	m, rel := g.mountFor(p)
	fi, err := m.fs.Lstat(rel)
	if err != nil {
		return nil, err
	}
	if rel == "." && p != "." {
		return renamed{fi, path.Base(p)}, nil
	}
	return fi, nil
}

type renamed struct {
	iofs.FileInfo
	name string
}

func (r renamed) Name() string { return r.name }

// dirFile is an opened guest directory.
type dirFile struct {
	iofs.File
	g    *Guest
	p    string
	ents []iofs.DirEntry
	read bool
}

func (d *dirFile) Stat() (iofs.FileInfo, error) { return d.g.statAt(d.p) }

func (d *dirFile) ReadDir(n int) ([]iofs.DirEntry, error) {
	if !d.read {
		ents, err := d.g.ReadDir(d.p)
		if err != nil {
			return nil, err
		}
		d.ents, d.read = ents, true
	}
	if n <= 0 {
		out := d.ents
		d.ents = nil
		return out, nil
	}
	if len(d.ents) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.ents))
	out := d.ents[:n]
	d.ents = d.ents[n:]
	return out, nil
}

// Info describes the guest's root filesystem.
func (g *Guest) Info() cfs.Info { return g.Mounts[0].fs.Info() }

// Dirs lists mount points, for callers that walk volume by volume.
func (g *Guest) Dirs() []string {
	out := make([]string, len(g.Mounts))
	for i, m := range g.Mounts {
		out[i] = m.Point
	}
	return out
}

var _ cfs.FS = (*Guest)(nil)

func depth(dir string) int {
	if dir == "." {
		return 0
	}
	return strings.Count(dir, "/") + 1
}

// Deleted lists the deleted entries of every mounted filesystem that can
// recover them, with paths prefixed by their mount point.
func (g *Guest) Deleted() ([]cfs.DeletedEntry, error) {
	var out []cfs.DeletedEntry
	var errs []error
	for _, m := range g.Mounts {
		dl, ok := m.fs.(cfs.DeletedLister)
		if !ok {
			continue
		}
		des, err := dl.Deleted()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", m.Point, m.Volume, err))
		}
		for _, d := range des {
			d.Path = path.Join(m.Point, d.Path)
			out = append(out, d)
		}
	}
	return out, errors.Join(errs...)
}

// Single presents one filesystem as a guest without reading its fstab:
// for one volume chosen by the user, or an extracted tree. Its symlinks are
// still resolved inside it, never on the host.
func Single(f cfs.FS, selector string) *Guest {
	return &Guest{Mounts: []Mount{{Point: "/", Volume: selector, Type: f.Info().Type, fs: f, dir: "."}}}
}

// Dir is an extracted guest tree on the host (os.DirFS) as a coldcase
// filesystem. Use it through Single: os.DirFS alone would follow the tree's
// absolute symlinks (/etc/localtime → /usr/share/zoneinfo/…) onto the host.
type Dir struct {
	iofs.FS
	root string
}

// NewDir opens a host directory read-only as a guest tree.
func NewDir(root string) (*Dir, error) {
	d := &Dir{FS: os.DirFS(root), root: root}
	if _, ok := d.FS.(iofs.ReadLinkFS); !ok {
		return nil, errors.New("guest: os.DirFS lacks ReadLink (Go 1.25 or newer needed)")
	}
	return d, nil
}

func (d *Dir) Lstat(name string) (iofs.FileInfo, error) { return d.FS.(iofs.ReadLinkFS).Lstat(name) }
func (d *Dir) ReadLink(name string) (string, error)     { return d.FS.(iofs.ReadLinkFS).ReadLink(name) }
func (d *Dir) Stat(name string) (iofs.FileInfo, error)  { return iofs.Stat(d.FS, name) }
func (d *Dir) ReadDir(name string) ([]iofs.DirEntry, error) {
	return iofs.ReadDir(d.FS, name)
}
func (d *Dir) Info() cfs.Info { return cfs.Info{Type: "dir", Label: d.root} }
