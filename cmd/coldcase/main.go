// Command coldcase is an offline forensic toolkit for quarantined virtual
// machines: it acquires a suspect VM's disk through its cloud API, opens the
// image read-only in userspace, extracts logs, users, persistence and
// binaries, and merges them into one timeline.
//
// Each verb lives in its own file of this package.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

// Exit codes. Scripts and CI jobs rely on them.
const (
	exitOK       = 0
	exitError    = 1 // the job failed (bad image, I/O error, …)
	exitUsage    = 2 // bad flags or arguments
	exitFindings = 3 // --fail-on: a finding at or above the threshold
	exitMismatch = 4 // verify: evidence differs from its manifest
)

// version is set by the linker (-X main.version=…) in release builds.
var version = "dev"

// exitError carries an exit code through cobra's error return.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codeError{code, err}
}

var log = logrus.New()

func newRoot() *cobra.Command {
	var verbose int
	var logFormat string
	root := &cobra.Command{
		Use:   "coldcase",
		Short: "Offline forensics of quarantined virtual machines",
		Long: `coldcase acquires a suspect VM's disk through its cloud or virtualisation API,
opens qcow2, raw, vmdk, vhd and vhdx images read-only in userspace (no mount,
no root), reads ext4, XFS, FAT and NTFS through partitions and LVM, assembles
the guest's root as its /etc/fstab did, extracts logs, users, persistence and
binaries, and merges everything into one timeline.`,
		Example: `  coldcase examine disk.qcow2 -d case1
  coldcase info disk.qcow2
  coldcase ls disk.qcow2 /etc -r
  coldcase timeline disk.qcow2 --from 2026-09-01 -o csv`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			log.SetOutput(os.Stderr)
			switch {
			case verbose >= 2:
				log.SetLevel(logrus.TraceLevel)
			case verbose == 1:
				log.SetLevel(logrus.DebugLevel)
			default:
				log.SetLevel(logrus.InfoLevel)
			}
			switch logFormat {
			case "text":
				log.SetFormatter(&logrus.TextFormatter{})
			case "json":
				log.SetFormatter(&logrus.JSONFormatter{})
			default:
				return withCode(exitUsage, fmt.Errorf("--log-format: %q is not text or json", logFormat))
			}
			return nil
		},
	}
	root.PersistentFlags().CountVarP(&verbose, "verbose", "v", "more logging on stderr (-vv for trace)")
	root.PersistentFlags().StringVar(&logFormat, "log-format", "text", "log format on stderr: text or json")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return withCode(exitUsage, err) })
	for _, add := range verbs {
		root.AddCommand(add())
	}
	return root
}

// verbs is filled by each verb's file from init, so adding a verb touches
// only its own file.
var verbs []func() *cobra.Command

func main() {
	err := newRoot().Execute()
	if err == nil {
		os.Exit(exitOK)
	}
	log.Error(err)
	var ce *codeError
	if errors.As(err, &ce) {
		os.Exit(ce.code)
	}
	os.Exit(exitError)
}
