package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
	"github.com/coldcase-dfir/coldcase/timeline"
)

// TestReportSample examines the sample image and checks report.html
// against the answer key: every planted finding is shown with what it
// cites, every planted event is in the embedded timeline at the key's
// time, and (with Chromium) the page runs without errors and its filter
// finds the attacker's events.
func TestReportSample(t *testing.T) {
	if testing.Short() {
		t.Skip("examines the sample image")
	}
	root := testenv.RepoRoot(t)
	sample := filepath.Join(root, "testdata", "sample")
	kb, err := os.ReadFile(filepath.Join(sample, "answer-key.json"))
	if err != nil {
		t.Fatal(err)
	}
	var key struct {
		Host       string `json:"host"`
		OS         string `json:"os"`
		AttackerIP string `json:"attacker_ip"`
		Items      []struct {
			ID    string `json:"id"`
			Event *struct {
				Source   string    `json:"source"`
				Time     time.Time `json:"time"`
				Contains string    `json:"contains"`
				Path     string    `json:"path"`
			} `json:"event"`
			Finding *struct {
				Rule, Path, User, IP string
			} `json:"finding"`
		} `json:"items"`
	}
	if err := json.Unmarshal(kb, &key); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := newRoot()
	cmd.SetArgs([]string{"examine", filepath.Join(sample, "sample.qcow2"), "-d", dir})
	cmd.SetOut(io.Discard)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)

	if !strings.Contains(page, "<title>coldcase report: "+key.Host+"</title>") {
		t.Errorf("title does not name host %s", key.Host)
	}
	if !strings.Contains(page, "<dt>OS</dt><dd>"+html.EscapeString(key.OS)+"</dd>") {
		t.Errorf("system facts lack OS %q", key.OS)
	}

	// Findings: one <li> per finding, with the rule and what it cites.
	items := strings.Split(page, `<li class="finding`)[1:]
	for _, it := range key.Items {
		f := it.Finding
		if f == nil {
			continue
		}
		found := false
		for _, li := range items {
			text := html.UnescapeString(li)
			cite := f.Path + f.User + f.IP
			if strings.Contains(text, `<code class="rule">`+f.Rule+`</code>`) && strings.Contains(text, cite) &&
				strings.Contains(text, `class="events-link"`) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no finding %s citing %q in the report", it.ID, f.Rule, f.Path+f.User+f.IP)
		}
	}

	// The embedded timeline: every event of timeline.jsonl, and the planted ones.
	m := regexp.MustCompile(`(?s)<script type="application/json" id="events">(.*?)</script>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no events block")
	}
	var rows [][]any
	if err := json.Unmarshal([]byte(m[1]), &rows); err != nil {
		t.Fatal(err)
	}
	jl, err := os.Open(filepath.Join(dir, "timeline.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer jl.Close()
	lines, attacker := 0, 0
	sc := bufio.NewScanner(jl)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e timeline.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		lines++
		// The page's filter looks at these and at the evidence reference.
		for _, s := range []string{e.Message, e.Path, e.User, e.IP, e.Evidence.Image + " " + e.Evidence.Volume + " " + e.Evidence.Path} {
			if strings.Contains(strings.ToLower(s), key.AttackerIP) {
				attacker++
				break
			}
		}
	}
	if len(rows) != lines || lines == 0 {
		t.Errorf("report embeds %d events, timeline.jsonl has %d", len(rows), lines)
	}
	for _, it := range key.Items {
		ev := it.Event
		if ev == nil {
			continue
		}
		found := false
		for _, r := range rows {
			us, _ := r[0].(float64)
			msg, _ := r[2].(string)
			src, _ := r[3].(string)
			path, _ := r[7].(string)
			if src == ev.Source && int64(us) == ev.Time.UnixMicro() &&
				(ev.Contains == "" || strings.Contains(msg, ev.Contains)) && (ev.Path == "" || path == ev.Path) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: no %s event at %s in the report's timeline", it.ID, ev.Source, ev.Time.Format(time.RFC3339))
		}
	}
	for _, want := range []string{"sysadm", "/etc/cron.d/syscheck", "/tmp/.X11-unix/.s/.bash"} {
		if !regexp.MustCompile(`<td[^>]*>` + regexp.QuoteMeta(html.EscapeString(want))).MatchString(page) {
			t.Errorf("tables lack a row for %s", want)
		}
	}

	// coldcase report renders the case again: with the image hashes (which
	// examine finishes after its report) and the latest events only.
	cmd = newRoot()
	cmd.SetArgs([]string{"report", "-d", dir, "--max-events", "20", "-o", filepath.Join(dir, "again.html")})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	again, err := os.ReadFile(filepath.Join(dir, "again.html"))
	if err != nil {
		t.Fatal(err)
	}
	sum := strings.Fields(string(testenv.Output(t, "sha256sum", filepath.Join(sample, "sample.qcow2"))))[0]
	if !regexp.MustCompile(`<td[^>]*>` + sum + `</td>`).Match(again) {
		t.Errorf("regenerated report lacks the image's sha256 %s", sum)
	}
	m = regexp.MustCompile(`(?s)<script type="application/json" id="events">(.*?)</script>`).FindStringSubmatch(string(again))
	var latest [][]any
	if m == nil || json.Unmarshal([]byte(m[1]), &latest) != nil || len(latest) != 20 || fmt.Sprint(latest) != fmt.Sprint(rows[len(rows)-20:]) {
		t.Errorf("regenerated report with --max-events 20 does not hold the latest 20 events")
	}

	// In the browser.
	testenv.NeedTool(t, "chromium")
	bin, _ := testenv.LookPath("chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--enable-logging=stderr", "--v=0", "--dump-dom",
		fmt.Sprintf("file://%s#selftest&q=%s", filepath.Join(dir, "report.html"), key.AttackerIP))
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, "Uncaught") || (strings.Contains(l, "CONSOLE") && strings.Contains(l, "ERROR")) {
			t.Errorf("console: %s", l)
		}
	}
	st := regexp.MustCompile(`(?s)<pre id="selftest"[^>]*>(.*?)</pre>`).FindStringSubmatch(stdout.String())
	if st == nil {
		t.Fatal("no selftest output")
	}
	var r struct {
		Done      bool     `json:"done"`
		Errors    []string `json:"errors"`
		QueryRows int      `json:"queryRows"`
		LinkQuery string   `json:"linkQuery"`
		LinkRows  int      `json:"linkRows"`
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(st[1])), &r); err != nil {
		t.Fatal(err)
	}
	if !r.Done || len(r.Errors) > 0 {
		t.Fatalf("selftest: done=%v errors=%q", r.Done, r.Errors)
	}
	if r.QueryRows != attacker || attacker == 0 {
		t.Errorf("filtering by %s shows %d rows; timeline.jsonl has %d such events", key.AttackerIP, r.QueryRows, attacker)
	}
}
