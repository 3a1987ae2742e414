package snapshot

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ManifestName is the manifest's file name inside a case folder.
const ManifestName = "manifest.json"

// ManifestFormat names the manifest's schema; readers refuse others.
const ManifestFormat = "coldcase-manifest/1"

// Manifest status values. A manifest is rewritten after every action, so an
// interrupted acquisition leaves StatusIncomplete on disk.
const (
	StatusIncomplete = "incomplete"
	StatusComplete   = "complete"
	StatusFailed     = "failed"
	StatusPlanned    = "planned" // --plan: nothing was done
)

// Manifest is the chain-of-custody record of one acquisition, written as
// CASE/manifest.json. It never holds credentials or tokens: only names
// (user, project, credential id) that say who acted.
type Manifest struct {
	Format   string     `json:"format"`
	CaseID   string     `json:"case_id"`
	Status   string     `json:"status"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
	Operator Operator   `json:"operator"`
	Tool     Tool       `json:"tool"`
	Source   Source     `json:"source"`
	Actions  []Action   `json:"actions"`
	Evidence []Evidence `json:"evidence"`
	Error    string     `json:"error,omitempty"`
}

// Operator says who ran the acquisition, locally and in the cloud.
type Operator struct {
	OSUser        string `json:"os_user"`
	Host          string `json:"host"`
	CloudIdentity string `json:"cloud_identity,omitempty"` // user, role ARN or application credential id
	CloudProject  string `json:"cloud_project,omitempty"`  // project/tenant or account
}

// Tool names the program and version that wrote the manifest.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Source says where the evidence came from.
type Source struct {
	Provider     string   `json:"provider"` // libvirt, openstack, aws
	Endpoint     string   `json:"endpoint,omitempty"`
	Region       string   `json:"region,omitempty"`
	InstanceID   string   `json:"instance_id,omitempty"`
	InstanceName string   `json:"instance_name,omitempty"`
	Volumes      []string `json:"volumes,omitempty"`
	Snapshots    []string `json:"snapshots,omitempty"`
	Images       []string `json:"images,omitempty"`
}

// Evidence is one file the acquisition brought home, with the hashes taken
// while it streamed in.
type Evidence struct {
	Path      string     `json:"path"` // relative to the case folder, slash-separated
	Kind      string     `json:"kind"` // disk, memory
	Origin    string     `json:"origin,omitempty"`
	Size      int64      `json:"size"`
	SHA256    string     `json:"sha256"`
	MD5       string     `json:"md5"`
	Provider  []Checksum `json:"provider_checksums,omitempty"`
	Complete  bool       `json:"complete"`
	Collected time.Time  `json:"collected"`
}

// Checksum is a checksum the provider published for the evidence, and
// whether the streamed data matched it.
type Checksum struct {
	Algorithm string `json:"algorithm"` // sha512, md5, sha256-blocks
	Value     string `json:"value"`
	Verified  bool   `json:"verified"`
}

// Action is one step the acquisition took, or would have taken.
type Action struct {
	Step      Step      `json:"step"`
	Detail    string    `json:"detail,omitempty"`
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id,omitempty"`
	Result    string    `json:"result"`
	Error     string    `json:"error,omitempty"`
}

// Action results.
const (
	ResultOK           = "ok"
	ResultError        = "error"
	ResultNotSupported = "not supported"
	ResultNotRequested = "not requested"
	ResultPlanned      = "planned"
)

// Step names the phases every provider goes through, in this order.
type Step string

const (
	StepLookup     Step = "lookup"
	StepQuarantine Step = "quarantine"
	StepMemory     Step = "memory"
	StepSnapshot   Step = "snapshot"
	StepWait       Step = "wait"
	StepDownload   Step = "download"
	StepCleanup    Step = "cleanup"
)

// Steps lists the phases in the order Acquire runs them.
var Steps = []Step{StepLookup, StepQuarantine, StepMemory, StepSnapshot, StepWait, StepDownload, StepCleanup}

// maxManifest bounds how much of a manifest file is read: it is evidence
// metadata, not evidence, and a case folder may have been tampered with.
const maxManifest = 64 << 20

// ReadManifest reads and checks CASE/manifest.json. Evidence paths must stay
// inside the case folder and hashes must be well formed, so that verify
// never opens a file outside the case.
func ReadManifest(caseDir string) (*Manifest, []byte, error) {
	f, err := openNoFollow(filepath.Join(caseDir, ManifestName))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, nil, fmt.Errorf("manifest: %w", err)
	}
	if len(data) > maxManifest {
		return nil, nil, fmt.Errorf("manifest: larger than %d bytes", maxManifest)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, nil, err
	}
	return m, data, nil
}

// ParseManifest decodes and checks a manifest.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("manifest: format %q, want %q", m.Format, ManifestFormat)
	}
	seen := map[string]bool{}
	for i, e := range m.Evidence {
		if err := checkRelPath(e.Path); err != nil {
			return nil, fmt.Errorf("manifest: evidence[%d]: %w", i, err)
		}
		if seen[e.Path] {
			return nil, fmt.Errorf("manifest: evidence[%d]: %q listed twice", i, e.Path)
		}
		seen[e.Path] = true
		if e.Size < 0 {
			return nil, fmt.Errorf("manifest: evidence[%d] %q: negative size %d", i, e.Path, e.Size)
		}
		if err := checkHex(e.SHA256, 32); err != nil {
			return nil, fmt.Errorf("manifest: evidence[%d] %q: sha256: %w", i, e.Path, err)
		}
		if err := checkHex(e.MD5, 16); err != nil {
			return nil, fmt.Errorf("manifest: evidence[%d] %q: md5: %w", i, e.Path, err)
		}
	}
	return &m, nil
}

func checkHex(s string, n int) error {
	if len(s) != 2*n {
		return fmt.Errorf("%d hex digits, want %d", len(s), 2*n)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return err
	}
	return nil
}

// checkRelPath accepts a slash-separated path below the case folder: not
// absolute, no "..", no empty or "." elements, not the manifest itself.
func checkRelPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
		return fmt.Errorf("path %q is not relative to the case folder", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("path %q leaves or aliases the case folder", p)
		}
	}
	if p == ManifestName || p == ManifestName+".sig" {
		return fmt.Errorf("path %q names the manifest", p)
	}
	return nil
}

// writeManifest replaces CASE/manifest.json atomically, so a reader (or a
// crash) sees the old or the new manifest, never half of one.
func writeManifest(caseDir string, m *Manifest) ([]byte, error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	data = append(data, '\n')
	if err := writeFileAtomic(caseDir, ManifestName, data); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return data, nil
}

func writeFileAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// ErrNotSupported is returned by a provider step the provider cannot do;
// Acquire records it as "not supported" and goes on.
var ErrNotSupported = errors.New("not supported by this provider")
