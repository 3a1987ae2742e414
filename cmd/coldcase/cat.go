package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func init() { verbs = append(verbs, newCatCmd) }

func newCatCmd() *cobra.Command {
	var ef evidenceFlags
	var force bool
	cmd := &cobra.Command{
		Use:   "cat IMAGE... PATH",
		Short: "Write one file of the guest to stdout",
		Long: `Write one file of the assembled guest (or of one volume with --volume) to
stdout. Symlinks are followed inside the guest. Binary content is not written
to a terminal unless --force is given.`,
		Example: `  coldcase cat disk.qcow2 /etc/passwd
  coldcase cat disk.qcow2 /var/log/auth.log.2.gz | zcat | grep sshd
  coldcase cat disk.vmdk /boot/efi/EFI/debian/grub.cfg --volume p1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			images, gpath := args[:len(args)-1], args[len(args)-1]
			if ef.root != "" {
				images = nil
			}
			ev, fsys, _, err := ef.open(images)
			if err != nil {
				return err
			}
			defer ev.Close()
			f, err := fsys.Open(fsName(gpath))
			if err != nil {
				return err
			}
			defer f.Close()
			if fi, err := f.Stat(); err == nil && fi.IsDir() {
				return withCode(exitUsage, fmt.Errorf("%s is a directory; use coldcase ls", gpath))
			}
			w := cmd.OutOrStdout()
			if out, ok := w.(*os.File); ok && term.IsTerminal(int(out.Fd())) && !force {
				w = &terminalGuard{w: out}
			}
			_, err = io.Copy(w, f)
			if errors.Is(err, errBinary) {
				return withCode(exitUsage, fmt.Errorf("%s looks binary; redirect stdout or use --force", gpath))
			}
			return err
		},
	}
	ef.add(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "write binary content to a terminal")
	return cmd
}

var errBinary = errors.New("binary content")

// terminalGuard refuses to pass NUL bytes or escape sequences to a
// terminal: a file from the evidence could otherwise drive the responder's
// terminal.
type terminalGuard struct{ w io.Writer }

func (t *terminalGuard) Write(p []byte) (int, error) {
	for _, c := range p {
		if c == 0 || c == 0x1b || c == 0x9b {
			return 0, errBinary
		}
	}
	return t.w.Write(p)
}
