// Package artifacts is the core shared by the extractors in its
// sub-packages: the environment they run in (the guest tree, its time zone
// and host name), the registry that lists them, warnings, and helpers to
// open rotated and compressed logs and files for random access, and to
// bound the warnings of one file.
//
// Every extractor works on any io/fs.FS: the assembled guest of an image,
// an extracted directory (os.DirFS) or an fstest.MapFS in tests. Everything
// it reads is attacker-controlled.
package artifacts

import (
	"context"
	"fmt"
	iofs "io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/timeline"
)

// Env is what an extractor needs to know about the guest.
type Env struct {
	FS iofs.FS
	// Zone converts the guest's local-time logs to UTC; ZoneName is recorded
	// on such events. UTC when the guest's zone is unknown.
	Zone     *time.Location
	ZoneName string
	Host     string
	Image    string // for evidence references
	Volume   string
	// VolumeOf names the volume a guest path lives on, when the tree spans
	// several (an assembled guest); it overrides Volume.
	VolumeOf func(path string) string
	// Events receives timeline events as they are produced; nil drops them.
	Events timeline.Sink

	mu       sync.Mutex
	warnings []Warning
}

// NewEnv prepares an Env for a guest tree: it reads the guest's time zone
// and host name.
func NewEnv(fsys iofs.FS) *Env {
	env := &Env{FS: fsys, Zone: time.UTC, ZoneName: "UTC"}
	if loc, name, err := GuestZone(fsys); err == nil {
		env.Zone, env.ZoneName = loc, name
	} else {
		env.Warn(Warning{Path: "/etc/localtime", Msg: "time zone unknown, local-time logs read as UTC: " + err.Error()})
	}
	env.Host = GuestHostname(fsys)
	return env
}

// Warning is a problem met in the evidence that did not stop extraction:
// a corrupt record, a truncated file, a line too long.
type Warning struct {
	Source string `json:"source,omitempty"`
	Path   string `json:"path"`
	Offset int64  `json:"offset,omitempty"` // byte offset, when known
	Line   int64  `json:"line,omitempty"`
	Msg    string `json:"message"`
}

func (w Warning) String() string {
	loc := w.Path
	if w.Line > 0 {
		loc += fmt.Sprintf(":%d", w.Line)
	}
	if w.Offset > 0 {
		loc += fmt.Sprintf(" at offset %#x", w.Offset)
	}
	return loc + ": " + w.Msg
}

// Warn records a warning. It is safe for concurrent use.
func (e *Env) Warn(w Warning) {
	e.mu.Lock()
	e.warnings = append(e.warnings, w)
	e.mu.Unlock()
}

// Warnings returns the warnings recorded so far.
func (e *Env) Warnings() []Warning {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Warning(nil), e.warnings...)
}

// Emit sends an event to the Env's sink, filling in the host and the
// evidence's image and volume when the extractor left them empty.
func (e *Env) Emit(ev timeline.Event) error {
	if e.Events == nil {
		return nil
	}
	if ev.Host == "" {
		ev.Host = e.Host
	}
	if ev.Evidence.Image == "" {
		ev.Evidence.Image = e.Image
	}
	if ev.Evidence.Volume == "" {
		ev.Evidence.Volume = e.volumeOf(ev.Evidence.Path)
	}
	return e.Events.Add(ev)
}

// Evidence builds an evidence reference for a file of the guest, with its
// inode when the filesystem tells it.
func (e *Env) Evidence(path string) timeline.Evidence {
	ev := timeline.Evidence{Image: e.Image, Volume: e.volumeOf(path), Path: "/" + strings.TrimPrefix(trimSlash(path), ".")}
	if fi, err := iofs.Stat(e.FS, trimSlash(path)); err == nil {
		if st := cfs.StatOf(fi); st != nil {
			ev.Inode = st.Inode
		}
	}
	return ev
}

// VolumeFor names the volume a guest path lives on, for evidence
// references built without Evidence (which stats the file).
func (e *Env) VolumeFor(path string) string { return e.volumeOf(path) }

func (e *Env) volumeOf(path string) string {
	if e.VolumeOf != nil && path != "" {
		return e.VolumeOf(path)
	}
	return e.Volume
}

func trimSlash(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	if p == "" {
		return "."
	}
	return p
}

// Extractor is one artifact family. Run returns the family's typed records
// (serialised as JSON under Name in artifacts.json) and emits its events
// through env.Emit.
type Extractor struct {
	Name string // "system", "users", "cron", "persistence", "logs", "binaries", …
	// Families a user can select with --only that run this extractor.
	Run func(ctx context.Context, env *Env) (any, error)
	// Order sorts extractors; lower runs first.
	Order int
}

var (
	regMu      sync.Mutex
	extractors []Extractor
)

// Register adds an extractor; sub-packages call it from init.
func Register(x Extractor) {
	regMu.Lock()
	defer regMu.Unlock()
	for _, y := range extractors {
		if y.Name == x.Name {
			panic("artifacts: Register called twice for " + x.Name)
		}
	}
	extractors = append(extractors, x)
}

// Extractors lists the registered extractors in run order.
func Extractors() []Extractor {
	regMu.Lock()
	defer regMu.Unlock()
	out := append([]Extractor(nil), extractors...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].Name < out[j].Name
	})
	return out
}
