package packages

import (
	"context"
	"fmt"
	iofs "io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/artifacts/rpmdb"
	"github.com/coldcase-dfir/coldcase/artifacts/users"
	"github.com/coldcase-dfir/coldcase/timeline"
)

// DBSummary is what was read from a package database (the rpm database
// or dnf's history).
type DBSummary struct {
	Path    string    `json:"path"`
	Format  string    `json:"format"`  // "sqlite", "bdb", "ndb", "dnf-history"
	Records int64     `json:"records"` // packages, or transactions
	Events  int64     `json:"events"`
	First   time.Time `json:"first,omitzero"`
	Last    time.Time `json:"last,omitzero"`
	Error   string    `json:"error,omitempty"`
}

// RPMEvent turns an installed package into its "Package installed"
// event; ok is false when the header has no install time. The evidence
// is left for the caller.
func RPMEvent(p *rpmdb.Package) (timeline.Event, bool) {
	if p.InstallTime.IsZero() {
		return timeline.Event{}, false
	}
	r := &Record{Time: p.InstallTime, Manager: "rpm", Action: "install", Package: p.Name,
		Version: p.Version + "-" + p.Release, Arch: p.Arch, Body: "Installed: " + p.NEVRA()}
	if p.Epoch != nil {
		r.Epoch = strconv.FormatInt(*p.Epoch, 10)
	}
	te, _ := Event(r, "")
	te.Attrs["hnum"] = strconv.FormatUint(uint64(p.HNum), 10)
	set := func(k, v string) {
		if v != "" {
			te.Attrs[k] = v
		}
	}
	set("vendor", p.Vendor)
	set("packager", p.Packager)
	set("source_rpm", p.SourceRPM)
	if !p.BuildTime.IsZero() {
		te.Attrs["build_time"] = p.BuildTime.Format(time.RFC3339)
	}
	return te, true
}

// historyActions maps dnf history item actions to the actions of
// Event; the replaced halves of an upgrade, downgrade or reinstall give
// no event (their version becomes the old_version of the other half),
// nor do reason changes.
var historyActions = map[string]string{
	"install": "install", "upgrade": "upgrade", "downgrade": "downgrade", "reinstall": "reinstall",
	"remove": "remove", "obsoleted": "remove",
	"obsolete": "install", // the package that obsoletes another is installed
}

// HistoryEvents turns a dnf or yum (manager) transaction into a "Package
// command" event at its begin time — who (login uid, named through names)
// ran which command with what outcome — followed by one event per package
// it installed, upgraded, downgraded, reinstalled or removed, at the same
// time. The evidence is left for the caller.
func HistoryEvents(manager string, tx *rpmdb.Transaction, names map[uint32]string) []timeline.Event {
	if tx.Begin.IsZero() {
		return nil
	}
	user, uid := "", ""
	if tx.LoginUID != nil {
		uid = strconv.FormatUint(uint64(*tx.LoginUID), 10)
		user = names[*tx.LoginUID]
	}
	counts := map[string]int{}
	var order []string
	old := map[string]string{} // name.arch → version replaced
	for _, it := range tx.Items {
		if counts[it.Action] == 0 {
			order = append(order, it.Action)
		}
		counts[it.Action]++
		switch it.Action {
		case "upgraded", "downgraded", "reinstalled", "replaced":
			old[it.Name+"."+it.Arch] = it.Version + "-" + it.Release
		}
	}
	var parts []string
	for _, a := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[a], a))
	}
	msg := fmt.Sprintf("%s transaction %d (%s): %s", manager, tx.ID, tx.State, tx.Cmdline)
	if len(parts) > 0 {
		msg += " — " + strings.Join(parts, ", ")
	}
	id := strconv.FormatInt(tx.ID, 10)
	cmd, _ := Event(&Record{Time: tx.Begin, Manager: manager, Action: "command", Command: tx.Cmdline, User: user, UID: uid, Body: msg}, "")
	cmd.Attrs["transaction"] = id
	cmd.Attrs["state"] = tx.State
	cmd.Attrs["items"] = strconv.Itoa(len(tx.Items))
	if tx.ReleaseVer != "" {
		cmd.Attrs["releasever"] = tx.ReleaseVer
	}
	if !tx.End.IsZero() {
		cmd.Attrs["end"] = tx.End.Format(time.RFC3339)
	}
	out := []timeline.Event{cmd}
	for _, it := range tx.Items {
		a, ok := historyActions[it.Action]
		if !ok {
			continue
		}
		r := &Record{Time: tx.Begin, Manager: manager, Action: a, Package: it.Name, Version: it.Version + "-" + it.Release,
			Arch: it.Arch, User: user, UID: uid, Body: fmt.Sprintf("%s %s (%s transaction %d, %s)", it.Action, it.NEVRA(), manager, tx.ID, it.Reason)}
		if it.Epoch != 0 {
			r.Epoch = strconv.FormatInt(it.Epoch, 10)
		}
		if a != "remove" {
			r.OldVersion = old[it.Name+"."+it.Arch]
		}
		te, _ := Event(r, "")
		te.Attrs["transaction"] = id
		te.Attrs["reason"] = it.Reason
		if it.Repo != "" {
			te.Attrs["repo"] = it.Repo
		}
		if it.State != "done" {
			te.Attrs["state"] = it.State
		}
		out = append(out, te)
	}
	return out
}

// readRPMDB emits an event per installed package of the guest's rpm
// database.
func readRPMDB(ctx context.Context, env *artifacts.Env, sum *Summary) {
	d, ok := rpmdb.Find(env.FS)
	if !ok {
		return
	}
	ds := DBSummary{Path: d.Path, Format: d.Format}
	warn := func(msg string) { env.Warn(artifacts.Warning{Source: "rpm", Path: d.Path, Msg: msg}) }
	err := d.Walk(env.FS, func(p *rpmdb.Package, rec rpmdb.Record) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ds.Records++
		te, ok := RPMEvent(p)
		if !ok {
			return nil
		}
		te.Evidence = env.Evidence(d.Path)
		te.Evidence.Offset = rec.Offset
		artifacts.Widen(&ds.First, &ds.Last, te.Time)
		ds.Events++
		sum.Counts[te.TimestampDesc]++
		return env.Emit(te)
	}, warn)
	if err != nil {
		ds.Error = err.Error()
		warn(err.Error())
	}
	sum.Databases = append(sum.Databases, ds)
}

// readHistory emits dnf's and yum's transactions.
func readHistory(ctx context.Context, env *artifacts.Env, sum *Summary) {
	type hist struct {
		rel, manager string
		read         func(iofs.FS, string, func(string)) ([]rpmdb.Transaction, int, error)
	}
	var hs []hist
	for _, rel := range rpmdb.HistoryLocations {
		if _, err := iofs.Stat(env.FS, rel); err == nil {
			hs = append(hs, hist{rel, "dnf", rpmdb.ReadHistory})
		}
	}
	yum, _ := artifacts.FilesIn(env.FS, rpmdb.YumHistoryDir)
	for _, p := range yum {
		if b := path.Base(p); strings.HasPrefix(b, "history-") && strings.HasSuffix(b, ".sqlite") {
			hs = append(hs, hist{p[1:], "yum", rpmdb.ReadYumHistory})
		}
	}
	var names map[uint32]string
	for _, h := range hs {
		if names == nil {
			names = passwdNames(env)
		}
		p := "/" + h.rel
		ds := DBSummary{Path: p, Format: h.manager + "-history"}
		warn := func(msg string) { env.Warn(artifacts.Warning{Source: h.manager, Path: p, Msg: msg}) }
		txs, dropped, err := h.read(env.FS, h.rel, warn)
		if err != nil {
			ds.Error = err.Error()
			warn(err.Error())
		}
		if dropped > 0 {
			warn(fmt.Sprintf("%d transaction items beyond the first %d not read", dropped, rpmdb.MaxHistoryItems))
		}
	txLoop:
		for i := range txs {
			if err := ctx.Err(); err != nil {
				break
			}
			ds.Records++
			for _, te := range HistoryEvents(h.manager, &txs[i], names) {
				te.Evidence = env.Evidence(p)
				te.Evidence.Offset = txs[i].Offset
				artifacts.Widen(&ds.First, &ds.Last, te.Time)
				ds.Events++
				sum.Counts[te.TimestampDesc]++
				if err := env.Emit(te); err != nil {
					ds.Error = err.Error()
					break txLoop
				}
			}
		}
		sum.Databases = append(sum.Databases, ds)
	}
}

func passwdNames(env *artifacts.Env) map[uint32]string {
	m := map[uint32]string{}
	if data, err := artifacts.ReadSmall(env.FS, "etc/passwd"); err == nil {
		pw, _ := users.ParsePasswd(data)
		for _, u := range pw {
			if _, dup := m[u.UID]; !dup {
				m[u.UID] = u.Name
			}
		}
	}
	return m
}
