// Package snapshot acquires a suspect virtual machine's disks (and memory
// where the platform allows) through its cloud or virtualisation API, with a
// chain-of-custody manifest, and verifies a case folder against it later.
//
// Every provider (libvirt, OpenStack, AWS, in sub-packages) goes through the
// same steps — lookup, quarantine, memory, snapshot, wait, download,
// cleanup — and Acquire records each as an Action in CASE/manifest.json: a
// step the provider cannot do is recorded as "not supported", one the
// operator did not ask for as "not requested"; nothing is skipped silently.
// Downloads stream through an EvidenceWriter that hashes while it writes,
// leaves empty regions as holes and resumes a partial file.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sync"
	"time"
)

// Options are the operator's choices, common to every provider.
type Options struct {
	Quarantine bool // cut the network, pause, lock
	Memory     bool // capture memory before the disk snapshot
	KeepPaused bool // leave a VM paused for the capture paused afterwards
	Cleanup    bool // delete temporary snapshots/images in the cloud afterwards
	Plan       bool // dry run: record what would be done, do nothing
}

// Provider is one platform's way through the steps. Each method does one
// step for the VM named when the provider was built, records what it did
// with a.Record, and returns ErrNotSupported for a step the platform cannot
// do. Methods run in the order of Steps; Quarantine, Memory and Cleanup run
// only when Options ask for them.
type Provider interface {
	Name() string
	// Describe says what the step would do, for --plan; it must not call
	// the platform.
	Describe(step Step, o Options) string
	Lookup(ctx context.Context, a *Acquisition) error
	Quarantine(ctx context.Context, a *Acquisition) error
	Memory(ctx context.Context, a *Acquisition) error
	Snapshot(ctx context.Context, a *Acquisition) error
	Wait(ctx context.Context, a *Acquisition) error
	Download(ctx context.Context, a *Acquisition) error
	Cleanup(ctx context.Context, a *Acquisition) error
}

// Acquisition is the state of one run: the case folder, its manifest, and
// what providers record into it. Its methods are safe for concurrent use.
type Acquisition struct {
	Dir     string
	Options Options
	// Progress, when set, is called by downloads with the evidence name, its
	// total size (-1 unknown) and returns a function counting bytes.
	Progress func(name string, total int64) (add func(int64), done func())
	// Log, when set, receives one line per action. Lines never carry secrets.
	Log func(Action)

	mu       sync.Mutex
	m        Manifest
	prev     *Manifest // the interrupted run this one resumes, if any
	step     Step
	signKey  []byte
	manifest []byte
}

// NewAcquisition prepares a case folder (created if missing, never a
// symbolic link) for one acquisition.
func NewAcquisition(dir, caseID, toolVersion string, o Options) (*Acquisition, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("case folder: %w", err)
	}
	if err := checkCaseDir(dir); err != nil {
		return nil, err
	}
	if caseID == "" {
		caseID = "case-" + time.Now().UTC().Format("20060102T150405Z")
	}
	host, _ := os.Hostname()
	osUser := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		osUser = u.Username
	}
	a := &Acquisition{Dir: dir, Options: o}
	a.m = Manifest{
		Format:   ManifestFormat,
		CaseID:   caseID,
		Status:   StatusIncomplete,
		Started:  time.Now().UTC(),
		Operator: Operator{OSUser: osUser, Host: host},
		Tool:     Tool{Name: "coldcase", Version: toolVersion},
		Actions:  []Action{},
		Evidence: []Evidence{},
	}
	// An earlier interrupted run of the same case keeps its record: the
	// new actions are appended, partial evidence is replaced when resumed.
	old, _, err := ReadManifest(dir)
	if err == nil && old.Status == StatusComplete {
		return nil, fmt.Errorf("case folder %s already holds a complete acquisition (case %s): use a new folder", dir, old.CaseID)
	}
	if err == nil && old.Status != StatusComplete && old.Status != StatusPlanned {
		a.prev = old
		a.m.Actions = old.Actions
		for _, e := range old.Evidence {
			if e.Complete {
				a.m.Evidence = append(a.m.Evidence, e)
			}
		}
	}
	return a, nil
}

// Previous returns the manifest of the interrupted run this one continues
// (nil if none). Providers use it to reuse that run's snapshots or images:
// a partial download may only be resumed from the same immutable source.
func (a *Acquisition) Previous() *Manifest { return a.prev }

// Record appends an action for the current step. err == nil is "ok";
// ErrNotSupported is "not supported".
func (a *Acquisition) Record(detail, requestID string, err error) {
	act := Action{Step: a.currentStep(), Detail: detail, Time: time.Now().UTC(), RequestID: requestID, Result: ResultOK}
	switch {
	case errors.Is(err, ErrNotSupported):
		act.Result = ResultNotSupported
	case err != nil:
		act.Result = ResultError
		act.Error = err.Error()
	}
	a.add(act)
}

func (a *Acquisition) add(act Action) {
	a.mu.Lock()
	a.m.Actions = append(a.m.Actions, act)
	a.mu.Unlock()
	if a.Log != nil {
		a.Log(act)
	}
	a.Save()
}

func (a *Acquisition) currentStep() Step {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.step
}

// SetSource lets a provider fill in where the evidence comes from.
func (a *Acquisition) SetSource(fn func(*Source)) {
	a.mu.Lock()
	fn(&a.m.Source)
	a.mu.Unlock()
	a.Save()
}

// SetOperator records the cloud identity and project (names, never secrets).
func (a *Acquisition) SetOperator(identity, project string) {
	a.mu.Lock()
	a.m.Operator.CloudIdentity, a.m.Operator.CloudProject = identity, project
	a.mu.Unlock()
}

// AddEvidence records an evidence file, replacing an earlier record of the
// same file or of its partial download.
func (a *Acquisition) AddEvidence(e Evidence) {
	a.mu.Lock()
	kept := a.m.Evidence[:0]
	for _, old := range a.m.Evidence {
		if old.Path != e.Path && old.Path != e.Path+PartialSuffix && old.Path+PartialSuffix != e.Path {
			kept = append(kept, old)
		}
	}
	a.m.Evidence = append(kept, e)
	a.mu.Unlock()
	a.Save()
}

// Manifest returns a copy of the manifest as it stands.
func (a *Acquisition) Manifest() Manifest {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.m
	m.Actions = append([]Action(nil), a.m.Actions...)
	m.Evidence = append([]Evidence(nil), a.m.Evidence...)
	return m
}

// Save writes the manifest as it stands (after every action, so that an
// interrupted run leaves an "incomplete" manifest).
func (a *Acquisition) Save() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	data, err := writeManifest(a.Dir, &a.m)
	if err == nil {
		a.manifest = data
	}
	return err
}

// SignWith makes Acquire sign the final manifest with an ed25519 private
// key (see ParsePrivateKey) into manifest.json.sig.
func (a *Acquisition) SignWith(key []byte) { a.signKey = key }

// Acquire runs the provider through every step and finishes the manifest.
// The first failing step stops the run; the manifest then says "failed"
// with the step's error, or "incomplete" when ctx was cancelled, which
// leaves partial downloads to resume.
func Acquire(ctx context.Context, p Provider, a *Acquisition) error {
	a.SetSource(func(s *Source) { s.Provider = p.Name() })
	if a.Options.Plan {
		for _, st := range Steps {
			a.setStep(st)
			act := Action{Step: st, Time: time.Now().UTC(), Result: ResultPlanned, Detail: p.Describe(st, a.Options)}
			if !requested(st, a.Options) {
				act.Result = ResultNotRequested
			} else if act.Detail == "" {
				act.Result = ResultNotSupported
			}
			a.add(act)
		}
		return a.finish(StatusPlanned, nil)
	}
	status, err := runSteps(ctx, p, a)
	// Release runs whatever happened, before the manifest is finished
	// (and signed).
	if r, ok := p.(Releaser); ok {
		a.setStep(StepCleanup)
		if rerr := r.Release(a); rerr != nil && err == nil {
			status, err = StatusFailed, fmt.Errorf("release: %w", rerr)
		}
	}
	return a.finish(status, err)
}

func runSteps(ctx context.Context, p Provider, a *Acquisition) (string, error) {
	run := map[Step]func(context.Context, *Acquisition) error{
		StepLookup: p.Lookup, StepQuarantine: p.Quarantine, StepMemory: p.Memory,
		StepSnapshot: p.Snapshot, StepWait: p.Wait, StepDownload: p.Download, StepCleanup: p.Cleanup,
	}
	for _, st := range Steps {
		a.setStep(st)
		if !requested(st, a.Options) {
			a.add(Action{Step: st, Time: time.Now().UTC(), Result: ResultNotRequested})
			continue
		}
		if err := ctx.Err(); err != nil {
			return StatusIncomplete, err
		}
		err := run[st](ctx, a)
		if errors.Is(err, ErrNotSupported) {
			a.Record(p.Describe(st, a.Options), "", err)
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return StatusIncomplete, fmt.Errorf("%s: %w", st, err)
			}
			return StatusFailed, fmt.Errorf("%s: %w", st, err)
		}
	}
	return StatusComplete, nil
}

// Releaser is a provider with something to undo after every run, success
// or not (a staging folder, a VM paused only for the capture). Release
// runs last, recorded under the cleanup step.
type Releaser interface {
	Release(a *Acquisition) error
}

func requested(st Step, o Options) bool {
	switch st {
	case StepQuarantine:
		return o.Quarantine
	case StepMemory:
		return o.Memory
	case StepCleanup:
		return o.Cleanup
	}
	return true
}

func (a *Acquisition) setStep(st Step) {
	a.mu.Lock()
	a.step = st
	a.mu.Unlock()
}

func (a *Acquisition) finish(status string, err error) error {
	now := time.Now().UTC()
	a.mu.Lock()
	a.m.Status = status
	a.m.Finished = &now
	if err != nil {
		a.m.Error = err.Error()
	}
	a.mu.Unlock()
	if serr := a.Save(); serr != nil && err == nil {
		err = serr
	}
	if a.signKey != nil && err == nil {
		a.mu.Lock()
		data := a.manifest
		a.mu.Unlock()
		if serr := signManifest(a.Dir, data, a.signKey); serr != nil {
			err = serr
		}
	}
	return err
}
