package journal

import (
	"context"
	"fmt"
	iofs "io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/timeline"
)

func init() {
	artifacts.Register(artifacts.Extractor{Name: "journal", Order: 20, Run: Run})
}

// FileSummary tells what was read from one journal file.
type FileSummary struct {
	Path          string    `json:"path"`
	State         string    `json:"state"`
	Flags         []string  `json:"flags,omitempty"`
	HeaderEntries uint64    `json:"header_entries"` // n_entries the header claims
	Entries       int       `json:"entries"`        // entries read
	FirstSeqnum   uint64    `json:"first_seqnum,omitempty"`
	LastSeqnum    uint64    `json:"last_seqnum,omitempty"`
	First         time.Time `json:"first,omitzero"`
	Last          time.Time `json:"last,omitzero"`
	Truncated     bool      `json:"truncated,omitempty"`
	// Damage is what ended reading before the end of the entry chain.
	Damage string `json:"damage,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Summary is what Run returns: one line per journal file.
type Summary struct {
	Files []FileSummary `json:"files"`
}

// Dirs are the folders Run looks in (each and its direct subfolders).
var Dirs = []string{"var/log/journal", "run/log/journal"}

// Files lists the journal files of a guest tree: *.journal and
// *.journal~ in Dirs and their machine-id subfolders, sorted by path.
func Files(fsys iofs.FS) []string {
	var out []string
	add := func(dir string) []iofs.DirEntry {
		ents, err := iofs.ReadDir(fsys, dir)
		if err != nil {
			return nil
		}
		for _, e := range ents {
			n := e.Name()
			if e.Type().IsRegular() && (strings.HasSuffix(n, ".journal") || strings.HasSuffix(n, ".journal~")) {
				out = append(out, path.Join(dir, n))
			}
		}
		return ents
	}
	for _, d := range Dirs {
		for _, e := range add(d) {
			if e.IsDir() {
				add(path.Join(d, e.Name()))
			}
		}
	}
	sort.Strings(out)
	return out
}

// Run reads every journal file of the guest and emits one event per entry.
func Run(ctx context.Context, env *artifacts.Env) (any, error) {
	sum := &Summary{}
	for _, p := range Files(env.FS) {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		sum.Files = append(sum.Files, readFile(ctx, env, p))
	}
	return sum, nil
}

func readFile(ctx context.Context, env *artifacts.Env, p string) FileSummary {
	fs := FileSummary{Path: "/" + p}
	fw := env.FileWarnings("journal", "/"+p)
	defer fw.Flush()
	ra, size, closer, err := artifacts.OpenReaderAt(env.FS, p)
	if err != nil {
		fs.Error = fw.Fail(err)
		return fs
	}
	defer closer.Close()
	j, err := Open(ra, size)
	if err != nil {
		fs.Error = fw.Fail(err)
		return fs
	}
	defer j.Close()
	j.Warn = fw.AtOffset
	fs.State, fs.Flags, fs.HeaderEntries, fs.Truncated = j.Header.StateName(), j.Header.FlagNames(), j.Header.NEntries, j.Truncated()
	evidence := env.Evidence(p)
	it := j.Entries()
	for it.Next() {
		if fs.Entries%4096 == 0 && ctx.Err() != nil {
			fs.Error = ctx.Err().Error()
			return fs
		}
		e := it.Entry()
		if fs.Entries == 0 {
			fs.FirstSeqnum, fs.First = e.Seqnum, e.Time()
		}
		fs.Entries++
		fs.LastSeqnum, fs.Last = e.Seqnum, e.Time()
		ev := EntryEvent(e)
		ev.Evidence = evidence
		ev.Evidence.Offset = e.Offset
		if err := env.Emit(ev); err != nil {
			fs.Error = err.Error()
			return fs
		}
	}
	if err := it.Err(); err != nil {
		fs.Damage = err.Error()
		fw.AtOffset(0, fmt.Sprintf("%v; %d entries read before the damage", err, fs.Entries))
	}
	return fs
}

// attrFields maps journal fields to event Attrs keys.
var attrFields = []struct{ field, attr string }{
	{"_UID", "uid"}, {"_PID", "pid"}, {"_COMM", "comm"}, {"_EXE", "exe"},
	{"SYSLOG_IDENTIFIER", "identifier"}, {"_HOSTNAME", "hostname"},
	{"_SYSTEMD_UNIT", "unit"}, {"_TRANSPORT", "transport"}, {"PRIORITY", "priority"},
}

// EntryEvent turns an entry into its timeline event (without evidence),
// following the conventions of the package documentation.
func EntryEvent(e *Entry) timeline.Event {
	ev := timeline.Event{
		Time:          e.Time(),
		TimestampDesc: "Journal entry",
		Source:        "journal",
		Attrs: map[string]string{
			"boot_id": e.BootIDString(),
			"seqnum":  strconv.FormatUint(e.Seqnum, 10),
		},
	}
	for _, fl := range e.Fields {
		switch fl.Name {
		case "MESSAGE":
			if ev.Message == "" {
				ev.Message = string(fl.Value)
			}
			continue
		case "_HOSTNAME":
			ev.Host = string(fl.Value)
		}
		for _, a := range attrFields {
			if a.field == fl.Name {
				if _, dup := ev.Attrs[a.attr]; !dup {
					ev.Attrs[a.attr] = string(fl.Value)
				}
				break
			}
		}
	}
	return ev
}
