package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/coldcase-dfir/coldcase/timeline"
)

func init() { verbs = append(verbs, newExamineCmd) }

// caseRecord is case.json: what was examined, by what, when, and what
// happened on the way.
type caseRecord struct {
	Tool     string        `json:"tool"`
	Version  string        `json:"version"`
	Host     string        `json:"examiner_host"`
	Operator string        `json:"operator,omitempty"`
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished"`
	Images   []hashedImage `json:"images,omitempty"`
	Root     string        `json:"root,omitempty"`
	// How the evidence was read, where not the default.
	Volume        string            `json:"volume,omitempty"`
	Snapshot      string            `json:"snapshot,omitempty"`
	ReplayJournal bool              `json:"replay_journal,omitempty"`
	Info          *infoReport       `json:"info,omitempty"`
	Guest         guestSummary      `json:"guest"`
	Ran           []string          `json:"ran"`
	Outputs       []string          `json:"outputs"`
	Events        int64             `json:"events"`
	Files         int               `json:"filesystem_objects"`
	Warnings      []string          `json:"warnings,omitempty"`
	Errors        map[string]string `json:"errors,omitempty"`
}

type hashedImage struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type guestSummary struct {
	Host      string    `json:"host,omitempty"`
	Zone      string    `json:"time_zone,omitempty"`
	FirstTime time.Time `json:"first_event,omitempty"`
	LastTime  time.Time `json:"last_event,omitempty"`
}

// hashFiles hashes the evidence files as they are on disk (each file of a
// split raw or backing chain is listed by coldcase info; the files named
// on the command line are hashed here).
func hashFiles(paths []string) ([]hashedImage, error) {
	var out []hashedImage
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		n, err := io.Copy(h, bufio.NewReaderSize(f, 1<<20))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("hashing %s: %w", p, err)
		}
		out = append(out, hashedImage{Path: p, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	return out, nil
}

func newExamineCmd() *cobra.Command {
	var ef evidenceFlags
	var dir, failOn string
	var only []string
	cmd := &cobra.Command{
		Use:   "examine IMAGE... -d CASE",
		Short: "Run everything and write a case folder: timeline, artifacts, findings, report",
		Long: `Examine one VM's disk image(s) (or an extracted tree with --root): describe
the images, assemble the guest, run every artifact extractor, merge all
filesystem times and artifact events into one sorted timeline, evaluate the
findings rules, and write the case folder:

  case.json       image hashes, tool version, host, start/end, what ran, warnings
  timeline.jsonl  Timesketch import        timeline.csv  spreadsheet (formulas neutralised)
  bodyfile        TSK 3.x for mactime       artifacts.json  every record and warning
  findings.json   rule hits with evidence   report.html     self-contained report

A one-screen summary goes to stdout. With --fail-on, the exit code is 3 when
a finding at or above that severity exists (for CI).`,
		Example: `  coldcase examine testdata/sample/sample.qcow2 -d case-sample
  coldcase examine disk1.vmdk disk2.vmdk -d case42 --fail-on high
  coldcase examine --root ./mounted-copy -d case43`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return withCode(exitUsage, errors.New("-d CASE is required"))
			}
			threshold, err := parseSeverityFlag(failOn)
			if err != nil {
				return withCode(exitUsage, err)
			}
			rec := caseRecord{Tool: "coldcase", Version: version, Started: time.Now().UTC(), Errors: map[string]string{},
				Volume: ef.volume, Snapshot: ef.snapshot, ReplayJournal: ef.replay}
			rec.Host, _ = os.Hostname()
			rec.Operator = os.Getenv("USER")
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return err
			}
			ev, err := openEvidence(args, ef)
			if err != nil {
				return err
			}
			defer ev.Close()
			hashed := make(chan []hashedImage, 1)
			hashErr := make(chan error, 1)
			go func() { h, err := hashFiles(args); hashed <- h; hashErr <- err }()
			fsys, sel, err := ev.FS(ef.volume)
			if err != nil {
				return err
			}
			if ev.Root != "" {
				rec.Root = ev.Root
			} else {
				info := buildInfo(ev)
				rec.Info = &info
				rec.Ran = append(rec.Ran, "info")
			}
			ctx := cmd.Context()
			out := func(name string) (*os.File, error) {
				rec.Outputs = append(rec.Outputs, name)
				return os.Create(filepath.Join(dir, name))
			}

			// One pass over the filesystem: the bodyfile gets each file
			// whole, the timeline its MACB events.
			body, err := out("bodyfile")
			if err != nil {
				return err
			}
			defer body.Close()
			bw, _ := timeline.NewWriter(body, "bodyfile")
			s := &timeline.Sorter{Dir: dir}
			defer s.Close()
			bar := newProgress(-1, "walking files")
			rec.Files, err = fsEvents(ctx, fsys, ev, sel, true, nil, func(f *timeline.File) error {
				bar.Add(1)
				if err := bw.(timeline.FileWriter).WriteFile(f); err != nil {
					return err
				}
				return f.Events(s.Add)
			})
			bar.Finish()
			if err != nil {
				return err
			}
			rec.Ran = append(rec.Ran, "filesystem")

			set, err := runArtifacts(ctx, fsys, ev, sel, only, s)
			if err != nil {
				return err
			}
			for name := range set.Records {
				rec.Ran = append(rec.Ran, "artifacts:"+name)
			}
			for fam, e := range set.Errors {
				rec.Errors["artifacts:"+fam] = e
			}
			for _, w := range set.Warnings {
				rec.Warnings = append(rec.Warnings, w.String())
			}
			rec.Guest.Host, rec.Guest.Zone = set.Host, set.Zone
			af, err := out("artifacts.json")
			if err != nil {
				return err
			}
			if err := writeJSON(af, set); err != nil {
				return err
			}
			af.Close()

			// The sorted pass feeds every writer and the findings rules at once.
			jl, err := out("timeline.jsonl")
			if err != nil {
				return err
			}
			defer jl.Close()
			cf, err := out("timeline.csv")
			if err != nil {
				return err
			}
			defer cf.Close()
			jw, _ := timeline.NewWriter(jl, "jsonl")
			cw, _ := timeline.NewWriter(cf, "csv")
			an := newAnalysis(set, dir)
			bar = newProgress(s.Len(), "writing timeline")
			err = s.Each(func(e timeline.Event) error {
				bar.Add(1)
				rec.Events++
				if rec.Guest.FirstTime.IsZero() {
					rec.Guest.FirstTime = e.Time
				}
				rec.Guest.LastTime = e.Time
				if e.Source != "fs" {
					if err := bw.Write(&e); err != nil {
						return err
					}
				}
				if err := jw.Write(&e); err != nil {
					return err
				}
				if err := cw.Write(&e); err != nil {
					return err
				}
				return an.Add(e)
			})
			bar.Finish()
			for _, w := range []timeline.Writer{jw, cw, bw} {
				if cerr := w.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				return err
			}
			rec.Ran = append(rec.Ran, "timeline")
			// The report shows the image hashes: wait for them (they were
			// computed while the guest was read).
			if h, herr := <-hashed, <-hashErr; herr != nil {
				rec.Errors["hash"] = herr.Error()
			} else {
				rec.Images = h
			}
			summary, err := an.Finish(&rec, out)
			if err != nil {
				return err
			}
			rec.Finished = time.Now().UTC()
			rec.Outputs = append(rec.Outputs, "case.json")
			cj, err := os.Create(filepath.Join(dir, "case.json"))
			if err != nil {
				return err
			}
			if err := writeJSON(cj, rec); err != nil {
				return err
			}
			cj.Close()
			summary.print(cmd.OutOrStdout(), &rec)
			log.Infof("case written to %s in %v", dir, rec.Finished.Sub(rec.Started).Round(time.Millisecond))
			if threshold > 0 && summary.worst >= threshold {
				return withCode(exitFindings, fmt.Errorf("findings at or above %s", failOn))
			}
			return nil
		},
	}
	ef.add(cmd)
	cmd.Flags().StringVarP(&dir, "dir", "d", "", "case folder to write (created if missing)")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "exit with code 3 when a finding at or above this severity exists: info, low, medium, high")
	cmd.Flags().StringSliceVar(&only, "only", nil, "artifact families to run (default all)")
	return cmd
}
