package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/coldcase-dfir/coldcase/snapshot"
)

func init() { verbs = append(verbs, newVerifyCmd) }

func newVerifyCmd() *cobra.Command {
	var pubkey, output string
	cmd := &cobra.Command{
		Use:   "verify CASE",
		Short: "Re-hash a case's evidence and compare it with its manifest",
		Long: `verify re-reads every evidence file listed in CASE/manifest.json and compares
its size, sha256 and md5 with the manifest; with --pubkey it also checks the
ed25519 signature in manifest.json.sig. Any difference, a missing file, an
incomplete acquisition or a bad signature exits with status 4.`,
		Example: `  coldcase verify case1
  coldcase verify case1 --pubkey responder.pub -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output, "table", "json"); err != nil {
				return err
			}
			var pub ed25519.PublicKey
			if pubkey != "" {
				data, err := snapshot.ReadKeyFile(pubkey)
				if err != nil {
					return withCode(exitUsage, fmt.Errorf("--pubkey: %w", err))
				}
				if pub, err = snapshot.ParsePublicKey(data); err != nil {
					return withCode(exitUsage, fmt.Errorf("--pubkey: %w", err))
				}
			}
			r, err := snapshot.Verify(args[0], pub)
			if r == nil {
				return err
			}
			if perr := printVerify(cmd, output, r); perr != nil && err == nil {
				return perr
			}
			if errors.Is(err, snapshot.ErrMismatch) {
				return withCode(exitMismatch, fmt.Errorf("%s: %w", args[0], err))
			}
			return err
		},
	}
	cmd.Flags().StringVar(&pubkey, "pubkey", "", "ed25519 public key (PKIX PEM) to check manifest.json.sig")
	outputFlag(cmd, &output, "table", "json")
	return cmd
}

func printVerify(cmd *cobra.Command, format string, r *snapshot.Report) error {
	w := cmd.OutOrStdout()
	if format == "json" {
		return writeJSON(w, r)
	}
	var rows [][]string
	for _, f := range r.Files {
		res := "ok"
		switch {
		case f.Error != "":
			res = f.Error
		case !f.OK:
			res = fmt.Sprintf("DIFFERS: size %d (manifest %d), sha256 %s (manifest %s)", f.Size, f.ExpectSize, f.SHA256, f.ExpectSHA256)
		}
		rows = append(rows, []string{f.Path, fmt.Sprint(f.Size), f.SHA256, res})
	}
	if err := writeTable(w, []string{"evidence", "size", "sha256", "result"}, rows); err != nil {
		return err
	}
	verdict := "verified"
	if !r.OK {
		verdict = "MISMATCH"
	}
	_, err := fmt.Fprintf(w, "case %s (%s), signature %s: %s\n", escape(r.CaseID), r.Status, escape(r.Signature), verdict)
	return err
}
