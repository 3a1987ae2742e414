package main

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/fs/guest"
	"github.com/coldcase-dfir/coldcase/image"
	"github.com/coldcase-dfir/coldcase/image/volume"
)

// evidence is what a verb opened: the images, their volumes, the
// filesystems found on them and the assembled guest — or a plain directory
// given with --root.
type evidence struct {
	Paths    []string
	Images   []*image.Image
	Volumes  []volume.Volume
	FSs      []guest.Filesystem
	FSErrors map[string]error // selector → why no filesystem opened
	Guest    *guest.Guest
	Root     string // --root DIR

	imageName string
}

// evidenceFlags are the flags every verb that reads evidence shares.
type evidenceFlags struct {
	volume   string
	root     string
	snapshot string
	replay   bool
}

func (f *evidenceFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.volume, "volume", "", "read one volume instead of the assembled guest: p2, d2p1, vg0/root, or a partition/LV UUID")
	cmd.Flags().StringVar(&f.root, "root", "", "examine an extracted directory tree instead of images")
	f.addImageFlags(cmd)
}

// addImageFlags adds the flags that say how images are read: --snapshot
// and --replay-journal.
func (f *evidenceFlags) addImageFlags(cmd *cobra.Command) {
	snapshotFlag(cmd, &f.snapshot)
	cmd.Flags().BoolVar(&f.replay, "replay-journal", false,
		"show ext4 filesystems whose journal needs recovery as the kernel would after mounting (committed transactions applied in memory; the image is not written)")
}

// snapshotFlag adds --snapshot, which reads a qcow2 internal snapshot
// (listed by info) instead of the disk's current state.
func snapshotFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "snapshot", "", "read this qcow2 internal snapshot (ID or name, see info) of every image instead of its current state")
}

// openImage opens an image, or its internal snapshot.
func openImage(path, snapshot string) (*image.Image, error) {
	if snapshot == "" {
		return image.Open(path)
	}
	return image.OpenSnapshot(path, snapshot)
}

// open opens the evidence a verb names and the tree it reads (see FS).
func (f *evidenceFlags) open(images []string) (*evidence, iofs.FS, string, error) {
	ev, err := openEvidence(images, *f)
	if err != nil {
		return nil, nil, "", err
	}
	fsys, sel, err := ev.FS(f.volume)
	if err != nil {
		ev.Close()
		return nil, nil, "", err
	}
	return ev, fsys, sel, nil
}

// openEvidence opens images (several for LVM spanning disks), their
// volumes and filesystems, and assembles the guest — or, with f.root, a
// directory tree.
func openEvidence(paths []string, f evidenceFlags) (*evidence, error) {
	root, snapshot := f.root, f.snapshot
	ev := &evidence{Paths: paths, FSErrors: map[string]error{}}
	if root != "" {
		if len(paths) > 0 || snapshot != "" {
			return nil, withCode(exitUsage, errors.New("give images or --root, not both (nor --snapshot with --root)"))
		}
		fi, err := os.Stat(root)
		if err != nil || !fi.IsDir() {
			return nil, withCode(exitUsage, fmt.Errorf("--root %s: not a directory", root))
		}
		ev.Root = root
		return ev, nil
	}
	if len(paths) == 0 {
		return nil, withCode(exitUsage, errors.New("no image given"))
	}
	ims, vols, err := openVolumes(paths, snapshot)
	if err != nil {
		return nil, err
	}
	ev.Images, ev.Volumes = ims, vols
	for _, v := range vols {
		if v.Container {
			continue
		}
		openFS := cfs.Open
		if f.replay {
			openFS = cfs.OpenReplayed
		}
		fsys, err := openFS(v, v.Size)
		if err != nil {
			ev.FSErrors[v.Selector] = err
			if !errors.Is(err, cfs.ErrUnknown) {
				log.Warnf("volume %s: %v", v.Selector, err)
			}
			continue
		}
		ev.FSs = append(ev.FSs, guest.Filesystem{Volume: v, FS: fsys})
	}
	if len(ev.FSs) > 0 {
		g, err := guest.Assemble(ev.FSs)
		if err != nil {
			return nil, err
		}
		for _, p := range g.Problems {
			log.Info("guest: " + p)
		}
		ev.Guest = g
	}
	return ev, nil
}

// openVolumes opens images and lists their volumes (partitions, LVs that
// may span the images, or the whole disks).
func openVolumes(paths []string, snapshot string) ([]*image.Image, []volume.Volume, error) {
	var ims []*image.Image
	closeAll := func() {
		for _, im := range ims {
			im.Close()
		}
	}
	var disks []volume.Disk
	for _, p := range paths {
		im, err := openImage(p, snapshot)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		log.Debugf("%s: %s, %d bytes", p, im.Format(), im.Size())
		ims = append(ims, im)
		disks = append(disks, im)
	}
	vols, err := volume.List(disks...)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return ims, vols, nil
}

// FS returns the tree a verb reads: one volume's filesystem when sel is
// given, else the assembled guest (or the --root directory).
func (ev *evidence) FS(sel string) (iofs.FS, string, error) {
	if ev.Root != "" {
		if sel != "" {
			return nil, "", withCode(exitUsage, errors.New("--volume does not apply to --root"))
		}
		d, err := guest.NewDir(ev.Root)
		if err != nil {
			return nil, "", err
		}
		// Through a guest, so the tree's absolute symlinks stay inside it.
		return guest.Single(d, ""), "", nil
	}
	if sel != "" {
		v, err := volume.Select(ev.Volumes, sel)
		if err != nil {
			return nil, "", withCode(exitUsage, err)
		}
		for _, f := range ev.FSs {
			if f.Volume.Selector == v.Selector {
				return f.FS, v.Selector, nil
			}
		}
		if err := ev.FSErrors[v.Selector]; err != nil {
			return nil, "", fmt.Errorf("volume %s: %w", v.Selector, err)
		}
		return nil, "", fmt.Errorf("volume %s holds no filesystem", v.Selector)
	}
	if ev.Guest == nil {
		return nil, "", errors.New("no filesystem found on the image(s); see coldcase info")
	}
	return ev.Guest, "", nil
}

// ImageName is the evidence reference's image field: the image file
// names joined with "+", or the --root folder.
func (ev *evidence) ImageName() string {
	if ev.imageName == "" {
		if ev.Root != "" {
			ev.imageName = ev.Root
		} else {
			names := make([]string, len(ev.Paths))
			for i, p := range ev.Paths {
				names[i] = filepath.Base(p)
			}
			ev.imageName = strings.Join(names, "+")
		}
	}
	return ev.imageName
}

// VolumeOf names the volume a path of the tree lives on.
func (ev *evidence) VolumeOf(sel, name string) string {
	if sel != "" || ev.Guest == nil {
		return sel
	}
	return ev.Guest.VolumeOf(name)
}

func (ev *evidence) Close() {
	for _, im := range ev.Images {
		im.Close()
	}
}
