package rpmdb

import (
	"fmt"
	iofs "io/fs"
	"sort"
	"strings"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts/rpmdb/sqlite"
)

// YumHistoryDir holds yum 3's transaction history (CentOS/RHEL ≤ 7):
// history-YYYY-MM-DD.sqlite files, a new one started when yum's history
// is renewed; each numbers its own transactions.
const YumHistoryDir = "var/lib/yum/history"

// yum's trans_data_pkgs.state words (yum/history.py).
var yumStates = map[string]struct{ action, reason string }{
	"install": {"install", "user"}, "true-install": {"install", "user"}, "dep-install": {"install", "dependency"},
	"update": {"upgrade", ""}, "upgrade": {"upgrade", ""}, "updated": {"upgraded", ""}, "erase": {"remove", ""}, "dep-erase": {"remove", "dependency"},
	"obsoleting": {"obsolete", ""}, "obsoleted": {"obsoleted", ""}, "downgrade": {"downgrade", ""},
	"downgraded": {"downgraded", ""}, "reinstall": {"reinstall", ""}, "reinstalled": {"reinstalled", ""},
}

// ReadYumHistory reads one yum history database (rel under the guest
// root), oldest transaction first, into the shapes of dnf's history. A
// transaction without a trans_end row was interrupted: its State is
// "unknown"; a non-zero return code gives "error".
func ReadYumHistory(fsys iofs.FS, rel string, warn func(string)) (txs []Transaction, dropped int, err error) {
	db, c, err := OpenSQLite(fsys, rel, warn)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	name := "/" + rel
	table := func(n string, cols ...string) (*sqlite.Table, []int, error) {
		t, err := db.Table(n)
		if err != nil {
			return nil, nil, err
		}
		idx := make([]int, len(cols))
		for i, c := range cols {
			if idx[i] = t.Col(c); idx[i] < 0 {
				return nil, nil, fmt.Errorf("rpmdb: %s: table %s lacks column %s (%v)", name, n, c, t.Columns)
			}
		}
		return t, idx, nil
	}
	tb, bc, err := table("trans_beg", "tid", "timestamp", "loginuid")
	if err != nil {
		return nil, 0, err
	}
	byID := map[int64]int{}
	err = db.Rows(tb, func(r sqlite.Row) error {
		id, _ := r.Int(bc[0])
		tx := Transaction{ID: id, State: "unknown", Offset: r.Offset}
		if ts, ok := r.Int(bc[1]); ok && ts > 0 {
			tx.Begin = time.Unix(ts, 0).UTC()
		}
		if u, ok := r.Int(bc[2]); ok && u >= 0 && u < 0xffffffff {
			v := uint32(u)
			tx.LoginUID = &v
		}
		if _, dup := byID[id]; !dup && len(txs) < MaxHistoryItems {
			byID[id] = len(txs)
			txs = append(txs, tx)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if te, ec, err := table("trans_end", "tid", "timestamp", "return_code"); err == nil {
		err = db.Rows(te, func(r sqlite.Row) error {
			id, _ := r.Int(ec[0])
			i, ok := byID[id]
			if !ok {
				return nil
			}
			if ts, ok := r.Int(ec[1]); ok && ts > 0 {
				txs[i].End = time.Unix(ts, 0).UTC()
			}
			if rc, ok := r.Int(ec[2]); ok && rc == 0 {
				txs[i].State = "done"
			} else {
				txs[i].State = "error"
			}
			return nil
		})
		if err != nil {
			return txs, 0, err
		}
	}
	if tc, cc, err := table("trans_cmdline", "tid", "cmdline"); err == nil {
		err = db.Rows(tc, func(r sqlite.Row) error {
			id, _ := r.Int(cc[0])
			if i, ok := byID[id]; ok {
				txs[i].Cmdline = r.Text(cc[1])
			}
			return nil
		})
		if err != nil {
			return txs, 0, err
		}
	}
	pkgs := map[int64]TransItem{}
	pt, pc, err := table("pkgtups", "pkgtupid", "name", "arch", "epoch", "version", "release")
	if err != nil {
		return txs, 0, err
	}
	if err := db.Rows(pt, func(r sqlite.Row) error {
		id, _ := r.Int(pc[0])
		var ep int64
		fmt.Sscan(r.Text(pc[3]), &ep) // TEXT in yum's schema
		if e, ok := r.Int(pc[3]); ok {
			ep = e
		}
		if len(pkgs) < MaxHistoryItems {
			pkgs[id] = TransItem{Name: r.Text(pc[1]), Arch: r.Text(pc[2]), Epoch: ep, Version: r.Text(pc[4]), Release: r.Text(pc[5])}
		}
		return nil
	}); err != nil {
		return txs, 0, err
	}
	dt, dc, err := table("trans_data_pkgs", "tid", "pkgtupid", "done", "state")
	if err != nil {
		return txs, 0, err
	}
	kept := 0
	err = db.Rows(dt, func(r sqlite.Row) error {
		id, _ := r.Int(dc[0])
		pid, _ := r.Int(dc[1])
		i, ok := byID[id]
		item, known := pkgs[pid]
		if !ok || !known {
			return nil
		}
		if kept >= MaxHistoryItems {
			dropped++
			return nil
		}
		kept++
		st := r.Text(dc[3])
		m, ok := yumStates[strings.ToLower(st)]
		if !ok {
			m.action = "unknown-" + strings.ToLower(st)
		}
		item.Action, item.Reason = m.action, m.reason
		if item.Reason == "" {
			item.Reason = "unknown"
		}
		item.State = "error"
		if d := strings.ToUpper(r.Text(dc[2])); d == "TRUE" || d == "1" {
			item.State = "done"
		} else if v, ok := r.Int(dc[2]); ok && v != 0 {
			item.State = "done"
		}
		txs[i].Items = append(txs[i].Items, item)
		return nil
	})
	sort.SliceStable(txs, func(a, b int) bool { return txs[a].ID < txs[b].ID })
	return txs, dropped, err
}
