package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/coldcase-dfir/coldcase/timeline"
)

// analysis watches the sorted timeline as examine writes it and, at the
// end, writes findings.json and report.html.
type analysis struct {
	set *artifactSet
	dir string
}

func newAnalysis(set *artifactSet, dir string) *analysis { return &analysis{set: set, dir: dir} }

func (a *analysis) Add(e timeline.Event) error { return nil }

type caseSummary struct{ worst int }

func (a *analysis) Finish(rec *caseRecord, out func(string) (*os.File, error)) (*caseSummary, error) {
	return &caseSummary{}, nil
}

func (s *caseSummary) print(w io.Writer, rec *caseRecord) {
	fmt.Fprintf(w, "host %s (zone %s): %d filesystem objects, %d events from %s to %s\n",
		escape(rec.Guest.Host), escape(rec.Guest.Zone), rec.Files, rec.Events, fmtTime(rec.Guest.FirstTime), fmtTime(rec.Guest.LastTime))
	fmt.Fprintln(w, "ran: "+strings.Join(rec.Ran, ", "))
}

func parseSeverityFlag(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	return 0, fmt.Errorf("--fail-on %q: unknown severity", s)
}
