package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/coldcase-dfir/coldcase/timeline"
)

// outputFlag adds -o/--output with the formats a verb supports; the first
// is the default.
func outputFlag(cmd *cobra.Command, p *string, formats ...string) {
	cmd.Flags().StringVarP(p, "output", "o", formats[0], "output format: "+strings.Join(formats, "|"))
}

func checkFormat(got string, formats ...string) error {
	for _, f := range formats {
		if got == f {
			return nil
		}
	}
	return withCode(exitUsage, fmt.Errorf("-o %q: want one of %s", got, strings.Join(formats, ", ")))
}

// writeJSON writes v as indented JSON. Strings from evidence stay raw in
// JSON (encoding/json escapes control characters itself).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeTable writes rows for a terminal. Every cell is escaped, because
// cells carry names and strings from the evidence.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	// Headers stay as written: tablewriter's auto-format would turn
	// "mtime (UTC)" into "MTIME  ( UTC )".
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off))
	h := make([]any, len(header))
	for i, c := range header {
		h[i] = c
	}
	t.Header(h...)
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = timeline.EscapeTerminal(c)
		}
		if err := t.Append(cells); err != nil {
			return err
		}
	}
	return t.Render()
}

// stderrIsTerminal says whether progress bars may be drawn.
func stderrIsTerminal() bool { return term.IsTerminal(int(os.Stderr.Fd())) }

func escape(s string) string { return timeline.EscapeTerminal(s) }
