package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/timeline"
)

func init() { verbs = append(verbs, newLsCmd) }

func newLsCmd() *cobra.Command {
	var ef evidenceFlags
	var recursive, deleted bool
	var output string
	cmd := &cobra.Command{
		Use:   "ls IMAGE... [PATH]",
		Short: "List files of the guest (or one volume) with inode, owner, size and times",
		Long: `List files of the assembled guest tree, or of one volume with --volume.
A trailing argument that starts with "/" is the guest path (default "/").
With -o bodyfile the output is a TSK 3.x bodyfile like "fls -r -m /", which
mactime reads.`,
		Example: `  coldcase ls disk.qcow2 /etc
  coldcase ls disk.qcow2 / -r -o bodyfile | mactime -b - -d -y
  coldcase ls disk.qcow2 /var/log -r --deleted -o csv
  coldcase ls pv1.raw pv2.raw / --volume vg0/root`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output, "table", "json", "csv", "bodyfile"); err != nil {
				return err
			}
			images, gpath := splitImagesPath(args, ef.root)
			ev, fsys, sel, err := ef.open(images)
			if err != nil {
				return err
			}
			defer ev.Close()
			var files []timeline.File
			out := cmd.OutOrStdout()
			var bw timeline.Writer
			if output == "bodyfile" {
				bw, _ = timeline.NewWriter(out, "bodyfile")
			}
			warns := 0
			emit := func(f timeline.File) error {
				f.Evidence.Image = ev.ImageName()
				f.Evidence.Volume = ev.VolumeOf(sel, f.Path)
				if bw != nil {
					return bw.(timeline.FileWriter).WriteFile(&f)
				}
				files = append(files, f)
				return nil
			}
			err = walkFiles(fsys, gpath, recursive, func(err error) { warns++; log.Warn(err) }, func(p string, fi iofs.FileInfo) error {
				return emit(fileOf(p, fi))
			})
			if err != nil {
				return err
			}
			if deleted {
				if err := listDeleted(fsys, gpath, emit); err != nil {
					log.Warn(err)
					warns++
				}
			}
			if bw != nil {
				return bw.Close()
			}
			return writeFiles(out, output, files)
		},
	}
	ef.add(cmd)
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "descend into directories")
	cmd.Flags().BoolVar(&deleted, "deleted", false, "also list deleted entries the filesystem still holds")
	outputFlag(cmd, &output, "table", "json", "csv", "bodyfile")
	return cmd
}

// listDeleted adds the deleted entries under gpath.
func listDeleted(fsys iofs.FS, gpath string, emit func(timeline.File) error) error {
	dl, ok := fsys.(cfs.DeletedLister)
	if !ok {
		return errors.New("this filesystem cannot list deleted entries")
	}
	des, err := dl.Deleted()
	prefix := strings.TrimSuffix("/"+fsName(gpath), "/.")
	for _, d := range des {
		p := "/" + strings.TrimPrefix(d.Path, "/")
		if prefix != "/" && prefix != "" && p != prefix && !strings.HasPrefix(p, prefix+"/") {
			continue
		}
		st := d.Stat
		st.Deleted = true
		f := fileOf(p, statInfo{name: p, st: &st})
		if e := emit(f); e != nil {
			return e
		}
	}
	return err
}

func writeFiles(w io.Writer, format string, files []timeline.File) error {
	switch format {
	case "json":
		return writeJSON(w, files)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"path", "inode", "mode", "uid", "gid", "size", "atime", "mtime", "ctime", "btime", "deleted", "target", "volume"})
		for _, f := range files {
			rec := []string{f.Path, f.Inode, timeline.ModeString(f.RawMode), fmt.Sprint(f.UID), fmt.Sprint(f.GID), fmt.Sprint(f.Size),
				fmtTime(f.Atime), fmtTime(f.Mtime), fmtTime(f.Ctime), fmtTime(f.Btime), fmt.Sprint(f.Deleted), f.Target, f.Evidence.Volume}
			for i := range rec {
				rec[i] = timeline.CSVCell(rec[i])
			}
			cw.Write(rec)
		}
		cw.Flush()
		return cw.Error()
	}
	rows := make([][]string, len(files))
	for i, f := range files {
		rows[i] = []string{timeline.ModeString(f.RawMode), f.Inode, fmt.Sprint(f.UID), fmt.Sprint(f.GID), fmt.Sprint(f.Size),
			fmtTime(f.Mtime), f.Name()}
	}
	return writeTable(w, []string{"mode", "inode", "uid", "gid", "size", "mtime (UTC)", "name"}, rows)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeline.TimeFormat)
}

// statInfo presents a forensic Stat (of a deleted entry) as a FileInfo.
type statInfo struct {
	name string
	st   *cfs.Stat
}

func (s statInfo) Name() string        { return path.Base(s.name) }
func (s statInfo) Size() int64         { return s.st.Size }
func (s statInfo) Mode() iofs.FileMode { return s.st.Mode }
func (s statInfo) ModTime() time.Time  { return s.st.Mtime }
func (s statInfo) IsDir() bool         { return s.st.Mode.IsDir() }
func (s statInfo) Sys() any            { return s.st }
