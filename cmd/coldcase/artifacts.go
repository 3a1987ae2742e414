package main

import (
	"context"
	"fmt"
	"io"
	iofs "io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/timeline"
)

func init() { verbs = append(verbs, newArtifactsCmd) }

// artifactSet is what the extractors found: records per family, and the
// warnings met on the way.
type artifactSet struct {
	Host     string              `json:"host,omitempty"`
	Zone     string              `json:"time_zone"`
	Records  map[string]any      `json:"records"`
	Errors   map[string]string   `json:"errors,omitempty"`
	Warnings []artifacts.Warning `json:"warnings,omitempty"`
}

// aliases maps --only names to extractor names.
var aliases = map[string][]string{
	"logs": {"syslog", "audit", "packages", "utmp", "journal"},
	"cron": {"persistence"},
}

// runArtifacts runs the selected extractors over a tree, sending their
// events to sink.
func runArtifacts(ctx context.Context, fsys iofs.FS, ev *evidence, sel string, only []string, sink timeline.Sink) (*artifactSet, error) {
	want := map[string]bool{}
	for _, o := range only {
		for _, name := range strings.Split(o, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if al, ok := aliases[name]; ok {
				for _, a := range al {
					want[a] = true
				}
			} else {
				want[name] = true
			}
		}
	}
	known := map[string]bool{}
	for _, x := range artifacts.Extractors() {
		known[x.Name] = true
	}
	for w := range want {
		if !known[w] {
			names := make([]string, 0, len(known))
			for k := range known {
				names = append(names, k)
			}
			sort.Strings(names)
			return nil, withCode(exitUsage, fmt.Errorf("--only %s: unknown family (have %s, logs, cron)", w, strings.Join(names, ", ")))
		}
	}
	env := artifacts.NewEnv(fsys)
	env.Image = ev.ImageName()
	env.Volume = sel
	if sel == "" && ev.Guest != nil {
		env.VolumeOf = ev.Guest.VolumeOf
	}
	env.Events = sink
	set := &artifactSet{Host: env.Host, Zone: env.ZoneName, Records: map[string]any{}, Errors: map[string]string{}}
	if len(want) == 0 && sink != nil {
		if err := snapshotEvents(ev, sink); err != nil {
			return nil, err
		}
	}
	for _, x := range artifacts.Extractors() {
		if len(want) > 0 && !want[x.Name] {
			continue
		}
		log.Debugf("artifacts: running %s", x.Name)
		rec, err := x.Run(ctx, env)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			log.Warnf("artifacts: %s: %v", x.Name, err)
			set.Errors[x.Name] = err.Error()
		}
		if rec != nil {
			set.Records[x.Name] = rec
		}
	}
	set.Warnings = env.Warnings()
	for _, w := range set.Warnings {
		log.Debug("artifacts: " + escape(w.String()))
	}
	if len(set.Warnings) > 0 {
		log.Infof("artifacts: %d warnings about the evidence (see warnings in the JSON output)", len(set.Warnings))
	}
	return set, nil
}

func newArtifactsCmd() *cobra.Command {
	var ef evidenceFlags
	var only []string
	var output string
	cmd := &cobra.Command{
		Use:   "artifacts IMAGE...",
		Short: "Extract users, cron and persistence, logs, binaries and system facts",
		Long: `Run the artifact extractors over the assembled guest (or one volume, or an
extracted directory with --root). -o json gives every record and warning;
-o jsonl and csv give the events the extractors produced; table gives one
readable table per record list.`,
		Example: `  coldcase artifacts disk.qcow2 --only users,cron
  coldcase artifacts disk.qcow2 -o json > artifacts.json
  coldcase artifacts --root ./extracted-root --only logs -o jsonl`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output, "table", "json", "jsonl", "csv"); err != nil {
				return err
			}
			ev, fsys, sel, err := ef.open(args)
			if err != nil {
				return err
			}
			defer ev.Close()
			if output == "jsonl" || output == "csv" {
				s := &timeline.Sorter{}
				if _, err := runArtifacts(cmd.Context(), fsys, ev, sel, only, s); err != nil {
					return err
				}
				return writeSorted(cmd.OutOrStdout(), output, s, nil)
			}
			set, err := runArtifacts(cmd.Context(), fsys, ev, sel, only, nil)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), set)
			}
			return writeRecordTables(cmd.OutOrStdout(), set)
		},
	}
	ef.add(cmd)
	cmd.Flags().StringSliceVar(&only, "only", nil, "families to run: system, users, persistence (cron), binaries, syslog, audit, packages, utmp, journal, logs")
	outputFlag(cmd, &output, "table", "json", "jsonl", "csv")
	return cmd
}

// writeSorted writes a sorter's events in a timeline format.
func writeSorted(w io.Writer, format string, s *timeline.Sorter, f *timeline.Filter) error {
	tw, err := timeline.NewWriter(w, format)
	if err != nil {
		return withCode(exitUsage, err)
	}
	err = s.Each(func(e timeline.Event) error {
		if f != nil && !f.Match(&e) {
			return nil
		}
		return tw.Write(&e)
	})
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	return err
}

func writeRecordTables(w io.Writer, set *artifactSet) error {
	fmt.Fprintf(w, "host %s, time zone %s\n", escape(set.Host), escape(set.Zone))
	names := make([]string, 0, len(set.Records))
	for k := range set.Records {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, t := range tablesOf(name, set.Records[name]) {
			fmt.Fprintf(w, "\n%s (%d)\n", t.title, len(t.rows))
			if err := writeTable(w, t.header, t.rows); err != nil {
				return err
			}
		}
	}
	for fam, e := range set.Errors {
		fmt.Fprintf(w, "\n%s failed: %s\n", fam, escape(e))
	}
	if n := len(set.Warnings); n > 0 {
		fmt.Fprintf(w, "\n%d warnings about the evidence; -o json lists them\n", n)
	}
	return nil
}

// snapshotEvents puts each qcow2 internal snapshot of the evidence on the
// timeline: when the disk's older state was kept, and whether the VM's
// memory was saved with it (memory forensics material inside the image).
func snapshotEvents(ev *evidence, sink timeline.Sink) error {
	for _, im := range ev.Images {
		for _, l := range im.Layers {
			for _, sn := range l.Snapshots {
				msg := fmt.Sprintf("qcow2 internal snapshot %s %q of %s: disk %d bytes", sn.ID, sn.Name, filepath.Base(l.Path), sn.DiskSize)
				if sn.VMStateSize > 0 {
					msg += fmt.Sprintf(", VM memory and device state %d bytes", sn.VMStateSize)
				}
				e := timeline.Event{Time: sn.Date, TimestampDesc: "Snapshot taken", Message: msg, Source: "image",
					Evidence: timeline.Evidence{Image: l.Path, Offset: -1},
					Attrs: map[string]string{"snapshot_id": sn.ID, "snapshot_name": sn.Name, "disk_size": fmt.Sprint(sn.DiskSize),
						"vm_state_size": fmt.Sprint(sn.VMStateSize), "vm_clock": sn.VMClock.String()}}
				if err := sink.Add(e); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
