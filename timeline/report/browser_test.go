package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"image/png"
	"math"
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

// browserEvents is a deterministic timeline of n events from several
// sources, with tokens the test filters by, plus the hostile events.
func browserEvents(n int) []timeline.Event {
	sources := []string{"fs", "auth", "wtmp", "journal", "cron"}
	users := []string{"root", "alice", "www-data", "bob"}
	evs := make([]timeline.Event, 0, n+3)
	t := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	for i := range n - 3 {
		// Uneven gaps so the histogram has shape: a busy burst every
		// 10000 events.
		gap := time.Duration(1+(i*7919)%600) * time.Second
		if i%10000 < 500 {
			gap = time.Duration(1+i%3) * time.Millisecond
		}
		t = t.Add(gap)
		e := timeline.Event{Time: t, Source: sources[i%len(sources)], User: users[(i/3)%len(users)],
			TimestampDesc: "Modification Time", Path: fmt.Sprintf("/srv/data/%c/f%06d", 'a'+i%26, i),
			Evidence: timeline.Evidence{Image: "disk.qcow2", Volume: "p2", Path: "/var/log/x", Line: int64(i + 1)}}
		e.Message = fmt.Sprintf("event %06d from %s about %s", (i*7)%n, e.Source, e.Path)
		if i%97 == 0 {
			e.Message += " Needle-" + fmt.Sprint(i%5)
		}
		if i%1000 == 1 {
			e.IP = "203.0.113.66"
		}
		evs = append(evs, e)
	}
	for _, h := range hostileEvents() {
		t = t.Add(time.Second)
		h.Time = t
		evs = append(evs, h)
	}
	return evs
}

func contains(e *timeline.Event, q string) bool {
	q = strings.ToLower(q)
	for _, s := range []string{e.Message, e.Path, e.User, e.IP, evidenceString(e.Evidence)} {
		if strings.Contains(strings.ToLower(s), q) {
			return true
		}
	}
	return false
}

// chromium runs headless Chromium on url with extra flags and returns its
// stdout and stderr.
func chromium(t *testing.T, profile string, url string, flags ...string) (string, string) {
	t.Helper()
	bin, err := testenv.LookPath("chromium")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + profile,
		"--enable-logging=stderr", "--v=0"}, flags...)
	args = append(args, url)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", flags, err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// consoleErrors picks console errors and uncaught exceptions out of
// Chromium's log.
func consoleErrors(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "Uncaught") || (strings.Contains(l, "CONSOLE") && strings.Contains(l, "ERROR")) {
			out = append(out, l)
		}
	}
	return out
}

type selftest struct {
	Done           bool     `json:"done"`
	Errors         []string `json:"errors"`
	Total          int      `json:"total"`
	InitialRows    int      `json:"initialRows"`
	QueryRows      int      `json:"queryRows"`
	DomRows        int      `json:"domRows"`
	MsgAscSorted   bool     `json:"msgAscSorted"`
	MsgFirst       string   `json:"msgFirst"`
	MsgDescSorted  bool     `json:"msgDescSorted"`
	MsgDescFirst   string   `json:"msgDescFirst"`
	TimeSorted     bool     `json:"timeSorted"`
	FirstRowText   string   `json:"firstRowText"`
	SourceRows     int      `json:"sourceRows"`
	WindowRows     int      `json:"windowRows"`
	WindowHistSum  int      `json:"windowHistSum"`
	DragWindow     []int64  `json:"dragWindow"`
	DragRows       int      `json:"dragRows"`
	DragExpected   int      `json:"dragExpected"`
	ResetRows      int      `json:"resetRows"`
	LastRendered   int      `json:"lastRendered"`
	DomRowsAtEnd   int      `json:"domRowsAtEnd"`
	LinkQuery      string   `json:"linkQuery"`
	LinkRows       int      `json:"linkRows"`
	LinkHitTime    int64    `json:"linkHitTime"`
	LinkAllMatch   bool     `json:"linkAllMatch"`
	Pwned          bool     `json:"pwned"`
	InjectedNodes  int      `json:"injectedNodes"`
	HostileVisible string   `json:"hostileVisible"`
	FilterMs       float64  `json:"filterMs"`
	Resources      *int     `json:"resources"`
	ViewRows       *int     `json:"viewRows"`
	EvRef          string   `json:"evRef"`
	EvRows         int      `json:"evRows"`
	EvClearedRows  int      `json:"evClearedRows"`
	SortAllMs      float64  `json:"sortAllMs"`
}

// TestBrowser loads a report of 120k events in headless Chromium, lets the
// page's self-test drive the filter, sort, histogram zoom, virtual
// scrolling and a finding link, checks each result against what Go
// computes from the same events, and checks a screenshot.
func TestBrowser(t *testing.T) {
	testenv.NeedTool(t, "chromium")
	n := 120_000
	evs := browserEvents(n)
	dir := t.TempDir()
	findingTime := evs[50_001].Time
	d := Data{
		Title:     "coldcase report: synthetic",
		Generated: time.Now().UTC(),
		Case:      []Fact{{Name: "Tool", Value: "coldcase test"}, {Name: "Events", Value: fmt.Sprint(len(evs))}},
		Images:    Table{Title: "Images", Columns: []string{"Path", "SHA-256"}, Rows: [][]string{{"disk.qcow2", strings.Repeat("ab", 32)}}},
		System:    []Fact{{Name: "Host", Value: "web01"}, {Name: "OS", Value: "Debian GNU/Linux 12 (bookworm)"}},
		Findings: []Finding{
			{Severity: "high", Rule: "bruteforce-then-login", Title: "Successful login after failures", Detail: "root from 203.0.113.66",
				Time: findingTime, User: "root", IP: "203.0.113.66", Evidence: []timeline.Evidence{evs[50_001].Evidence, {Path: "/nowhere"}}},
			{Severity: "medium", Rule: "x", Title: breakOut, Detail: attrBreak, Path: jsURL},
			{Severity: "low", Rule: "y", Title: "Something small", User: "bob"},
		},
		Tables: []Table{{ID: "users", Title: "Users", Columns: []string{"Name", "UID"}, Rows: [][]string{{"root", "0"}, {breakOut, "0"}}}},
		Events: slice(evs),
	}
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, d); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// What the page should find, computed here from the same events.
	q, src := "needle-3", "journal"
	lo, hi := evs[30_000].Time.UnixMicro(), evs[40_000].Time.UnixMicro()
	var want struct {
		query, source, window, link, ev, view int
		msgMin, msgMax                        string
		linkHit                               int64
	}
	for i := range evs {
		e := &evs[i]
		if contains(e, q) {
			want.query++
			if want.msgMin == "" || e.Message < want.msgMin {
				want.msgMin = e.Message
			}
			if e.Message > want.msgMax {
				want.msgMax = e.Message
			}
		}
		if e.Source == src {
			want.source++
		}
		if evidenceString(e.Evidence) == evidenceString(evs[50_001].Evidence) {
			want.ev++
		}
		if us := e.Time.UnixMicro(); us >= lo && us <= hi {
			want.window++
			if e.Source == src && contains(e, q) {
				want.view++
			}
		}
		if contains(e, "203.0.113.66") {
			want.link++
			if want.linkHit == 0 && !e.Time.Before(findingTime) {
				want.linkHit = e.Time.UnixMicro()
			}
		}
	}

	profile := t.TempDir()
	start := time.Now()
	url := fmt.Sprintf("file://%s#selftest&q=%s&src=%s&lo=%d&hi=%d", page, q, src, lo, hi)
	dom, logs := chromium(t, profile, url, "--dump-dom")
	t.Logf("chromium --dump-dom of a %d-event page: %v", len(evs), time.Since(start).Round(time.Millisecond))
	if errs := consoleErrors(logs); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
	m := regexp.MustCompile(`(?s)<pre id="selftest"[^>]*>(.*?)</pre>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no selftest output in the DOM (%d bytes)", len(dom))
	}
	t.Logf("selftest: %.1500s", html.UnescapeString(m[1]))
	var r selftest
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &r); err != nil {
		t.Fatalf("selftest output: %v\n%.2000s", err, m[1])
	}
	if !r.Done || len(r.Errors) > 0 {
		t.Fatalf("selftest did not finish cleanly: done=%v errors=%q", r.Done, r.Errors)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	t.Logf("in the page: filtering %d events took %.0f ms, sorting them by message %.0f ms", len(evs), r.FilterMs, r.SortAllMs)
	// Generous bounds (CI machines are slow and shared); a table that
	// rebuilt DOM rows for every event would take far longer.
	if r.FilterMs > 3000 || r.SortAllMs > 5000 {
		t.Errorf("filtering took %.0f ms and sorting %.0f ms: not responsive", r.FilterMs, r.SortAllMs)
	}
	check("events in the page", r.Total, len(evs))
	check("rows before filtering", r.InitialRows, len(evs))
	check("rows matching "+q, r.QueryRows, want.query)
	if want.query == 0 || want.query == len(evs) {
		t.Fatalf("test data: filter %q matches %d of %d", q, want.query, len(evs))
	}
	check("sorted by message ascending", r.MsgAscSorted, true)
	check("first message ascending", r.MsgFirst, want.msgMin)
	check("sorted by message descending", r.MsgDescSorted, true)
	check("first message descending", r.MsgDescFirst, want.msgMax)
	check("sorted by time", r.TimeSorted, true)
	check("rows of source "+src, r.SourceRows, want.source)
	check("rows in the time window", r.WindowRows, want.window)
	check("histogram total in the window", r.WindowHistSum, want.window)
	if len(r.DragWindow) != 2 || r.DragWindow[0] >= r.DragWindow[1] || r.DragRows == 0 || r.DragRows >= len(evs) {
		t.Errorf("dragging across the histogram gave window %v with %d rows", r.DragWindow, r.DragRows)
	}
	check("rows in the dragged window", r.DragRows, r.DragExpected)
	check("rows after reset", r.ResetRows, len(evs))
	if r.ViewRows == nil || *r.ViewRows != want.view {
		t.Errorf("a view of text, source and window shows %v rows, want %d", r.ViewRows, want.view)
	}
	check("last row rendered after scrolling to the end", r.LastRendered, len(evs)-1)
	if r.DomRows > 100 || r.DomRowsAtEnd > 100 || r.DomRowsAtEnd == 0 {
		t.Errorf("the table holds %d/%d row elements; only the visible rows should be rendered", r.DomRows, r.DomRowsAtEnd)
	}
	check("evidence link filter", r.EvRef, evidenceString(evs[50_001].Evidence))
	check("evidence link rows", r.EvRows, want.ev)
	check("rows after clearing the evidence filter", r.EvClearedRows, len(evs))
	check("finding link filter", r.LinkQuery, "203.0.113.66")
	check("finding link rows", r.LinkRows, want.link)
	check("finding link jumps to", r.LinkHitTime, want.linkHit)
	check("finding link rows all match", r.LinkAllMatch, true)
	if r.Resources == nil || *r.Resources != 0 {
		t.Errorf("the page fetched %v resources; it must load nothing", r.Resources)
	}
	check("hostile script ran", r.Pwned, false)
	check("injected img/svg elements", r.InjectedNodes, 0)
	if !strings.Contains(r.HostileVisible, `evil\x1b[31mred`) {
		t.Errorf("hostile event shown as %q, want control characters made visible", r.HostileVisible)
	}

	// A screenshot of the top of the page: right size, not blank.
	shot := filepath.Join(dir, "shot.png")
	_, logs = chromium(t, profile, "file://"+page, "--screenshot="+shot, "--window-size=1400,1000")
	if errs := consoleErrors(logs); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
	checkScreenshot(t, shot, 1400, 1000)
	if keep := os.Getenv("COLDCASE_REPORT_SHOT"); keep != "" {
		b, _ := os.ReadFile(shot)
		os.WriteFile(keep, b, 0o644)
	}
}

func checkScreenshot(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
	// Luminance variance and the share of ink: a blank or one-colour page
	// fails both.
	var sum, sq float64
	ink := 0
	for y := 0; y < h; y += 2 {
		for x := 0; x < w; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			l := (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(b)) / 257
			sum += l
			sq += l * l
			if l < 160 {
				ink++
			}
		}
	}
	px := float64((w / 2) * (h / 2))
	mean := sum / px
	sd := math.Sqrt(sq/px - mean*mean)
	share := float64(ink) / px
	t.Logf("screenshot: mean luminance %.1f, sd %.1f, dark pixels %.2f%%", mean, sd, 100*share)
	if sd < 10 || share < 0.01 || share > 0.6 {
		t.Errorf("screenshot looks blank or wrong: mean %.1f sd %.1f dark %.2f%%", mean, sd, 100*share)
	}
}
