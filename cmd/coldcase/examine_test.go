package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// answerKey is testdata/sample/answer-key.json, written by hand beside the
// script that planted the intrusion.
type answerKey struct {
	Host     string `json:"host"`
	TimeZone string `json:"time_zone"`
	OS       string `json:"os"`
	Items    []struct {
		ID    string `json:"id"`
		Event *struct {
			Source   string    `json:"source"`
			Desc     string    `json:"desc"`
			Path     string    `json:"path"`
			Time     time.Time `json:"time"`
			Contains string    `json:"contains"`
			Count    int       `json:"count"`
		} `json:"event"`
		Finding *struct {
			Rule string `json:"rule"`
			Path string `json:"path"`
			User string `json:"user"`
			IP   string `json:"ip"`
		} `json:"finding"`
	} `json:"items"`
}

// run runs the CLI in-process.
func run(t *testing.T, args ...string) error {
	t.Helper()
	root := newRoot()
	root.SetArgs(args)
	return root.Execute()
}

func readKey(t *testing.T) (answerKey, string) {
	dir := filepath.Join(testenv.RepoRoot(t), "testdata", "sample")
	b, err := os.ReadFile(filepath.Join(dir, "answer-key.json"))
	if err != nil {
		t.Fatal(err)
	}
	var k answerKey
	if err := json.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	return k, filepath.Join(dir, "sample.qcow2")
}

type jsonlEvent struct {
	Message       string `json:"message"`
	Datetime      string `json:"datetime"`
	TimestampDesc string `json:"timestamp_desc"`
	Source        string `json:"source"`
	User          string `json:"user"`
	IP            string `json:"ip"`
	Path          string `json:"path"`
	EvidencePath  string `json:"evidence_path"`
	EvidenceImage string `json:"evidence_image"`
}

// TestExamineSampleAnswerKey examines the shipped sample image and checks
// every planted item of the answer key in the timeline (source, time, text,
// count) and in the case files.
func TestExamineSampleAnswerKey(t *testing.T) {
	key, img := readKey(t)
	caseDir := t.TempDir()
	if err := run(t, "examine", img, "-d", caseDir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"case.json", "timeline.jsonl", "timeline.csv", "bodyfile", "artifacts.json", "findings.json", "report.html"} {
		if fi, err := os.Stat(filepath.Join(caseDir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("case file %s missing or empty: %v", f, err)
		}
	}
	f, err := os.Open(filepath.Join(caseDir, "timeline.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []jsonlEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	prev := ""
	for sc.Scan() {
		var e jsonlEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("timeline.jsonl: %v", err)
		}
		if e.Datetime < prev {
			t.Fatalf("timeline not sorted: %s after %s", e.Datetime, prev)
		}
		prev = e.Datetime
		if e.EvidenceImage != "sample.qcow2" || e.EvidencePath == "" {
			t.Errorf("event without evidence reference: %+v", e)
		}
		evs = append(evs, e)
	}
	for _, it := range key.Items {
		if it.Event == nil {
			continue
		}
		want := it.Event
		var first string
		n := 0
		for _, e := range evs {
			if e.Source == want.Source && strings.Contains(e.Message, want.Contains) && (want.Desc == "" || e.TimestampDesc == want.Desc) &&
				(want.Path == "" || e.Path == want.Path) {
				if n == 0 {
					first = e.Datetime
				}
				n++
			}
		}
		wantTime := want.Time.UTC().Format("2006-01-02T15:04:05") // events carry ns; the key gives seconds
		if n == 0 {
			t.Errorf("%s: no %s event containing %q", it.ID, want.Source, want.Contains)
			continue
		}
		if !strings.HasPrefix(first, wantTime) {
			t.Errorf("%s: first %s event at %s, answer key says %s", it.ID, want.Source, first, wantTime)
		}
		if want.Count > 0 && n != want.Count {
			t.Errorf("%s: %d %s events containing %q, answer key says %d", it.ID, n, want.Source, want.Contains, want.Count)
		}
	}
	var found []struct {
		Rule, User, IP, Path, Severity string
		Evidence                       []map[string]any
	}
	b, err := os.ReadFile(filepath.Join(caseDir, "findings.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &found); err != nil {
		t.Fatal(err)
	}
	for _, it := range key.Items {
		w := it.Finding
		if w == nil {
			continue
		}
		ok := false
		for _, f := range found {
			if f.Rule == w.Rule && (w.User == "" || f.User == w.User) && (w.IP == "" || f.IP == w.IP) && (w.Path == "" || f.Path == w.Path) {
				ok = true
				if len(f.Evidence) == 0 {
					t.Errorf("%s: finding %s cites no evidence", it.ID, f.Rule)
				}
			}
		}
		if !ok {
			t.Errorf("%s: no finding %s for user %q ip %q path %q; findings: %+v", it.ID, w.Rule, w.User, w.IP, w.Path, found)
		}
	}
	var cr caseRecord
	b, _ = os.ReadFile(filepath.Join(caseDir, "case.json"))
	if err := json.Unmarshal(b, &cr); err != nil {
		t.Fatal(err)
	}
	if cr.Guest.Host != key.Host || cr.Guest.Zone != key.TimeZone {
		t.Errorf("case.json guest %+v, answer key host %s zone %s", cr.Guest, key.Host, key.TimeZone)
	}
	if len(cr.Images) != 1 || len(cr.Images[0].SHA256) != 64 {
		t.Errorf("case.json images %+v", cr.Images)
	}
}

func readJSONFile(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
