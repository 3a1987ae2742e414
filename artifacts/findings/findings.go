// Package findings evaluates rules over a guest's artifact records and its
// timeline and reports what an investigator should look at first, each
// finding with a severity and the evidence it rests on.
//
// The rules live in one table (rules.go): a record rule looks at the typed
// records the extractors returned (users, persistence, binaries); an event
// rule watches the sorted timeline as it streams past, keeping only small
// per-key state, so memory does not grow with the event count. Adding a
// rule is adding a row.
package findings

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/coldcase-dfir/coldcase/timeline"
)

// Severity orders findings: info < low < medium < high.
type Severity int

const (
	Info Severity = iota + 1
	Low
	Medium
	High
)

var severityNames = map[Severity]string{Info: "info", Low: "low", Medium: "medium", High: "high"}

func (s Severity) String() string { return severityNames[s] }

// MarshalJSON writes the name.
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads the name.
func (s *Severity) UnmarshalJSON(b []byte) error {
	var n string
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	v, err := ParseSeverity(n)
	*s = v
	return err
}

// ParseSeverity reads "info", "low", "medium" or "high".
func ParseSeverity(s string) (Severity, error) {
	for k, v := range severityNames {
		if strings.EqualFold(s, v) {
			return k, nil
		}
	}
	return 0, fmt.Errorf("severity %q: want info, low, medium or high", s)
}

// Finding is one rule hit.
type Finding struct {
	Rule     string    `json:"rule"`
	Severity Severity  `json:"severity"`
	Title    string    `json:"title"`
	Detail   string    `json:"detail"`
	Time     time.Time `json:"time,omitempty"` // when it happened, when known
	User     string    `json:"user,omitempty"`
	IP       string    `json:"ip,omitempty"`
	Path     string    `json:"path,omitempty"`
	// Evidence lists where to re-check it: the records' and events'
	// evidence references.
	Evidence []timeline.Evidence `json:"evidence"`
}

// Engine runs the rules. Feed it the sorted timeline with Add (it is a
// timeline.Sink) and the records with Records, then read Findings.
type Engine struct {
	running []running
	found   []Finding
}

type running struct {
	rule Rule
	w    watcher
}

// watcher is the running state of one event rule.
type watcher interface {
	add(e *timeline.Event)
	finish() []Finding
}

// NewEngine prepares every rule of the table.
func NewEngine() *Engine {
	en := &Engine{}
	for _, r := range Rules {
		if r.watch != nil {
			en.running = append(en.running, running{r, r.watch()})
		}
	}
	return en
}

// Add shows the engine one event; events must come in time order.
func (en *Engine) Add(e timeline.Event) error {
	for _, r := range en.running {
		r.w.add(&e)
	}
	return nil
}

// Records evaluates the record rules over the extractors' results, keyed
// by extractor name as artifacts.Extractor.Name.
func (en *Engine) Records(recs map[string]any) {
	for _, r := range Rules {
		if r.records != nil {
			en.found = append(en.found, stamp(r, r.records(recs))...)
		}
	}
}

// Findings ends the event rules and returns every finding, most severe
// first, then by time.
func (en *Engine) Findings() []Finding {
	for _, r := range en.running {
		en.found = append(en.found, stamp(r.rule, r.w.finish())...)
	}
	en.running = nil
	out := en.found
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Severity != out[j].Severity {
			return out[i].Severity > out[j].Severity
		}
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].Path < out[j].Path
	})
	return out
}

// stamp fills a rule's id, severity and title into its findings.
func stamp(r Rule, fs []Finding) []Finding {
	for i := range fs {
		fs[i].Rule = r.ID
		if fs[i].Severity == 0 {
			fs[i].Severity = r.Severity
		}
		if fs[i].Title == "" {
			fs[i].Title = r.Title
		}
	}
	return fs
}

// Worst is the highest severity among findings (0 when none).
func Worst(fs []Finding) Severity {
	var w Severity
	for _, f := range fs {
		if f.Severity > w {
			w = f.Severity
		}
	}
	return w
}
