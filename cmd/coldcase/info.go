package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/fs/guest"
	"github.com/coldcase-dfir/coldcase/image"
	"github.com/coldcase-dfir/coldcase/image/volume"
)

func init() { verbs = append(verbs, newInfoCmd) }

// infoReport is what coldcase info prints; examine stores it in case.json.
type infoReport struct {
	Images  []imageInfo  `json:"images"`
	Volumes []volumeInfo `json:"volumes"`
	Guest   *guest.Guest `json:"guest,omitempty"`
}

type imageInfo struct {
	Path   string        `json:"path"`
	Format string        `json:"format"`
	Size   int64         `json:"virtual_size"`
	Chain  []image.Layer `json:"chain"`
}

type volumeInfo struct {
	volume.Volume
	Filesystem *cfs.Info `json:"filesystem,omitempty"`
	FSError    string    `json:"filesystem_error,omitempty"`
}

func buildInfo(ev *evidence) infoReport {
	var r infoReport
	for i, im := range ev.Images {
		r.Images = append(r.Images, imageInfo{Path: ev.Paths[i], Format: im.Format(), Size: im.Size(), Chain: im.Layers})
	}
	for _, v := range ev.Volumes {
		vi := volumeInfo{Volume: v}
		for _, f := range ev.FSs {
			if f.Volume.Selector == v.Selector {
				info := f.FS.Info()
				vi.Filesystem = &info
			}
		}
		if err := ev.FSErrors[v.Selector]; err != nil {
			vi.FSError = err.Error()
		}
		r.Volumes = append(r.Volumes, vi)
	}
	r.Guest = ev.Guest
	return r
}

func newInfoCmd() *cobra.Command {
	var output string
	var ef evidenceFlags
	cmd := &cobra.Command{
		Use:   "info IMAGE...",
		Short: "Describe images: container chain, volumes, filesystems and the guest's mounts",
		Long: `Describe one or more disk images (several when an LVM volume group spans
disks): the container chain (format, virtual size, backing files,
compression, internal snapshots), the volumes (selector, start, size,
type, label/UUID), the
filesystem on each (type, label, UUID, last mount, dirty state), and how the
guest's /etc/fstab assembles them.`,
		Example: `  coldcase info disk.qcow2
  coldcase info disk1.vmdk disk2.vmdk -o json
  coldcase info disk.qcow2 --snapshot 1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output, "table", "json"); err != nil {
				return err
			}
			ev, err := openEvidence(args, ef)
			if err != nil {
				return err
			}
			defer ev.Close()
			r := buildInfo(ev)
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			return r.writeTables(cmd.OutOrStdout())
		},
	}
	outputFlag(cmd, &output, "table", "json")
	ef.addImageFlags(cmd)
	return cmd
}

func (r infoReport) writeTables(w io.Writer) error {
	var rows [][]string
	for _, im := range r.Images {
		for depth, l := range im.Chain {
			rows = append(rows, []string{strings.Repeat("  ", depth) + l.Path, l.Format + sub(l.Subformat), fmt.Sprint(l.VirtualSize),
				fmt.Sprint(l.FileSize), l.Compression, l.Backing})
		}
	}
	fmt.Fprintln(w, "Images")
	if err := writeTable(w, []string{"file", "format", "virtual size", "file size", "compression", "backing"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, im := range r.Images {
		for _, l := range im.Chain {
			for _, s := range l.Snapshots {
				read := ""
				if s.ID == l.Snapshot {
					read = "read"
				}
				rows = append(rows, []string{l.Path, s.ID, s.Name, fmtTime(s.Date), fmt.Sprint(s.DiskSize), fmt.Sprint(s.VMStateSize), read})
			}
		}
	}
	if len(rows) > 0 {
		fmt.Fprintln(w, "\nInternal snapshots")
		if err := writeTable(w, []string{"file", "id", "name", "taken", "disk size", "vm state", ""}, rows); err != nil {
			return err
		}
		rows = rows[:0]
	}
	for _, v := range r.Volumes {
		fsType, label, uuid, mounted, dirty := "", "", "", "", ""
		if f := v.Filesystem; f != nil {
			fsType, label, uuid, mounted = f.Type, f.Label, f.UUID, f.LastMounted
			if !f.LastMountTime.IsZero() {
				mounted = strings.TrimSpace(mounted + " " + fmtTime(f.LastMountTime))
			}
			if f.Dirty {
				dirty = "dirty"
			}
		} else if v.FSError != "" && !v.Container {
			fsType = "?"
		}
		rows = append(rows, []string{v.Selector, v.Scheme, fmt.Sprint(v.Start), fmt.Sprint(v.Size), v.Type, v.Name, v.UUID,
			fsType, label, uuid, mounted, dirty})
	}
	fmt.Fprintln(w, "\nVolumes")
	if err := writeTable(w, []string{"volume", "scheme", "start", "size", "type", "name", "uuid", "fs", "label", "fs uuid", "last mounted", "state"}, rows); err != nil {
		return err
	}
	if r.Guest != nil {
		rows = rows[:0]
		for _, m := range r.Guest.Mounts {
			rows = append(rows, []string{m.Point, m.Volume, m.Type, m.Spec})
		}
		fmt.Fprintln(w, "\nGuest mounts")
		if err := writeTable(w, []string{"mount point", "volume", "fs", "fstab source"}, rows); err != nil {
			return err
		}
		for _, p := range r.Guest.Problems {
			fmt.Fprintln(w, "  note: "+escape(p))
		}
	}
	return nil
}

func sub(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}
