package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/coldcase-dfir/coldcase/image"
	"github.com/coldcase-dfir/coldcase/image/volume"
)

func init() { verbs = append(verbs, newDumpCmd) }

func newDumpCmd() *cobra.Command {
	var out, sel, snapshot string
	var force bool
	cmd := &cobra.Command{
		Use:   "dump IMAGE... [--volume SEL] [-o FILE]",
		Short: "Write the virtual disk, or one volume, as raw bytes for other tools",
		Long: `Write the guest-visible disk of IMAGE (qcow2 with its backing chain, vmdk,
vhd, vhdx, raw or split raw) — or, with --volume, one partition or logical
volume (give every disk of a volume group spanning several) — as raw bytes to
FILE, or to stdout when FILE is "-" or not given. Stdout is refused when it
is a terminal.

The image is only read. A new FILE is written sparse (runs of zeros become
holes); an existing FILE is refused unless --force. A progress bar is drawn
on stderr when stderr is a terminal.`,
		Example: `  coldcase dump disk.qcow2 -o disk.raw
  coldcase dump disk.vmdk | sha256sum
  coldcase dump disk.qcow2 -o disk.raw && mmls disk.raw
  coldcase dump disk.qcow2 --volume p2 | fls -r -
  coldcase dump pv1.vmdk pv2.vmdk --volume vg0/var -o var.xfs
  coldcase dump disk.qcow2 --snapshot before-upgrade -o then.raw`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 && sel == "" {
				return withCode(exitUsage, errors.New("several images: name the volume to dump with --volume"))
			}
			src, err := openDumpSource(args, sel, snapshot)
			if err != nil {
				return err
			}
			defer src.Close()
			w, done, err := dumpTarget(out, force, src.layers)
			if err != nil {
				return err
			}
			bar := newByteProgress(src.size, "dump")
			var shown int64
			n, err := image.Copy(w, src.r, src.size, func(total int64) { bar.Add(total - shown); shown = total })
			bar.Finish()
			if cerr := done(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("dump %s: %w", args[0], err)
			}
			log.Infof("dump %s: %d bytes written", args[0], n)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "-", `output file ("-": stdout)`)
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing output file")
	cmd.Flags().StringVar(&sel, "volume", "", "dump one volume: p2, d2p1, vg0/root, or a partition/LV UUID")
	snapshotFlag(cmd, &snapshot)
	return cmd
}

// dumpSource is what dump copies: a whole virtual disk or one volume.
type dumpSource struct {
	ims    []*image.Image
	r      io.ReaderAt
	size   int64
	layers []image.Layer // every evidence file, which the output must not overwrite
}

func (s *dumpSource) Close() error {
	for _, im := range s.ims {
		im.Close()
	}
	return nil
}

func openDumpSource(paths []string, sel, snapshot string) (*dumpSource, error) {
	if sel == "" {
		im, err := openImage(paths[0], snapshot)
		if err != nil {
			return nil, err
		}
		return &dumpSource{ims: []*image.Image{im}, r: im, size: im.Size(), layers: im.Layers}, nil
	}
	ims, vols, err := openVolumes(paths, snapshot)
	if err != nil {
		return nil, err
	}
	src := &dumpSource{ims: ims}
	for _, im := range ims {
		src.layers = append(src.layers, im.Layers...)
	}
	v, err := volume.Select(vols, sel)
	if err != nil {
		src.Close()
		return nil, withCode(exitUsage, err)
	}
	if v.Unsupported != "" {
		src.Close()
		return nil, fmt.Errorf("volume %s: %s", v.Selector, v.Unsupported)
	}
	src.r, src.size = v, v.Size
	return src, nil
}

// dumpTarget opens the output: stdout unless it is a terminal, or a file
// that is neither existing (without --force) nor one of the evidence files.
func dumpTarget(path string, force bool, layers []image.Layer) (io.Writer, func() error, error) {
	if path == "-" || path == "" {
		if term.IsTerminal(int(os.Stdout.Fd())) {
			return nil, nil, withCode(exitUsage, errors.New("refusing to write a disk to the terminal: use -o FILE or a pipe"))
		}
		return os.Stdout, func() error { return nil }, nil
	}
	if fi, err := os.Stat(path); err == nil {
		for _, l := range layers {
			if li, err := os.Stat(l.Path); err == nil && os.SameFile(fi, li) {
				return nil, nil, withCode(exitUsage, fmt.Errorf("-o %s is the evidence file %s", path, l.Path))
			}
		}
		if !force {
			return nil, nil, withCode(exitUsage, fmt.Errorf("-o %s exists (use --force to overwrite)", path))
		}
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}
