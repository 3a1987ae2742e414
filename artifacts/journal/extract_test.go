package journal

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
	"github.com/coldcase-dfir/coldcase/timeline"
)

func TestRunPeerJournals(t *testing.T) {
	const mid = "var/log/journal/4e7cbddbe9494fb9876af4e3e85c9eb4/"
	fsys := fstest.MapFS{
		mid + "system.journal": {Data: peerJournal(t, "2004.journal")},
		mid + "system@0005f0c1a2b3c4d5-0123456789abcdef.journal~": {Data: peerJournal(t, "system.journal")},
		"var/log/journal/user-1000.journal":                       {Data: peerJournal(t, "2404.journal")},
		mid + "notes.txt":                                         {Data: []byte("not a journal")},
		"var/log/journal/remote/broken.journal":                   {Data: []byte("LPKSHHRH short")},
	}
	env := &artifacts.Env{FS: fsys, Host: "fallback"}
	var c timeline.Collect
	env.Events = &c
	res, err := Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	sum := res.(*Summary)
	var paths []string
	for _, f := range sum.Files {
		paths = append(paths, f.Path)
	}
	if got := strings.Join(paths, " "); got != "/"+mid+"system.journal /"+mid+"system@0005f0c1a2b3c4d5-0123456789abcdef.journal~ /var/log/journal/remote/broken.journal /var/log/journal/user-1000.journal" {
		t.Errorf("files: %s", got)
	}
	// 3 (2004) + 1 (truncated) + 3 (2404) entries.
	if len(c.Events) != 7 {
		t.Errorf("%d events, want 7", len(c.Events))
	}
	dirty := sum.Files[1]
	if dirty.Entries != 1 || dirty.FirstSeqnum != 19161 || dirty.HeaderEntries != 2814 || !dirty.Truncated || dirty.Damage == "" {
		t.Errorf("truncated journal summary %+v", dirty)
	}
	if sum.Files[2].Error == "" {
		t.Errorf("broken journal without an error: %+v", sum.Files[2])
	}
	var sawDamage, sawBroken bool
	for _, w := range env.Warnings() {
		sawDamage = sawDamage || strings.Contains(w.Path, "journal~") && strings.Contains(w.Msg, "1 entries read before the damage")
		sawBroken = sawBroken || strings.HasSuffix(w.Path, "broken.journal")
	}
	if !sawDamage || !sawBroken {
		t.Errorf("warnings %+v", env.Warnings())
	}
	var cat *timeline.Event
	for i, ev := range c.Events {
		if ev.Source != "journal" || ev.TimestampDesc != "Journal entry" || ev.Evidence.Path == "" {
			t.Errorf("event %+v", ev)
		}
		if ev.Attrs["comm"] == "cat" && ev.Host == "9f5c084797a0" {
			cat = &c.Events[i]
		}
	}
	if cat == nil {
		t.Fatal("no event for 2004.journal's cat entry")
	}
	// linux_systemd.out.yaml#L631-657 (see TestPeer2004LZ4).
	if cat.Message != strings.Repeat("X", 5000) || cat.Attrs["pid"] != "1058" || cat.Attrs["identifier"] != "mytag" ||
		cat.Attrs["transport"] != "stdout" || cat.Attrs["seqnum"] != "3" || cat.Attrs["boot_id"] != "1621aee481fa42ad9693fe91a054f095" ||
		cat.User != "" || cat.Evidence.Offset == 0 || cat.Time.Format("2006-01-02T15:04:05.000000Z") != "2026-06-07T14:01:18.946813Z" {
		t.Errorf("cat event %+v", cat)
	}
	if _, ok := cat.Attrs["uid"]; !ok {
		t.Errorf("cat event without uid: %+v", cat.Attrs)
	}
}

// TestRunEventsAgainstJournalctl builds a journal from
// testdata/artifacts/journal/export-sample.txt with systemd-journal-remote
// and checks each event's fields against journalctl's JSON of the entry.
func TestRunEventsAgainstJournalctl(t *testing.T) {
	needJournalTools(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "system.journal")
	buildJournal(t, filepath.Join(testenv.RepoRoot(t), "testdata", "artifacts", "journal", "export-sample.txt"), file, nil)
	out := testenv.Output(t, "journalctl", "--file", file, "-o", "json", "--all", "--no-pager")
	var want []map[string]string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m map[string]string
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		want = append(want, m)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	env := &artifacts.Env{FS: fstest.MapFS{"var/log/journal/0123/system.journal": {Data: data}}}
	var c timeline.Collect
	env.Events = &c
	if _, err := Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if len(c.Events) != len(want) || len(want) != 2 {
		t.Fatalf("%d events, journalctl %d entries", len(c.Events), len(want))
	}
	for i, ev := range c.Events {
		w := want[i]
		us, _ := strconv.ParseInt(w["__REALTIME_TIMESTAMP"], 10, 64)
		if !ev.Time.Equal(time.UnixMicro(us)) || ev.Message != w["MESSAGE"] || ev.Host != w["_HOSTNAME"] ||
			ev.Attrs["boot_id"] != w["_BOOT_ID"] || !strings.Contains(w["__CURSOR"], ";i="+strconv.FormatUint(mustUint(ev.Attrs["seqnum"]), 16)+";") {
			t.Errorf("event %d: %+v\njournalctl %v", i, ev, w)
		}
		for field, attr := range map[string]string{"_UID": "uid", "_PID": "pid", "_COMM": "comm", "_EXE": "exe",
			"SYSLOG_IDENTIFIER": "identifier", "_SYSTEMD_UNIT": "unit", "_TRANSPORT": "transport", "_HOSTNAME": "hostname"} {
			if v, ok := w[field]; ok != (ev.Attrs[attr] != "") || v != ev.Attrs[attr] {
				t.Errorf("event %d: attr %s = %q, journalctl %s = %q", i, attr, ev.Attrs[attr], field, v)
			}
		}
		if ev.Evidence.Path != "/var/log/journal/0123/system.journal" || ev.Evidence.Offset <= 0 {
			t.Errorf("event %d evidence %+v", i, ev.Evidence)
		}
	}
}

func mustUint(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}
