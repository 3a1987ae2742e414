package rpmdb

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts/rpmdb/sqlite"
)

// HistoryLocations lists dnf's transaction databases: dnf 4 (libdnf's
// "swdb", RHEL 8/9) and dnf 5 (Fedora ≥ 41).
var HistoryLocations = []string{
	"var/lib/dnf/history.sqlite",
	"usr/lib/sysimage/libdnf5/transaction_history.sqlite",
}

// Transaction is one dnf transaction.
type Transaction struct {
	ID    int64     `json:"id"`
	Begin time.Time `json:"begin"`
	End   time.Time `json:"end,omitzero"`
	// LoginUID is the login uid of the session that ran dnf (audit's
	// loginuid: unchanged by sudo/su), nil when unset.
	LoginUID   *uint32 `json:"login_uid,omitempty"`
	Cmdline    string  `json:"cmdline,omitempty"`
	ReleaseVer string  `json:"releasever,omitempty"`
	// State is "done", "error" or "unknown" (dnf's return code); dnf 5
	// also "started" (never finished).
	State   string `json:"state"`
	Comment string `json:"comment,omitempty"`
	// Offset is the byte offset of the transaction's row in the
	// database, -1 when the row is only in the -wal log.
	Offset int64       `json:"offset"`
	Items  []TransItem `json:"items,omitempty"`
}

// TransItem is one package a transaction changed.
type TransItem struct {
	Name    string `json:"name"`
	Epoch   int64  `json:"epoch"`
	Version string `json:"version"`
	Release string `json:"release"`
	Arch    string `json:"arch"`
	// Action: "install", "upgrade", "upgraded", "downgrade", "downgraded",
	// "obsolete", "obsoleted", "remove", "reinstall", "reinstalled",
	// "reason-change"; dnf 5 says "replaced" for the old halves.
	Action string `json:"action"`
	// Reason: "user", "dependency", "weak-dependency", "clean", "group",
	// "unknown"; dnf 5 adds "none" and "external-user".
	Reason string `json:"reason"`
	State  string `json:"state"`
	Repo   string `json:"repo,omitempty"`
}

// NEVRA returns "name-[epoch:]version-release.arch" (epoch 0 omitted).
func (i TransItem) NEVRA() string {
	s := i.Name + "-"
	if i.Epoch != 0 {
		s += strconv.FormatInt(i.Epoch, 10) + ":"
	}
	return s + i.Version + "-" + i.Release + "." + i.Arch
}

// libdnf's enums (transaction/Types.hpp); dnf 5 keeps them in tables.
var (
	dnfActions = map[int64]string{1: "install", 2: "downgrade", 3: "downgraded", 4: "obsolete", 5: "obsoleted",
		6: "upgrade", 7: "upgraded", 8: "remove", 9: "reinstall", 10: "reinstalled", 11: "reason-change"}
	dnfReasons = map[int64]string{0: "unknown", 1: "dependency", 2: "user", 3: "clean", 4: "weak-dependency", 5: "group"}
	dnfStates  = map[int64]string{0: "unknown", 1: "done", 2: "error"}
)

// MaxHistoryItems bounds the items kept over all transactions; beyond it
// transactions are still read but their items are counted only.
const MaxHistoryItems = 1 << 20

// ReadHistory reads dnf's transaction database at rel (under the guest
// root), oldest transaction first, with its "-wal" applied (dnf leaves
// the database in WAL mode; the newest transactions may be only in the
// log). dropped counts items beyond MaxHistoryItems.
func ReadHistory(fsys iofs.FS, rel string, warn func(string)) (txs []Transaction, dropped int, err error) {
	db, c, err := OpenSQLite(fsys, rel, warn)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	name := "/" + rel
	col := func(t *sqlite.Table, names ...string) int {
		for _, n := range names {
			if i := t.Col(n); i >= 0 {
				return i
			}
		}
		return -1
	}
	// dnf 5 names its enums in tables; dnf 4 uses fixed numbers.
	enum := func(table string, def map[int64]string) map[int64]string {
		t, err := db.Table(table)
		if err != nil {
			return def
		}
		m := map[int64]string{}
		ic, nc := t.Col("id"), t.Col("name")
		err = db.Rows(t, func(r sqlite.Row) error {
			id, _ := r.Int(ic)
			n := strings.ToLower(strings.ReplaceAll(r.Text(nc), " ", "-"))
			if n == "ok" {
				n = "done" // dnf 5's word for dnf 4's DONE
			}
			m[id] = n
			return nil
		})
		if err != nil || len(m) == 0 {
			return def
		}
		return m
	}
	actions := enum("trans_item_action", dnfActions)
	reasons := enum("trans_item_reason", dnfReasons)
	tstates := enum("trans_state", dnfStates)
	istates := enum("trans_item_state", dnfStates)
	lookup := func(m map[int64]string, v int64, ok bool) string {
		if !ok {
			return "unknown"
		}
		if s, found := m[v]; found {
			return s
		}
		return "unknown-" + strconv.FormatInt(v, 10)
	}

	tt, err := db.Table("trans")
	if err != nil {
		return nil, 0, err
	}
	idc, bc, ec := col(tt, "id"), col(tt, "dt_begin"), col(tt, "dt_end")
	uc, cc, rc := col(tt, "user_id"), col(tt, "cmdline", "description"), col(tt, "releasever")
	sc, mc := col(tt, "state", "state_id"), col(tt, "comment")
	if idc < 0 || bc < 0 {
		return nil, 0, fmt.Errorf("rpmdb: %s: table trans lacks id or dt_begin (%v)", name, tt.Columns)
	}
	byID := map[int64]int{}
	err = db.Rows(tt, func(r sqlite.Row) error {
		id, _ := r.Int(idc)
		tx := Transaction{ID: id, Cmdline: r.Text(cc), ReleaseVer: r.Text(rc), Comment: r.Text(mc), Offset: r.Offset}
		if b, ok := r.Int(bc); ok && b > 0 {
			tx.Begin = time.Unix(b, 0).UTC()
		}
		if e, ok := r.Int(ec); ok && e > 0 {
			tx.End = time.Unix(e, 0).UTC()
		}
		// Unset loginuid is (uid_t)-1, stored as -1 or 4294967295.
		if u, ok := r.Int(uc); ok && u >= 0 && u < 0xffffffff {
			v := uint32(u)
			tx.LoginUID = &v
		}
		st, ok := r.Int(sc)
		tx.State = lookup(tstates, st, ok)
		byID[id] = len(txs)
		txs = append(txs, tx)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}

	// Items: trans_item → rpm (by item_id) and repo.
	// dnf 5 keeps names and archs in tables of their own.
	names := func(table string) map[int64]string {
		m := map[int64]string{}
		t, err := db.Table(table)
		if err != nil {
			return m
		}
		ic, nc := t.Col("id"), t.Col("name")
		_ = db.Rows(t, func(r sqlite.Row) error {
			id, _ := r.Int(ic)
			if len(m) < MaxHistoryItems {
				m[id] = r.Text(nc)
			}
			return nil
		})
		return m
	}
	nevra := map[int64]TransItem{}
	if rt, err := db.Table("rpm"); err == nil {
		ic, nc, epc, vc, relc, ac := col(rt, "item_id"), col(rt, "name"), col(rt, "epoch"), col(rt, "version"), col(rt, "release"), col(rt, "arch")
		nic, aic := col(rt, "name_id"), col(rt, "arch_id")
		var pkgNames, archs map[int64]string
		if nc < 0 && nic >= 0 {
			pkgNames = names("pkg_names")
		}
		if ac < 0 && aic >= 0 {
			archs = names("archs")
		}
		if err := db.Rows(rt, func(r sqlite.Row) error {
			id, _ := r.Int(ic)
			ep, _ := r.Int(epc)
			it := TransItem{Name: r.Text(nc), Epoch: ep, Version: r.Text(vc), Release: r.Text(relc), Arch: r.Text(ac)}
			if pkgNames != nil {
				n, _ := r.Int(nic)
				it.Name = pkgNames[n]
			}
			if archs != nil {
				a, _ := r.Int(aic)
				it.Arch = archs[a]
			}
			if len(nevra) < MaxHistoryItems {
				nevra[id] = it
			}
			return nil
		}); err != nil {
			return txs, 0, err
		}
	} else if !errors.Is(err, sqlite.ErrNoTable) {
		return txs, 0, err
	}
	repos := map[int64]string{}
	if rt, err := db.Table("repo"); err == nil {
		ic, nc := col(rt, "id"), col(rt, "repoid")
		_ = db.Rows(rt, func(r sqlite.Row) error {
			id, _ := r.Int(ic)
			if len(repos) < 1<<16 {
				repos[id] = r.Text(nc)
			}
			return nil
		})
	}
	it, err := db.Table("trans_item")
	if err != nil {
		if errors.Is(err, sqlite.ErrNoTable) {
			return txs, 0, nil
		}
		return txs, 0, err
	}
	tic, iic, ric := col(it, "trans_id"), col(it, "item_id"), col(it, "repo_id")
	ac, rsc, stc := col(it, "action", "action_id"), col(it, "reason", "reason_id"), col(it, "state", "state_id")
	kept := 0
	err = db.Rows(it, func(r sqlite.Row) error {
		tid, _ := r.Int(tic)
		iid, _ := r.Int(iic)
		i, ok := byID[tid]
		if !ok {
			return nil
		}
		item, isRPM := nevra[iid]
		if !isRPM {
			return nil // a comps group or environment
		}
		if kept >= MaxHistoryItems {
			dropped++
			return nil
		}
		kept++
		a, aok := r.Int(ac)
		rs, rok := r.Int(rsc)
		s, sok := r.Int(stc)
		rid, _ := r.Int(ric)
		item.Action, item.Reason, item.State = lookup(actions, a, aok), lookup(reasons, rs, rok), lookup(istates, s, sok)
		item.Repo = repos[rid]
		txs[i].Items = append(txs[i].Items, item)
		return nil
	})
	sort.SliceStable(txs, func(a, b int) bool { return txs[a].ID < txs[b].ID })
	return txs, dropped, err
}
