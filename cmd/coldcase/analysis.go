package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/coldcase-dfir/coldcase/artifacts/findings"
	"github.com/coldcase-dfir/coldcase/artifacts/system"
	"github.com/coldcase-dfir/coldcase/artifacts/users"
	"github.com/coldcase-dfir/coldcase/timeline"
)

// analysis watches the sorted timeline as examine writes it and, at the
// end, evaluates the record rules and writes findings.json and
// report.html.
type analysis struct {
	set    *artifactSet
	dir    string
	engine *findings.Engine
}

func newAnalysis(set *artifactSet, dir string) *analysis {
	return &analysis{set: set, dir: dir, engine: findings.NewEngine()}
}

func (a *analysis) Add(e timeline.Event) error { return a.engine.Add(e) }

type caseSummary struct {
	worst    findings.Severity
	findings []findings.Finding
	set      *artifactSet
}

func (a *analysis) Finish(rec *caseRecord, out func(string) (*os.File, error)) (*caseSummary, error) {
	a.engine.Records(a.set.Records)
	fs := a.engine.Findings()
	rec.Ran = append(rec.Ran, "findings")
	f, err := out("findings.json")
	if err != nil {
		return nil, err
	}
	if fs == nil {
		fs = []findings.Finding{}
	}
	if err := writeJSON(f, fs); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := writeReport(a.dir, rec, a.set, fs, out); err != nil {
		return nil, err
	}
	return &caseSummary{worst: findings.Worst(fs), findings: fs, set: a.set}, nil
}

// print writes the one-screen summary: host, OS, users, findings by
// severity, time span.
func (s *caseSummary) print(w io.Writer, rec *caseRecord) {
	osName := ""
	if sys, ok := s.set.Records["system"].(*system.Report); ok {
		osName = sys.OS.PrettyName
	}
	fmt.Fprintf(w, "host      %s  %s  (time zone %s)\n", escape(rec.Guest.Host), escape(osName), escape(rec.Guest.Zone))
	if u, ok := s.set.Records["users"].(*users.Report); ok {
		var login []string
		for _, x := range u.Users {
			if x.LoginShell && x.Source == "passwd" {
				login = append(login, x.Name)
			}
		}
		fmt.Fprintf(w, "users     %d accounts; with a login shell: %s\n", len(u.Users), escape(strings.Join(login, ", ")))
	}
	fmt.Fprintf(w, "timeline  %d events from %d filesystem objects, %s … %s\n", rec.Events, rec.Files,
		fmtTime(rec.Guest.FirstTime), fmtTime(rec.Guest.LastTime))
	counts := map[findings.Severity]int{}
	for _, f := range s.findings {
		counts[f.Severity]++
	}
	fmt.Fprintf(w, "findings  high %d, medium %d, low %d, info %d\n", counts[findings.High], counts[findings.Medium], counts[findings.Low], counts[findings.Info])
	shown := 0
	for _, f := range s.findings {
		if f.Severity < findings.Medium || shown >= 15 {
			continue
		}
		shown++
		t := ""
		if !f.Time.IsZero() {
			t = f.Time.UTC().Format("2006-01-02 15:04:05") + "  "
		}
		fmt.Fprintf(w, "  %-6s  %s%s: %s\n", strings.ToUpper(f.Severity.String()), t, f.Rule, escape(f.Detail))
	}
	if len(rec.Errors) > 0 {
		keys := make([]string, 0, len(rec.Errors))
		for k := range rec.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "errors    %s (see case.json)\n", strings.Join(keys, ", "))
	}
}

func parseSeverityFlag(s string) (findings.Severity, error) {
	if s == "" {
		return 0, nil
	}
	return findings.ParseSeverity(s)
}
