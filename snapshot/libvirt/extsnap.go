package libvirt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/coldcase-dfir/coldcase/snapshot"
)

// The classic way to copy a running domain's disks where the daemon has no
// backup jobs (libvirt < 6, or QEMU < 4.2 as on CentOS 7): an external
// disk-only snapshot moves the guest's writes to new overlay files, the
// original files, now stable, are read in place, and a block-commit with
// pivot folds the overlays back so the domain ends on its own files again.

// hypervisor is the part of the daemon's API whose failures change what
// state a domain is left in. *golibvirt.Libvirt implements it; tests wrap
// it to make one call fail on a real daemon.
type hypervisor interface {
	DomainBackupBegin(golibvirt.Domain, string, golibvirt.OptString, golibvirt.DomainBackupBeginFlags) error
	DomainSnapshotCreateXML(golibvirt.Domain, string, uint32) (golibvirt.DomainSnapshot, error)
	DomainBlockCommit(golibvirt.Domain, string, golibvirt.OptString, golibvirt.OptString, uint64, golibvirt.DomainBlockCommitFlags) error
	DomainGetBlockJobInfo(golibvirt.Domain, string, uint32) (found int32, typ int32, bandwidth uint64, cur uint64, end uint64, err error)
	DomainBlockJobAbort(golibvirt.Domain, string, golibvirt.DomainBlockJobAbortFlags) error
	DomainGetXMLDesc(golibvirt.Domain, golibvirt.DomainXMLFlags) (string, error)
}

// overlay is one disk the domain runs on an overlay of ours.
type overlay struct {
	target, overlay, orig string
}

// backupRefused reports whether backup-begin failed because this daemon or
// its QEMU cannot do backup jobs at all, as opposed to failing on this
// domain. A libvirt too old to know the procedure answers "unknown
// procedure", which go-libvirt turns into ErrUnsupported; newer ones name
// the missing capability with one of three codes.
func backupRefused(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, golibvirt.ErrUnsupported) {
		return true
	}
	var e golibvirt.Error
	if !errors.As(err, &e) {
		return false
	}
	switch golibvirt.ErrorNumber(e.Code) {
	case golibvirt.ErrNoSupport, golibvirt.ErrOperationUnsupported, golibvirt.ErrArgumentUnsupported:
		return true
	}
	return false
}

// externalSnapshot puts every disk of a running domain on a qcow2 overlay
// in the staging folder and stages the original files (and their backing
// files) to be read in place.
//
// The snapshot is taken even when the domain is paused (by quarantine or
// for the memory capture), although a paused guest does not write: libvirt
// has no lock, so anyone with access to the daemon can resume it while the
// files are read, and block jobs or other domains sharing a disk write
// without the guest. The overlay makes the original stable whatever else
// happens, and costs a few milliseconds and one commit of an empty
// overlay.
func (p *Provider) externalSnapshot(a *snapshot.Acquisition) error {
	p.fillChains(a)
	// Check every file before changing anything: a disk that cannot be
	// read in place must fail here, not with the domain on overlays.
	for _, d := range p.info.Disks {
		if !safeName(d.Target) {
			return fmt.Errorf("disk target %q is not a plain device name", d.Target)
		}
		if err := checkLocal(d.Target, d.Type, d.Source); err != nil {
			a.Record("check disk "+d.Target+" can be read in place", "", err)
			return err
		}
		for i, b := range d.Backing {
			if err := checkLocal(fmt.Sprintf("%s backing file %d", d.Target, i+1), b.Type, b.Source); err != nil {
				a.Record("check disk "+d.Target+" can be read in place", "", err)
				return err
			}
		}
	}
	active, err := p.l.DomainIsActive(p.dom)
	if err != nil {
		a.Record("read whether the domain runs", "", err)
		return err
	}
	if active == 0 {
		// No QEMU holds the files and libvirt cannot snapshot or commit
		// a stopped domain live; the files are read as they are.
		a.Record("domain is shut off: its disk files are read as they are, without a snapshot (starting the domain during the copy would change them; libvirt has no lock)", "", nil)
		p.stageOriginals(a)
		return nil
	}
	dir, err := p.stagingDir()
	if err != nil {
		return err
	}
	stamp := time.Now().UTC().Format("20060102T150405Z")
	var b strings.Builder
	fmt.Fprintf(&b, "<domainsnapshot><name>coldcase-%s</name><description>coldcase acquisition: disks frozen while they are copied</description><disks>", stamp)
	var ovs []overlay
	var names []string
	for _, d := range p.info.Disks {
		ov := filepath.Join(dir, "overlay-"+d.Target+"-"+stamp+".qcow2")
		fmt.Fprintf(&b, "<disk name='%s' snapshot='external' type='file'><driver type='qcow2'/><source file='%s'/></disk>", d.Target, xmlEscape(ov))
		ovs = append(ovs, overlay{target: d.Target, overlay: ov, orig: d.Source})
		names = append(names, d.Target+" → "+ov)
	}
	for _, t := range p.info.OtherDisks {
		if safeName(t) {
			fmt.Fprintf(&b, "<disk name='%s' snapshot='no'/>", t)
		}
	}
	b.WriteString("</disks></domainsnapshot>")
	flags := golibvirt.DomainSnapshotCreateDiskOnly | golibvirt.DomainSnapshotCreateAtomic | golibvirt.DomainSnapshotCreateNoMetadata
	_, err = p.hv.DomainSnapshotCreateXML(p.dom, b.String(), uint32(flags))
	a.Record("external disk-only snapshot (atomic, no metadata): "+strings.Join(names, ", ")+"; the guest now writes to the overlays, the original files stay as they were", "", err)
	if err != nil {
		// Atomic: on failure the daemon has left every disk as it was.
		return err
	}
	p.overlays = ovs
	// Trust what the daemon now says, not the call: read each disk's
	// source back.
	err = p.checkSources(ovs, func(o overlay) string { return o.overlay })
	a.Record("check every disk now runs on its overlay", "", err)
	if err != nil {
		return err
	}
	p.stageOriginals(a)
	return nil
}

// checkLocal refuses disks whose data is not a file or device on this
// host: they cannot be read in place.
func checkLocal(what, typ, src string) error {
	switch typ {
	case "", "file", "block":
	default:
		return fmt.Errorf("%s is a %q disk (%s): only file and block disks can be read in place; use --method backup", what, typ, src)
	}
	if !filepath.IsAbs(src) {
		return fmt.Errorf("%s: source %q is not an absolute path", what, src)
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return f.Close()
}

// fillChains reads the backing chain of each qcow2 disk the daemon does
// not describe from the qcow2 headers. A chain that cannot be read is
// recorded, and the disk copied without it: the top file is evidence too.
func (p *Provider) fillChains(a *snapshot.Acquisition) {
	for i, d := range p.info.Disks {
		if d.BackingKnown || d.Format != "qcow2" || (d.Type != "" && d.Type != "file" && d.Type != "block") {
			continue
		}
		chain, err := qcow2Chain(d.Source)
		var names []string
		for _, b := range chain {
			names = append(names, b.Source+" ("+b.Format+")")
		}
		if len(names) == 0 {
			names = append(names, "none")
		}
		a.Record(fmt.Sprintf("disk %s: the daemon does not describe its backing chain; read from the qcow2 headers: %s", d.Target, strings.Join(names, " → ")), "", err)
		p.info.Disks[i].Backing = chain
		p.info.Disks[i].BackingKnown = err == nil
	}
}

// stageOriginals queues each disk file and its backing chain for reading
// in place. A qcow2 (or other layered) copy is useless without the files
// under it, and a shared base image may change or vanish later, so the
// whole chain is copied, each file once. Backing files keep their own
// base names where they can: coldcase's image reader then finds them
// beside the copy that names them, whatever folder that names.
func (p *Provider) stageOriginals(a *snapshot.Acquisition) {
	seen := map[string]string{} // source path → evidence name
	used := map[string]bool{"memory.elf": true}
	for _, d := range p.info.Disks {
		used["disk-"+d.Target+ext(d.Format)] = true
	}
	for _, d := range p.info.Disks {
		name := "disk-" + d.Target + ext(d.Format)
		p.staged = append(p.staged, staged{path: d.Source, name: name, kind: "disk", keep: true,
			origin: fmt.Sprintf("%s %s (%s, the domain's own file, read while frozen)", d.Target, d.Source, orUnknown(d.Format))})
		seen[d.Source] = name
		chain := []string{name}
		renamed := false
		for i, bf := range d.Backing {
			bname, ok := seen[bf.Source]
			if !ok {
				bname = filepath.Base(bf.Source)
				if !safeFileName(bname) || used[bname] {
					bname = fmt.Sprintf("disk-%s.backing%d%s", d.Target, i+1, ext(bf.Format))
					for used[bname] {
						bname = "x" + bname
					}
					renamed = true
				}
				used[bname] = true
				seen[bf.Source] = bname
				p.staged = append(p.staged, staged{path: bf.Source, name: bname, kind: "disk", keep: true,
					origin: fmt.Sprintf("%s backing file %d: %s (%s)", d.Target, i+1, bf.Source, orUnknown(bf.Format))})
			} else if bname != filepath.Base(bf.Source) {
				renamed = true
			}
			chain = append(chain, bname)
		}
		switch {
		case len(d.Backing) > 0:
			// The copies still name the original paths in their headers.
			var fix []string
			for i := 0; i+1 < len(chain); i++ {
				fix = append(fix, fmt.Sprintf("qemu-img rebase -u -F %s -b %s %s", orUnknown(d.Backing[i].Format), chain[i+1], chain[i]))
			}
			reads := "coldcase reads the chain from the case folder as it is (backing files keep their base names)"
			if renamed {
				reads = "some backing files were renamed, so coldcase too needs the rebased working copies"
			}
			a.Record(fmt.Sprintf("disk %s is a chain of %d files, copied as %s; %s; QEMU tools follow the original backing paths written in the copies, so for them run on working copies: %s",
				d.Target, len(chain), strings.Join(chain, " → "), reads, strings.Join(fix, "; ")), "", nil)
		case !d.BackingKnown && d.Format != "raw":
			a.Record(fmt.Sprintf("disk %s: its backing chain is unknown; check it with qemu-img info --backing-chain on the copy", d.Target), "", nil)
		}
	}
}

// safeFileName accepts a plain file name for the case folder.
func safeFileName(s string) bool {
	if s == "" || len(s) > 200 || s[0] == '.' || strings.HasPrefix(s, snapshot.ManifestName) || strings.HasSuffix(s, snapshot.PartialSuffix) {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-+", c)) {
			return false
		}
	}
	return true
}

func ext(format string) string {
	switch {
	case format == "":
		return ".img"
	case safeName(format):
		return "." + format
	}
	return ".img"
}

func orUnknown(s string) string {
	if s == "" {
		return "format unknown"
	}
	return s
}

// checkSources reads the domain's XML back and checks each disk of ovs
// has the source want gives.
func (p *Provider) checkSources(ovs []overlay, want func(overlay) string) error {
	x, err := p.hv.DomainGetXMLDesc(p.dom, 0)
	if err != nil {
		return err
	}
	info, err := ParseDomainXML([]byte(x))
	if err != nil {
		return err
	}
	src := map[string]string{}
	for _, d := range info.Disks {
		src[d.Target] = d.Source
	}
	for _, o := range ovs {
		if src[o.target] != want(o) {
			return fmt.Errorf("disk %s has source %q, want %q", o.target, src[o.target], want(o))
		}
	}
	return nil
}

// mergeBack folds each overlay into its original file and pivots the disk
// back to it. A disk whose merge fails is left running on its overlay —
// the guest's writes since the snapshot exist only there — and the
// manifest says so, with the command that finishes the job by hand.
func (p *Provider) mergeBack(a *snapshot.Acquisition) error {
	p.mergeTried = true
	var left []overlay
	var errs []error
	for _, o := range p.overlays {
		jobLeft, err := p.commitOne(a, o)
		if err == nil {
			continue
		}
		left = append(left, o)
		errs = append(errs, fmt.Errorf("disk %s left on overlay %s (see the manifest to finish by hand): %w", o.target, o.overlay, err))
		finish := manualCommit(p.cfg.URI, p.info.Name, o.target)
		if jobLeft {
			finish = fmt.Sprintf("%s (a block-commit job may still run on %s: if `%s` lists none, run %s instead)",
				manualPivot(p.cfg.URI, p.info.Name, o.target), o.target, manualJobInfo(p.cfg.URI, p.info.Name, o.target), finish)
		}
		a.Record(fmt.Sprintf("disk %s LEFT ON OVERLAY %s (its backing file is the original %s; the guest's writes since the snapshot are only in the overlay: do not delete it or the staging folder). To finish by hand: %s; then check `virsh -c %s domblklist %s` shows %s and remove %s",
			o.target, o.overlay, o.orig, finish, shellQuote(p.cfg.URI), shellQuote(p.info.Name), o.orig, o.overlay), "", err)
	}
	p.overlays = left
	return errors.Join(errs...)
}

// manualCommit is the virsh command that does what commitOne does.
func manualCommit(uri, domain, target string) string {
	return fmt.Sprintf("virsh -c %s blockcommit %s %s --active --shallow --wait --pivot --verbose", shellQuote(uri), shellQuote(domain), target)
}

func manualPivot(uri, domain, target string) string {
	return fmt.Sprintf("virsh -c %s blockjob %s %s --pivot", shellQuote(uri), shellQuote(domain), target)
}

func manualJobInfo(uri, domain, target string) string {
	return fmt.Sprintf("virsh -c %s blockjob %s %s --info", shellQuote(uri), shellQuote(domain), target)
}

// commitOne merges one overlay back. jobLeft says a commit job may still
// exist when it fails (the manual fix is then a pivot, not a new commit).
func (p *Provider) commitOne(a *snapshot.Acquisition, o overlay) (jobLeft bool, err error) {
	flags := golibvirt.DomainBlockCommitActive | golibvirt.DomainBlockCommitShallow
	err = p.hv.DomainBlockCommit(p.dom, o.target, nil, nil, 0, flags)
	a.Record(fmt.Sprintf("block-commit %s: overlay %s into %s (active, shallow)", o.target, o.overlay, o.orig), "", err)
	if err != nil {
		return false, err
	}
	// An active commit never ends by itself: it becomes ready (cur ==
	// end, which libvirt reports only once QEMU says ready) and mirrors
	// new writes until the pivot. A daemon that reports cur == end too
	// early refuses the pivot with "not ready for pivot yet": retried.
	deadline := time.Now().Add(p.cfg.CommitTimeout)
	for {
		found, _, _, cur, end, err := p.hv.DomainGetBlockJobInfo(p.dom, o.target, 0)
		if err != nil {
			a.Record("read block-commit state of "+o.target, "", err)
			return true, err
		}
		if found == 0 {
			err := errors.New("the block-commit job ended before it was ready")
			a.Record("read block-commit state of "+o.target, "", err)
			return false, err
		}
		if cur == end {
			err = p.hv.DomainBlockJobAbort(p.dom, o.target, golibvirt.DomainBlockJobAbortPivot)
			var lerr golibvirt.Error
			if !errors.As(err, &lerr) || golibvirt.ErrorNumber(lerr.Code) != golibvirt.ErrBlockCopyActive {
				a.Record(fmt.Sprintf("block-commit %s ready (%d of %d bytes): pivot back to %s", o.target, cur, end, o.orig), "", err)
				if err != nil {
					return true, err
				}
				break
			}
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("block-commit not ready for its pivot after %v (%d of %d bytes)", p.cfg.CommitTimeout, cur, end)
			// Cancelled before the pivot, the disk stays on its overlay,
			// which still holds every write.
			aerr := p.hv.DomainBlockJobAbort(p.dom, o.target, 0)
			a.Record("cancel block-commit of "+o.target+" (no pivot: the disk stays on its overlay)", "", aerr)
			return aerr != nil, err
		}
		time.Sleep(p.cfg.PollInterval)
	}
	err = p.checkSources([]overlay{o}, func(o overlay) string { return o.orig })
	a.Record("check disk "+o.target+" runs on "+o.orig+" again", "", err)
	if err != nil {
		return false, err
	}
	err = os.Remove(o.overlay)
	a.Record("remove overlay "+o.overlay, "", err)
	return false, nil // the overlay is out of use: a leftover file is no danger
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:=@+", c))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
