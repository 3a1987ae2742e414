package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coldcase-dfir/coldcase/artifacts/binaries"
	"github.com/coldcase-dfir/coldcase/artifacts/findings"
	"github.com/coldcase-dfir/coldcase/artifacts/persistence"
	"github.com/coldcase-dfir/coldcase/artifacts/system"
	"github.com/coldcase-dfir/coldcase/artifacts/users"
	"github.com/coldcase-dfir/coldcase/timeline/report"
)

func init() { verbs = append(verbs, newReportCmd) }

// writeReport writes report.html into the case folder, reading the events
// back from the timeline.jsonl examine has just written.
func writeReport(dir string, rec *caseRecord, set *artifactSet, fs []findings.Finding, out func(string) (*os.File, error)) error {
	return renderReport(dir, rec, set, fs, 0, func() (*os.File, error) { return out("report.html") })
}

func renderReport(dir string, rec *caseRecord, set *artifactSet, fs []findings.Finding, maxEvents int, create func() (*os.File, error)) error {
	jl, err := os.Open(filepath.Join(dir, "timeline.jsonl"))
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer jl.Close()
	d := reportData(rec, set, fs)
	d.Events = report.ReadJSONL(jl)
	d.Count = rec.Events
	d.MaxEvents = maxEvents
	f, err := create()
	if err != nil {
		return err
	}
	if err := report.Write(f, d); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newReportCmd() *cobra.Command {
	var dir, output string
	var maxEvents int
	cmd := &cobra.Command{
		Use:   "report -d CASE",
		Short: "Write a case folder's report.html again from its files",
		Long: fmt.Sprintf(`Render report.html from a case folder examine wrote (case.json,
artifacts.json, findings.json, timeline.jsonl) without opening the images
again: to include the image hashes examine finished after its report, or
to embed more or fewer events than the default of %d (the latest ones are
kept when the timeline is longer).`, report.DefaultMaxEvents),
		Example: `  coldcase report -d case-sample
  coldcase report -d case42 --max-events 1000000 -o case42/report-full.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return withCode(exitUsage, errors.New("-d CASE is required"))
			}
			rec, set, fs, err := readCase(dir)
			if err != nil {
				return err
			}
			if output == "" {
				output = filepath.Join(dir, "report.html")
			}
			err = renderReport(dir, rec, set, fs, maxEvents, func() (*os.File, error) { return os.Create(output) })
			if err == nil {
				log.Infof("report written to %s", output)
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&dir, "dir", "d", "", "case folder examine wrote")
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write (default CASE/report.html)")
	cmd.Flags().IntVar(&maxEvents, "max-events", 0, fmt.Sprintf("events to embed in the page (default %d)", report.DefaultMaxEvents))
	return cmd
}

// readCase reads back what examine wrote: case.json, findings.json, and
// the records of artifacts.json the report shows, typed again.
func readCase(dir string) (*caseRecord, *artifactSet, []findings.Finding, error) {
	var rec caseRecord
	if err := readCaseJSON(filepath.Join(dir, "case.json"), &rec); err != nil {
		return nil, nil, nil, err
	}
	var fs []findings.Finding
	if err := readCaseJSON(filepath.Join(dir, "findings.json"), &fs); err != nil {
		return nil, nil, nil, err
	}
	var raw struct {
		Host    string                     `json:"host"`
		Zone    string                     `json:"time_zone"`
		Records map[string]json.RawMessage `json:"records"`
	}
	if err := readCaseJSON(filepath.Join(dir, "artifacts.json"), &raw); err != nil {
		return nil, nil, nil, err
	}
	set := &artifactSet{Host: raw.Host, Zone: raw.Zone, Records: map[string]any{}}
	typed := map[string]any{
		"system": &system.Report{}, "users": &users.Report{},
		"persistence": &persistence.Report{}, "binaries": &binaries.Report{},
	}
	for name, v := range typed {
		b, ok := raw.Records[name]
		if !ok || string(b) == "null" {
			continue
		}
		if err := json.Unmarshal(b, v); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: records.%s: %w", filepath.Join(dir, "artifacts.json"), name, err)
		}
		set.Records[name] = v
	}
	return &rec, set, fs, nil
}

func readCaseJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := json.NewDecoder(bufio.NewReaderSize(f, 1<<16)).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// reportData turns the case record, the extractors' records and the
// findings into the page's facts and tables.
func reportData(rec *caseRecord, set *artifactSet, fs []findings.Finding) report.Data {
	d := report.Data{Generated: time.Now().UTC()}
	host := rec.Guest.Host
	if host == "" && set != nil {
		host = set.Host
	}
	d.Title = "coldcase report"
	if host != "" {
		d.Title += ": " + host
	}

	add := func(facts *[]report.Fact, name, value string) {
		if value != "" {
			*facts = append(*facts, report.Fact{Name: name, Value: value})
		}
	}
	add(&d.Case, "Tool", rec.Tool+" "+rec.Version)
	add(&d.Case, "Examiner host", rec.Host)
	add(&d.Case, "Operator", rec.Operator)
	add(&d.Case, "Started", fmtTime(rec.Started))
	add(&d.Case, "Root folder", rec.Root)
	add(&d.Case, "Events", strconv.FormatInt(rec.Events, 10))
	add(&d.Case, "Filesystem objects", strconv.Itoa(rec.Files))
	add(&d.Case, "First event", fmtTime(rec.Guest.FirstTime))
	add(&d.Case, "Last event", fmtTime(rec.Guest.LastTime))
	add(&d.Case, "Ran", strings.Join(rec.Ran, ", "))
	// examine hashes the image files alongside the other work; when the
	// hashes are not in yet, the table says where they will be.
	d.Images = report.Table{Title: "Images", Columns: []string{"Path", "Format", "Virtual size", "File size", "SHA-256"}}
	hashes := map[string]hashedImage{}
	for _, im := range rec.Images {
		hashes[im.Path] = im
	}
	if rec.Info != nil {
		for _, im := range rec.Info.Images {
			h, ok := hashes[im.Path]
			sum, size := h.SHA256, strconv.FormatInt(h.Size, 10)
			if !ok {
				sum, size = "in case.json (computed while the report was written)", ""
			}
			delete(hashes, im.Path)
			d.Images.Rows = append(d.Images.Rows, []string{im.Path, im.Format, strconv.FormatInt(im.Size, 10), size, sum})
		}
	}
	for _, im := range rec.Images {
		if _, ok := hashes[im.Path]; ok {
			d.Images.Rows = append(d.Images.Rows, []string{im.Path, "", "", strconv.FormatInt(im.Size, 10), im.SHA256})
		}
	}

	add(&d.System, "Host", host)
	add(&d.System, "Time zone", rec.Guest.Zone)
	if set == nil {
		set = &artifactSet{}
	}
	if sys, ok := set.Records["system"].(*system.Report); ok {
		systemFacts(&d, sys, add)
	}
	if u, ok := set.Records["users"].(*users.Report); ok {
		d.Tables = append(d.Tables, userTables(u)...)
	}
	if p, ok := set.Records["persistence"].(*persistence.Report); ok {
		d.Tables = append(d.Tables, persistenceTable(p))
	}
	if b, ok := set.Records["binaries"].(*binaries.Report); ok {
		d.Tables = append(d.Tables, binaryTable(b))
	}

	for _, f := range fs {
		d.Findings = append(d.Findings, report.Finding{
			Severity: f.Severity.String(), Rule: f.Rule, Title: f.Title, Detail: f.Detail,
			Time: f.Time, User: f.User, IP: f.IP, Path: f.Path, Evidence: f.Evidence,
		})
	}

	if rec.Info != nil && len(rec.Info.Volumes) > 0 {
		d.Tables = append(d.Tables, volumeTable(rec.Info))
	}

	keys := make([]string, 0, len(rec.Errors))
	for k, v := range rec.Errors {
		keys = append(keys, "error: "+k+": "+v)
	}
	sort.Strings(keys)
	d.Warnings = append(keys, rec.Warnings...)
	// A damaged disk can warn thousands of times; case.json has them all.
	const maxWarnings = 500
	if len(d.Warnings) > maxWarnings {
		more := len(d.Warnings) - maxWarnings
		d.Warnings = append(d.Warnings[:maxWarnings:maxWarnings], fmt.Sprintf("… and %d more in case.json", more))
	}
	return d
}

func systemFacts(d *report.Data, sys *system.Report, add func(*[]report.Fact, string, string)) {
	add(&d.System, "Hostname (/etc/hostname)", sys.Hostname)
	osName := sys.OS.PrettyName
	if osName == "" {
		osName = strings.TrimSpace(sys.OS.ID + " " + sys.OS.VersionID)
	}
	add(&d.System, "OS", osName)
	if sys.TimeZone != "" && !hasFact(d.System, "Time zone") {
		add(&d.System, "Time zone", sys.TimeZone)
	}
	if sys.InstallTime != nil {
		add(&d.System, "Installed (hint)", fmtTime(*sys.InstallTime))
	}
	for _, h := range sys.InstallHints {
		add(&d.System, "Install hint", fmtTime(h.Time)+"  "+h.Source)
	}
	for _, k := range sys.Kernels {
		v := k.Version
		if k.Installed != nil {
			v += "  (installed " + fmtTime(*k.Installed) + ")"
		}
		add(&d.System, "Kernel", v)
	}
	add(&d.System, "Machine ID", sys.MachineID)
	for _, i := range sys.Interfaces {
		parts := []string{i.Name}
		if i.Method != "" {
			parts = append(parts, i.Method)
		}
		parts = append(parts, i.Addresses...)
		if i.Gateway != "" {
			parts = append(parts, "gw "+i.Gateway)
		}
		if i.MAC != "" {
			parts = append(parts, "mac "+i.MAC)
		}
		add(&d.System, "Interface", strings.Join(parts, " ")+"  ("+i.Source+" "+i.File+")")
	}
	if len(sys.Resolver.Nameservers) > 0 {
		add(&d.System, "Nameservers", strings.Join(sys.Resolver.Nameservers, ", "))
	}
	for _, h := range sys.Hosts {
		if !strings.HasPrefix(h.IP, "127.") && h.IP != "::1" && !strings.HasPrefix(h.IP, "ff0") && !strings.HasPrefix(h.IP, "fe00") {
			add(&d.System, "/etc/hosts", h.IP+" "+strings.Join(h.Names, " "))
		}
	}
}

func userTables(u *users.Report) []report.Table {
	acc := report.Table{ID: "users", Title: "Users",
		Columns: []string{"Name", "UID", "GID", "Groups", "Home", "Shell", "Login", "Source", "Flags", "Evidence"}}
	for _, x := range u.Users {
		uid, gid := strconv.FormatUint(uint64(x.UID), 10), strconv.FormatUint(uint64(x.GID), 10)
		if x.UID == ^uint32(0) {
			uid, gid = "", ""
		}
		login := ""
		if x.LoginShell {
			login = "yes"
		}
		acc.Rows = append(acc.Rows, []string{x.Name, uid, gid, strings.Join(x.Groups, ", "), x.Home, x.Shell,
			login, x.Source, strings.Join(x.Flags, ", "), evidenceRef(x.Evidence.Path, x.Evidence.Line)})
	}
	keys := report.Table{ID: "keys", Title: "Authorized keys",
		Columns: []string{"User", "File", "Line", "Type", "Fingerprint", "Comment", "Options", "File modified"}}
	for _, k := range u.AuthorizedKeys {
		keys.Rows = append(keys.Rows, []string{k.User, k.File, strconv.FormatInt(k.Line, 10), k.KeyType, k.Fingerprint,
			k.Comment, strings.Join(k.Options, ","), fmtTime(k.FileMeta.Mtime)})
	}
	return []report.Table{acc, keys}
}

func persistenceTable(p *persistence.Report) report.Table {
	t := report.Table{ID: "persistence", Title: "Persistence",
		Columns: []string{"Kind", "Schedule", "Owner", "Command", "Unit", "Indicators", "File", "Modified"}}
	// Entries with indicators first: those are what the findings point at.
	entries := append([]persistence.Entry(nil), p.Entries...)
	sort.SliceStable(entries, func(i, j int) bool { return len(entries[i].Indicators) > 0 && len(entries[j].Indicators) == 0 })
	for _, e := range entries {
		t.Rows = append(t.Rows, []string{e.Kind, e.Schedule, e.Owner, e.Command, e.Unit,
			strings.Join(e.Indicators, ", "), evidenceRef(e.File, e.Line), fmtTime(e.FileMeta.Mtime)})
	}
	return t
}

func binaryTable(b *binaries.Report) report.Table {
	t := report.Table{ID: "binaries", Title: "Suspicious binaries",
		Columns: []string{"Path", "Flags", "Mode", "Owner", "Format", "Package", "Modified", "Changed", "SHA-256"}}
	t.Note = fmt.Sprintf("%d of %d executables flagged", b.FlaggedTotal, b.Total)
	if int64(len(b.Flagged)) < b.FlaggedTotal {
		t.Note += fmt.Sprintf("; %d listed (see artifacts.json)", len(b.Flagged))
	}
	if b.PackageNote != "" {
		t.Note += "; " + b.PackageNote
	}
	for _, x := range b.Flagged {
		owner := x.Owner
		if owner == "" && x.UID != nil {
			owner = strconv.FormatUint(uint64(*x.UID), 10)
		}
		ctime := ""
		if x.Ctime != nil {
			ctime = fmtTime(*x.Ctime)
		}
		t.Rows = append(t.Rows, []string{x.Path, strings.Join(x.Flags, ", "), x.Mode, owner, x.Format, x.Package,
			fmtTime(x.Mtime), ctime, x.SHA256})
	}
	return t
}

func evidenceRef(path string, line int64) string {
	if line > 0 {
		return path + ":" + strconv.FormatInt(line, 10)
	}
	return path
}

func hasFact(fs []report.Fact, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}

func volumeTable(info *infoReport) report.Table {
	t := report.Table{ID: "volumes", Title: "Volumes",
		Columns: []string{"Volume", "Scheme", "Type", "Name", "Size", "Filesystem", "Label", "UUID", "Last mounted", "Notes"}}
	for _, v := range info.Volumes {
		row := []string{v.Selector, v.Scheme, v.Type, v.Name, strconv.FormatInt(v.Size, 10), "", "", "", "", strings.Join(v.Warnings, "; ")}
		if fi := v.Filesystem; fi != nil {
			row[5], row[6], row[7] = fi.Type, fi.Label, fi.UUID
			row[8] = strings.TrimSpace(fi.LastMounted + " " + fmtTime(fi.LastMountTime))
			if fi.Dirty {
				row[9] = strings.TrimPrefix(row[9]+"; dirty (not cleanly unmounted)", "; ")
			}
		}
		if v.Unsupported != "" {
			row[9] = strings.TrimPrefix(row[9]+"; "+v.Unsupported, "; ")
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}
