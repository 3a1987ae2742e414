package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/coldcase-dfir/coldcase/timeline"
)

func init() { verbs = append(verbs, newExtractCmd) }

// extracted is one line of the extraction manifest.
type extracted struct {
	GuestPath string `json:"guest_path"`
	Output    string `json:"output,omitempty"` // relative to the output folder
	Type      string `json:"type"`             // file, dir, symlink, device, …
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256,omitempty"`
	Target    string `json:"symlink_target,omitempty"`
	Skipped   string `json:"skipped,omitempty"`
	timeline.File
}

func newExtractCmd() *cobra.Command {
	var ef evidenceFlags
	var dir string
	cmd := &cobra.Command{
		Use:   "extract IMAGE... PATH... -d DIR",
		Short: "Copy files and trees out of the guest, with a hash manifest",
		Long: `Copy files and directory trees out of the guest into DIR, keeping their
modification and access times, and write DIR/extract-manifest.jsonl with each
file's guest path, sha256, size, inode and volume.

Nothing is ever written outside DIR: guest paths are cleaned inside the
guest, symlinks are recorded in the manifest but not recreated, device files
and FIFOs are recorded and skipped, and existing files in DIR are not
overwritten. Arguments starting with "/" are guest paths.`,
		Example: `  coldcase extract disk.qcow2 /etc /var/log /root/.bash_history -d out
  coldcase extract disk.qcow2 /home -d out --volume vg0/home`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return withCode(exitUsage, errors.New("-d DIR is required"))
			}
			var images, paths []string
			for _, a := range args {
				if strings.HasPrefix(a, "/") && (len(images) > 0 || ef.root != "") {
					paths = append(paths, a)
				} else if len(paths) == 0 {
					images = append(images, a)
				} else {
					return withCode(exitUsage, fmt.Errorf("%s: give images first, then guest paths starting with /", a))
				}
			}
			if len(paths) == 0 {
				return withCode(exitUsage, errors.New("no guest path given (they start with /)"))
			}
			ev, fsys, sel, err := ef.open(images)
			if err != nil {
				return err
			}
			defer ev.Close()
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return err
			}
			mf, err := os.OpenFile(filepath.Join(dir, "extract-manifest.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
			if err != nil {
				return err
			}
			defer mf.Close()
			enc := json.NewEncoder(mf)
			x := &extractor{fsys: fsys, dir: dir}
			n, failed := 0, 0
			for _, p := range paths {
				err := walkFiles(fsys, p, true, func(err error) { log.Warn(err) }, func(gp string, fi iofs.FileInfo) error {
					rec := x.one(gp, fi)
					rec.File.Evidence.Image = ev.ImageName()
					rec.File.Evidence.Volume = ev.VolumeOf(sel, gp)
					if rec.Skipped != "" {
						log.Warnf("%s: %s", timeline.EscapeTerminal(gp), rec.Skipped)
					}
					n++
					return enc.Encode(rec)
				})
				if err != nil {
					// A path missing from the guest must not stop the others.
					log.Errorf("%s: %v", escape(p), err)
					failed++
				}
			}
			log.Infof("extracted %d objects into %s", n, dir)
			if failed > 0 {
				return fmt.Errorf("%d of %d paths could not be extracted", failed, len(paths))
			}
			return nil
		},
	}
	ef.add(cmd)
	cmd.Flags().StringVarP(&dir, "dir", "d", "", "output folder (created if missing)")
	return cmd
}

type extractor struct {
	fsys iofs.FS
	dir  string
}

// outPath maps a guest path into the output folder. The guest path is
// cleaned as an absolute path first, so ".." cannot climb out, and the
// result is checked to lie inside dir.
func (x *extractor) outPath(gp string) (string, error) {
	rel := fsName(gp)
	if rel == "." {
		return x.dir, nil
	}
	out := filepath.Join(x.dir, filepath.FromSlash(rel))
	r, err := filepath.Rel(x.dir, out)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("guest path %q would leave the output folder", gp)
	}
	return out, nil
}

func (x *extractor) one(gp string, fi iofs.FileInfo) extracted {
	rec := extracted{GuestPath: gp, Size: fi.Size(), File: fileOf(gp, fi)}
	out, err := x.outPath(gp)
	if err != nil {
		rec.Skipped = err.Error()
		return rec
	}
	rel, _ := filepath.Rel(x.dir, out)
	m := fi.Mode()
	switch {
	case m.IsDir():
		rec.Type = "dir"
		if err := mkdirNoFollow(x.dir, rel); err != nil {
			rec.Skipped = err.Error()
		}
		rec.Output = rel
		return rec
	case m&iofs.ModeSymlink != 0:
		rec.Type = "symlink"
		rec.Target = rec.File.Target
		rec.Skipped = "symlink recorded, not recreated"
		return rec
	case !m.IsRegular():
		rec.Type = "special"
		rec.Skipped = "device, FIFO or socket recorded, not recreated"
		return rec
	}
	rec.Type = "file"
	if err := mkdirNoFollow(x.dir, filepath.Dir(rel)); err != nil {
		rec.Skipped = err.Error()
		return rec
	}
	// O_EXCL|O_NOFOLLOW: never overwrite, never write through a link that
	// something else placed in the output folder.
	w, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o640)
	if err != nil {
		rec.Skipped = err.Error()
		return rec
	}
	r, err := x.fsys.Open(fsName(gp))
	if err != nil {
		w.Close()
		rec.Skipped = err.Error()
		return rec
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), r)
	r.Close()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rec.Skipped = fmt.Sprintf("copy failed after %d bytes: %v", n, err)
		return rec
	}
	rec.Output, rec.Size, rec.SHA256 = rel, n, hex.EncodeToString(h.Sum(nil))
	at := rec.File.Atime
	if at.IsZero() {
		at = rec.File.Mtime
	}
	os.Chtimes(out, at, rec.File.Mtime)
	return rec
}

// mkdirNoFollow creates rel under base one component at a time and refuses
// any component that exists as something other than a real directory.
func mkdirNoFollow(base, rel string) error {
	if rel == "." || rel == "" {
		return nil
	}
	cur := base
	for _, c := range strings.Split(rel, string(filepath.Separator)) {
		cur = filepath.Join(cur, c)
		fi, err := os.Lstat(cur)
		switch {
		case err == nil && fi.IsDir():
			continue
		case err == nil:
			return fmt.Errorf("%s exists and is not a directory", cur)
		case errors.Is(err, iofs.ErrNotExist):
			if err := os.Mkdir(cur, 0o750); err != nil && !errors.Is(err, iofs.ErrExist) {
				return err
			}
		default:
			return err
		}
	}
	return nil
}
