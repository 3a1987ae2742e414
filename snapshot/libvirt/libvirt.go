// Package libvirt acquires a libvirt/QEMU domain: link down on every
// interface, suspend, a memory-only ELF core dump, and a copy of each disk,
// talking to libvirtd over its socket with github.com/digitalocean/go-libvirt
// (no libvirt C library).
//
// Disks are copied by one of two methods (Config.Method). A push-mode
// backup job (virDomainBackupBegin, libvirt ≥ 6 with QEMU ≥ 4.2) writes a
// raw point-in-time copy of each disk. Where the daemon refuses backup jobs
// (older hypervisors such as CentOS 7's), or when asked, an external
// disk-only snapshot puts every disk on a qcow2 overlay in the staging
// folder; the original files, now stable, are read in place, read-only,
// each with its backing chain, keeping their format; then each overlay is
// block-committed back and the disk pivoted to its original file. A disk
// whose merge fails is left running on its overlay, and the manifest says
// so with the virsh command that finishes the merge.
//
// The daemon writes the core dump and backup files itself, as root or as
// the QEMU user, so they go to a staging folder on the daemon's host, and
// disk files are read where they are; this package therefore needs the
// daemon to be local (a unix-socket URI). Each file is streamed into the
// case folder through a hashing EvidenceWriter; staged ones are then
// removed.
package libvirt

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/coldcase-dfir/coldcase/snapshot"
)

// Config names the domain and where staged files go.
type Config struct {
	URI    string // qemu:///system
	Domain string // name or UUID
	// StagingDir is where the daemon writes the dump and backup (default:
	// a fresh folder under the system temp folder, owned by the QEMU user).
	StagingDir string
	// PollInterval for the backup and block-commit jobs (default 200ms).
	PollInterval time.Duration
	// Method is how disks are copied: MethodBackup, MethodExternalSnapshot,
	// or MethodAuto (backup, falling back to an external snapshot when the
	// daemon refuses backup jobs).
	Method string
	// CommitTimeout bounds the wait for each block-commit to become ready
	// for its pivot (default 30 minutes).
	CommitTimeout time.Duration
}

// Disk copy methods (Config.Method).
const (
	MethodAuto             = ""
	MethodBackup           = "backup"
	MethodExternalSnapshot = "external-snapshot"
)

// Provider implements snapshot.Provider for libvirt.
type Provider struct {
	cfg     Config
	l       *golibvirt.Libvirt
	dom     golibvirt.Domain
	info    *DomainInfo
	staging string
	ownStg  bool
	paused  bool // paused by us
	staged  []staged
	// hv is the daemon for the calls whose failures matter most
	// (backup-begin, snapshot, block jobs); tests put a failing one here.
	hv       hypervisor
	method   string    // the method in use once Snapshot has chosen
	overlays []overlay // disks running on an overlay of ours
	// mergeTried: a failed merge is not retried blindly in Release; the
	// manifest says how to finish it by hand.
	mergeTried bool
}

type staged struct {
	path, name, kind, origin string
	keep                     bool // a disk file read in place: never removed
}

// New returns a provider; it connects at Lookup.
func New(cfg Config) *Provider {
	if cfg.URI == "" {
		cfg.URI = "qemu:///system"
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.CommitTimeout == 0 {
		cfg.CommitTimeout = 30 * time.Minute
	}
	return &Provider{cfg: cfg}
}

func (p *Provider) Name() string { return "libvirt" }

// Describe says what each step does, for --plan.
func (p *Provider) Describe(st snapshot.Step, o snapshot.Options) string {
	switch st {
	case snapshot.StepLookup:
		return fmt.Sprintf("connect to %s, look up domain %q, read its interfaces and disks", p.cfg.URI, p.cfg.Domain)
	case snapshot.StepQuarantine:
		return "set link state down on every interface (live), suspend the domain; libvirt has no lock"
	case snapshot.StepMemory:
		return "suspend the domain, memory-only ELF core dump (virDomainCoreDumpWithFormat, memory-only) to the staging folder; resumed at the end unless quarantined or --keep-paused"
	case snapshot.StepSnapshot:
		switch p.cfg.Method {
		case MethodBackup:
			return describeBackup
		case MethodExternalSnapshot:
			return describeExternal
		}
		return describeBackup + "; if the daemon refuses backup jobs (libvirt < 6, QEMU < 4.2): " + describeExternal
	case snapshot.StepWait:
		return "poll the backup job until it completes, read its completion statistics (an external snapshot has nothing to wait for)"
	case snapshot.StepDownload:
		return "move each staged file into the case folder, hashing it (sha256, md5), holes kept sparse; after an external snapshot, read each original disk file and its backing files in place (read-only), then block-commit each overlay back (active, shallow), pivot to the original file and remove the overlay"
	case snapshot.StepCleanup:
		return "" // nothing is left in the platform; the staging folder is always removed
	}
	return ""
}

// Close disconnects from the daemon.
func (p *Provider) Close() error {
	if p.l == nil {
		return nil
	}
	return p.l.Disconnect()
}

func (p *Provider) Lookup(ctx context.Context, a *snapshot.Acquisition) error {
	u, err := url.Parse(p.cfg.URI)
	if err != nil {
		return fmt.Errorf("libvirt URI: %w", err)
	}
	if u.Host != "" {
		return fmt.Errorf("libvirt URI %s: the daemon must be local (its dump and backup files are read from this host)", p.cfg.URI)
	}
	l, err := golibvirt.ConnectToURI(u)
	a.Record("connect "+p.cfg.URI, "", err)
	if err != nil {
		return err
	}
	p.l = l
	if p.hv == nil {
		p.hv = l
	}
	switch p.cfg.Method {
	case MethodAuto, MethodBackup, MethodExternalSnapshot:
	default:
		err := fmt.Errorf("libvirt: unknown disk copy method %q (want %q, %q or empty for automatic)", p.cfg.Method, MethodBackup, MethodExternalSnapshot)
		a.Record("choose the disk copy method", "", err)
		return err
	}
	dom, err := l.DomainLookupByName(p.cfg.Domain)
	if err != nil {
		if uuid, perr := parseUUID(p.cfg.Domain); perr == nil {
			dom, err = l.DomainLookupByUUID(uuid)
		}
	}
	if err != nil {
		a.Record("look up domain "+p.cfg.Domain, "", err)
		return err
	}
	p.dom = dom
	x, err := l.DomainGetXMLDesc(dom, 0)
	if err != nil {
		a.Record("read domain XML", "", err)
		return err
	}
	info, err := ParseDomainXML([]byte(x))
	if err != nil {
		a.Record("read domain XML", "", err)
		return err
	}
	p.info = info
	host, _ := l.ConnectGetHostname()
	var vols []string
	for _, d := range info.Disks {
		vols = append(vols, d.Target+"="+d.Source)
	}
	a.SetSource(func(s *snapshot.Source) {
		s.Endpoint = p.cfg.URI + " (" + host + ")"
		s.InstanceID, s.InstanceName, s.Volumes = info.UUID, info.Name, vols
	})
	a.Record(fmt.Sprintf("domain %s uuid %s: %d interfaces, %d disks", info.Name, info.UUID, len(info.Interfaces), len(info.Disks)), "", nil)
	if len(info.Disks) == 0 {
		return errors.New("domain has no disk to acquire")
	}
	return nil
}

// Quarantine cuts every interface's link, then suspends the domain.
func (p *Provider) Quarantine(ctx context.Context, a *snapshot.Acquisition) error {
	for _, ifc := range p.info.Interfaces {
		x, err := ifc.LinkDownXML()
		if err == nil {
			err = p.l.DomainUpdateDeviceFlags(p.dom, string(x), golibvirt.DomainDeviceModifyLive)
		}
		a.Record(fmt.Sprintf("link down on interface %s (%s)", ifc.MAC, ifc.Target), "", err)
		if err != nil {
			return err
		}
	}
	// Check what the daemon now says rather than trusting the calls.
	x, err := p.l.DomainGetXMLDesc(p.dom, 0)
	if err == nil {
		var info *DomainInfo
		if info, err = ParseDomainXML([]byte(x)); err == nil {
			for _, ifc := range info.Interfaces {
				if ifc.Link != "down" {
					err = fmt.Errorf("interface %s still has link %q", ifc.MAC, ifc.Link)
				}
			}
		}
	}
	a.Record("check every interface reports link down", "", err)
	if err != nil {
		return err
	}
	if err := p.pause(a); err != nil {
		return err
	}
	a.Record("lock the domain against changes", "", snapshot.ErrNotSupported)
	return nil
}

func (p *Provider) pause(a *snapshot.Acquisition) error {
	state, _, err := p.l.DomainGetState(p.dom, 0)
	if err != nil {
		a.Record("read domain state", "", err)
		return err
	}
	if golibvirt.DomainState(state) == golibvirt.DomainPaused {
		a.Record("suspend: domain already paused", "", nil)
		return nil
	}
	err = p.l.DomainSuspend(p.dom)
	a.Record("suspend domain", "", err)
	if err == nil {
		p.paused = true
	}
	return err
}

func (p *Provider) stagingDir() (string, error) {
	if p.staging != "" {
		return p.staging, nil
	}
	dir := p.cfg.StagingDir
	if dir == "" {
		d, err := os.MkdirTemp("", "coldcase-staging-")
		if err != nil {
			return "", err
		}
		dir, p.ownStg = d, true
	} else if err := os.MkdirAll(dir, 0o770); err != nil {
		return "", err
	}
	// QEMU runs as its own user and writes the backup itself.
	if err := os.Chmod(dir, 0o770); err != nil {
		return "", err
	}
	if u, err := user.Lookup("libvirt-qemu"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if g, err := user.LookupGroup("kvm"); err == nil {
			gid, _ = strconv.Atoi(g.Gid)
		}
		os.Chown(dir, uid, gid)
	}
	p.staging = dir
	return dir, nil
}

// Memory writes a memory-only ELF core of the domain (the guest's RAM as
// PT_LOAD segments, readable by volatility and crash).
func (p *Provider) Memory(ctx context.Context, a *snapshot.Acquisition) error {
	// Memory and disks are taken from a stopped guest so that they agree.
	if err := p.pause(a); err != nil {
		return err
	}
	dir, err := p.stagingDir()
	if err != nil {
		return err
	}
	out := filepath.Join(dir, "memory.elf")
	// virsh dump --memory-only --format elf: format "raw" is ELF for a
	// memory-only dump.
	err = p.l.DomainCoreDumpWithFormat(p.dom, out, uint32(golibvirt.DomainCoreDumpFormatRaw), golibvirt.DumpMemoryOnly)
	a.Record("memory-only ELF core dump to "+out, "", err)
	if err != nil {
		return err
	}
	p.staged = append(p.staged, staged{path: out, name: "memory.elf", kind: "memory", origin: "domain " + p.info.Name + " RAM"})
	return nil
}

const (
	describeBackup   = "push-mode backup job of every disk to raw files in the staging folder (virDomainBackupBegin)"
	describeExternal = "external disk-only snapshot of every disk (atomic, no metadata) onto qcow2 overlays in the staging folder, so that the original disk files stop changing"
)

// Snapshot freezes every disk: a push-mode backup job where the daemon
// has them, an external disk-only snapshot where it refuses them or the
// operator asked for one.
func (p *Provider) Snapshot(ctx context.Context, a *snapshot.Acquisition) error {
	if p.cfg.Method == MethodExternalSnapshot {
		p.method = MethodExternalSnapshot
		return p.externalSnapshot(a)
	}
	p.method = MethodBackup
	err := p.backup(a)
	if p.cfg.Method == MethodAuto && backupRefused(err) {
		p.method = MethodExternalSnapshot
		return p.externalSnapshot(a)
	}
	return err
}

// backup starts a push-mode backup of every disk. The backup is a
// point-in-time copy taken by QEMU while the guest keeps its disk.
func (p *Provider) backup(a *snapshot.Acquisition) error {
	dir, err := p.stagingDir()
	if err != nil {
		return err
	}
	before := len(p.staged)
	var b strings.Builder
	b.WriteString("<domainbackup mode='push'><disks>")
	var names []string
	for _, d := range p.info.Disks {
		if !safeName(d.Target) {
			return fmt.Errorf("disk target %q is not a plain device name", d.Target)
		}
		out := filepath.Join(dir, "disk-"+d.Target+".raw")
		fmt.Fprintf(&b, "<disk name='%s' backup='yes' type='file'><target file='%s'/><driver type='raw'/></disk>", d.Target, xmlEscape(out))
		p.staged = append(p.staged, staged{path: out, name: "disk-" + d.Target + ".raw", kind: "disk", origin: d.Target + " " + d.Source})
		names = append(names, d.Target)
	}
	b.WriteString("</disks></domainbackup>")
	err = p.hv.DomainBackupBegin(p.dom, b.String(), nil, 0)
	detail := "push-mode backup job of " + strings.Join(names, ", ") + " to " + dir
	if p.cfg.Method == MethodAuto && backupRefused(err) {
		p.staged = p.staged[:before]
		a.Record(detail+": the daemon refuses it ("+err.Error()+"); falling back to an external disk-only snapshot", "", snapshot.ErrNotSupported)
		return err
	}
	a.Record(detail, "", err)
	return err
}

// Wait polls the backup job until libvirt reports it finished.
func (p *Provider) Wait(ctx context.Context, a *snapshot.Acquisition) error {
	if p.method == MethodExternalSnapshot {
		a.Record("external snapshot: taken at once, no job to wait for", "", nil)
		return nil
	}
	t := time.NewTicker(p.cfg.PollInterval)
	defer t.Stop()
	for {
		typ, _, _, _, processed, _, _, _, _, _, _, _, err := p.l.DomainGetJobInfo(p.dom)
		if err != nil {
			a.Record("read backup job state", "", err)
			return err
		}
		if golibvirt.DomainJobType(typ) == golibvirt.DomainJobNone {
			break
		}
		_ = processed
		select {
		case <-ctx.Done():
			err := p.l.DomainAbortJob(p.dom)
			a.Record("abort backup job on interrupt", "", err)
			return ctx.Err()
		case <-t.C:
		}
	}
	typ, params, err := p.l.DomainGetJobStats(p.dom, golibvirt.DomainJobStatsCompleted)
	if err != nil {
		a.Record("read completed job statistics", "", err)
		return err
	}
	var stats []string
	var opErr string
	for _, tp := range params {
		switch tp.Field {
		case "operation", "time_elapsed", "disk_total", "disk_processed", "data_total", "data_processed":
			stats = append(stats, fmt.Sprintf("%s=%v", tp.Field, tp.Value.I))
		case "errmsg":
			opErr = fmt.Sprint(tp.Value.I)
		}
	}
	switch golibvirt.DomainJobType(typ) {
	case golibvirt.DomainJobCompleted:
		a.Record("backup job completed: "+strings.Join(stats, " "), "", nil)
		return nil
	default:
		err := fmt.Errorf("backup job ended with type %d %s", typ, opErr)
		a.Record("backup job: "+strings.Join(stats, " "), "", err)
		return err
	}
}

// Download moves every staged file into the case folder, hashing it.
// After an external snapshot the staged files are the domain's own disk
// files, read in place and left there, and the overlays are merged back
// once they are copied.
func (p *Provider) Download(ctx context.Context, a *snapshot.Acquisition) error {
	for _, s := range p.staged {
		e, err := moveIn(ctx, a, s)
		verb := "copy"
		if s.keep {
			verb = "copy (read-only, in place)"
		}
		a.Record(fmt.Sprintf("%s %s into the case as %s (%d bytes)", verb, s.path, s.name, e.Size), "", err)
		if err != nil {
			return err
		}
		if !s.keep {
			os.Remove(s.path)
		}
	}
	if len(p.overlays) > 0 {
		return p.mergeBack(a)
	}
	return nil
}

func moveIn(ctx context.Context, a *snapshot.Acquisition, s staged) (snapshot.Evidence, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return snapshot.Evidence{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return snapshot.Evidence{}, err
	}
	w, err := snapshot.CreateEvidence(a.Dir, s.name)
	if err != nil {
		return snapshot.Evidence{}, err
	}
	defer w.Close()
	if w.Offset() > 0 {
		// A partial copy from an interrupted run came from another backup
		// job; appending this one's bytes would make an image of neither.
		w.Discard()
		if w, err = snapshot.CreateEvidence(a.Dir, s.name); err != nil {
			return snapshot.Evidence{}, err
		}
		defer w.Close()
		a.Record("discarded the partial "+s.name+" of an interrupted run: each run takes a new backup", "", nil)
	}
	if _, err := f.Seek(w.Offset(), 0); err != nil {
		return snapshot.Evidence{}, err
	}
	if a.Progress != nil {
		add, done := a.Progress(s.name, fi.Size())
		defer done()
		add(w.Offset())
		w.OnWrite(add)
	}
	if err := ctx.Err(); err != nil {
		a.AddEvidence(w.Partial())
		return w.Partial(), err
	}
	// A plain *os.File lets the writer skip the source's holes.
	if _, err := w.ReadFrom(f); err != nil {
		a.AddEvidence(w.Partial())
		return w.Partial(), err
	}
	e, err := w.Commit()
	if err != nil {
		return e, err
	}
	e.Kind, e.Origin = s.kind, s.origin
	a.AddEvidence(e)
	return e, nil
}

// Cleanup: libvirt leaves nothing behind in the platform (the staging
// folder goes in Release, always).
func (p *Provider) Cleanup(ctx context.Context, a *snapshot.Acquisition) error {
	return snapshot.ErrNotSupported
}

// Release removes the staging folder and resumes the domain when this run paused it and neither
// quarantine nor --keep-paused asks to keep it paused.
func (p *Provider) Release(a *snapshot.Acquisition) error {
	var merr error
	if len(p.overlays) > 0 && !p.mergeTried {
		// Download failed or was interrupted before the merge: the
		// originals are intact either way, so merge back now.
		merr = p.mergeBack(a)
	}
	if len(p.overlays) > 0 && p.staging != "" {
		a.Record("keep staging folder "+p.staging+": it holds the overlays the domain runs on", "", nil)
	} else if p.ownStg && p.staging != "" {
		err := os.RemoveAll(p.staging)
		a.Record("remove staging folder "+p.staging, "", err)
		p.staging = ""
	}
	if !p.paused || a.Options.Quarantine || a.Options.KeepPaused {
		return merr
	}
	err := p.l.DomainResume(p.dom)
	a.Record("resume domain", "", err)
	if err == nil {
		p.paused = false
	}
	return errors.Join(merr, err)
}

func safeName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;").Replace(s)
}

func parseUUID(s string) (golibvirt.UUID, error) {
	var u golibvirt.UUID
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return u, errors.New("not a UUID")
	}
	for i := range 16 {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return u, err
		}
		u[i] = byte(v)
	}
	return u, nil
}
