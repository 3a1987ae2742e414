package main

import (
	"context"
	"errors"
	iofs "io/fs"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/coldcase-dfir/coldcase/timeline"
)

func init() { verbs = append(verbs, newTimelineCmd) }

type filterFlags struct {
	from, to, grep, user, path string
	sources                    []string
}

func (ff *filterFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&ff.from, "from", "", "only events at or after this time (RFC 3339 or date, UTC)")
	cmd.Flags().StringVar(&ff.to, "to", "", "only events at or before this time (a date means its end)")
	cmd.Flags().StringSliceVar(&ff.sources, "source", nil, "only these sources (fs, auth, syslog, wtmp, journal, …)")
	cmd.Flags().StringVar(&ff.user, "user", "", "only events of this user")
	cmd.Flags().StringVar(&ff.grep, "grep", "", "only events whose message, path, user, IP or attributes match this regular expression")
	cmd.Flags().StringVar(&ff.path, "path", "", "only events about paths under this prefix")
}

func (ff *filterFlags) filter() (*timeline.Filter, error) {
	f := &timeline.Filter{Sources: ff.sources, User: ff.user, PathPrefix: ff.path}
	var err error
	if f.From, err = timeline.ParseBound(ff.from, false); err != nil {
		return nil, withCode(exitUsage, err)
	}
	if f.To, err = timeline.ParseBound(ff.to, true); err != nil {
		return nil, withCode(exitUsage, err)
	}
	if ff.grep != "" {
		if f.Grep, err = regexp.Compile(ff.grep); err != nil {
			return nil, withCode(exitUsage, err)
		}
	}
	return f, nil
}

// fsEvents walks a tree and sends every object's MACB events (or, with
// files set, the objects themselves) on. Deleted entries are included when
// the filesystem keeps them.
func fsEvents(ctx context.Context, fsys iofs.FS, ev *evidence, sel string, deleted bool, sink timeline.Sink, files func(*timeline.File) error) (int, error) {
	n := 0
	emit := func(f timeline.File) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f.Evidence.Image = ev.ImageName()
		f.Evidence.Volume = ev.VolumeOf(sel, f.Path)
		n++
		if files != nil {
			return files(&f)
		}
		return f.Events(sink.Add)
	}
	err := walkFiles(fsys, "/", true, func(err error) { log.Warn(err) }, func(p string, fi iofs.FileInfo) error {
		return emit(fileOf(p, fi))
	})
	if err != nil {
		return n, err
	}
	if deleted {
		if err := listDeleted(fsys, "/", emit); err != nil {
			log.Debug(err)
		}
	}
	return n, nil
}

func newTimelineCmd() *cobra.Command {
	var ef evidenceFlags
	var ff filterFlags
	var only []string
	var output string
	var noFS, noArtifacts, deleted bool
	cmd := &cobra.Command{
		Use:   "timeline IMAGE...",
		Short: "One timeline of filesystem times and artifact events, sorted",
		Long: `Merge the MACB times of every file of the guest with the events of every
artifact extractor (logins, commands, cron, package installs, journal, …)
into one timeline sorted in bounded memory. Every row carries its evidence
reference (image, volume, path, inode, line or offset).

-o bodyfile writes a TSK 3.x bodyfile (one line per file, as fls -m does, plus
one line per artifact event) for mactime; -o jsonl imports into Timesketch.`,
		Example: `  coldcase timeline disk.qcow2 --from 2026-09-01 --to 2026-09-30
  coldcase timeline disk.qcow2 -o jsonl > timeline.jsonl
  coldcase timeline disk.qcow2 --no-artifacts -o bodyfile | mactime -b - -d -y -z UTC
  coldcase timeline disk.qcow2 --source auth,wtmp --grep 203.0.113.7 -o csv`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output, timeline.Formats...); err != nil {
				return err
			}
			if noFS && noArtifacts {
				return withCode(exitUsage, errors.New("--no-fs and --no-artifacts leave nothing"))
			}
			f, err := ff.filter()
			if err != nil {
				return err
			}
			ev, fsys, sel, err := ef.open(args)
			if err != nil {
				return err
			}
			defer ev.Close()
			ctx := cmd.Context()
			s := &timeline.Sorter{}
			defer s.Close()
			if output == "bodyfile" {
				// A bodyfile is one line per file; mactime does the sorting.
				w, _ := timeline.NewWriter(cmd.OutOrStdout(), "bodyfile")
				if !noFS {
					_, err := fsEvents(ctx, fsys, ev, sel, deleted, nil, func(file *timeline.File) error {
						if f.PathPrefix != "" || f.Grep != nil || f.User != "" || !f.From.IsZero() || !f.To.IsZero() || len(f.Sources) > 0 {
							keep := false
							file.Events(func(e timeline.Event) error {
								keep = keep || f.Match(&e)
								return nil
							})
							if !keep {
								return nil
							}
						}
						return w.(timeline.FileWriter).WriteFile(file)
					})
					if err != nil {
						return err
					}
				}
				if !noArtifacts {
					if _, err := runArtifacts(ctx, fsys, ev, sel, only, s); err != nil {
						return err
					}
				}
				err := s.Each(func(e timeline.Event) error {
					if !f.Match(&e) {
						return nil
					}
					return w.Write(&e)
				})
				if cerr := w.Close(); err == nil {
					err = cerr
				}
				return err
			}
			if !noFS {
				n, err := fsEvents(ctx, fsys, ev, sel, deleted, s, nil)
				if err != nil {
					return err
				}
				log.Infof("timeline: %d filesystem objects", n)
			}
			if !noArtifacts {
				if _, err := runArtifacts(ctx, fsys, ev, sel, only, s); err != nil {
					return err
				}
			}
			log.Infof("timeline: %d events", s.Len())
			return writeSorted(cmd.OutOrStdout(), output, s, f)
		},
	}
	ef.add(cmd)
	ff.add(cmd)
	cmd.Flags().StringSliceVar(&only, "only", nil, "artifact families to include (see coldcase artifacts --help)")
	cmd.Flags().BoolVar(&noFS, "no-fs", false, "leave out filesystem MACB times")
	cmd.Flags().BoolVar(&noArtifacts, "no-artifacts", false, "leave out artifact events")
	cmd.Flags().BoolVar(&deleted, "deleted", true, "include deleted entries the filesystem still holds")
	outputFlag(cmd, &output, timeline.Formats...)
	return cmd
}
