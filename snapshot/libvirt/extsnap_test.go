package libvirt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/coldcase-dfir/coldcase/image"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
	"github.com/coldcase-dfir/coldcase/snapshot"
)

// chainDomain runs a transient TCG domain on top.qcow2, a qcow2 over
// base.qcow2, both written with qemu-io before the start, and returns the
// disk's content as it was (qemu-img convert -O raw of the chain).
func chainDomain(t *testing.T, uri, suffix string) (l *golibvirt.Libvirt, dom golibvirt.Domain, name, work, top, base string, want []byte) {
	t.Helper()
	testenv.NeedTool(t, "qemu-img", "qemu-io", "virsh")
	work = qemuDir(t)
	base = filepath.Join(work, "base.qcow2")
	top = filepath.Join(work, "top.qcow2")
	testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "16M")
	testenv.Run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 8M 256k", base)
	testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, top)
	testenv.Run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x33 512k 64k", "-c", "write -P 0x44 12M 64k", top)
	chownQemu(base)
	chownQemu(top)
	raw := filepath.Join(t.TempDir(), "want.raw")
	testenv.Run(t, "qemu-img", "convert", "-O", "raw", top, raw)
	want, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(uri)
	l, err = golibvirt.ConnectToURI(u)
	if err != nil {
		t.Fatalf("connect %s: %v", uri, err)
	}
	t.Cleanup(func() { l.Disconnect() })
	name = fmt.Sprintf("coldcase-test-%d-%s", os.Getpid(), suffix)
	dom, err = l.DomainCreateXML(fmt.Sprintf(domainXML, name, top), 0)
	if err != nil {
		t.Fatalf("create transient domain: %v", err)
	}
	t.Cleanup(func() { l.DomainDestroy(dom) })
	return l, dom, name, work, top, base, want
}

func diskSource(t *testing.T, l *golibvirt.Libvirt, dom golibvirt.Domain, target string) string {
	t.Helper()
	x, err := l.DomainGetXMLDesc(dom, 0)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ParseDomainXML([]byte(x))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range info.Disks {
		if d.Target == target {
			return d.Source
		}
	}
	t.Fatalf("no disk %s in the domain XML", target)
	return ""
}

func wantRunning(t *testing.T, l *golibvirt.Libvirt, dom golibvirt.Domain) {
	t.Helper()
	state, _, err := l.DomainGetState(dom, 0)
	if err != nil || golibvirt.DomainState(state) != golibvirt.DomainRunning {
		t.Errorf("domain state %d (%v), want running", state, err)
	}
}

// checkChainEvidence rebuilds the disk from the two evidence files (on
// working copies, rebased onto each other as the manifest says) and
// compares its bytes, through qemu-img convert, with the disk as it was.
func checkChainEvidence(t *testing.T, caseDir string, want []byte) {
	t.Helper()
	tmp := t.TempDir()
	for _, n := range []string{"disk-vda.qcow2", "base.qcow2"} {
		data, err := os.ReadFile(filepath.Join(caseDir, n))
		if err != nil {
			t.Fatalf("evidence: %v", err)
		}
		if err := os.WriteFile(filepath.Join(tmp, n), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Run(t, "sh", "-c", "cd "+tmp+" && qemu-img rebase -u -F qcow2 -b base.qcow2 disk-vda.qcow2 && qemu-img convert -O raw disk-vda.qcow2 got.raw")
	got, err := os.ReadFile(filepath.Join(tmp, "got.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("evidence chain converts to %d bytes that differ from the disk as it was (%d bytes)", len(got), len(want))
	}
}

func actionWith(m snapshot.Manifest, sub string) *snapshot.Action {
	for i := range m.Actions {
		if strings.Contains(m.Actions[i].Detail, sub) {
			return &m.Actions[i]
		}
	}
	return nil
}

// TestExternalSnapshotRealDomain forces the external-snapshot method on a
// running domain whose disk is a two-file qcow2 chain of known content.
func TestExternalSnapshotRealDomain(t *testing.T) {
	uri := needLibvirtd(t)
	l, dom, name, work, top, base, want := chainDomain(t, uri, "extsnap")
	staging := filepath.Join(work, "staging")
	caseDir := t.TempDir()
	p := New(Config{URI: uri, Domain: name, StagingDir: staging, Method: MethodExternalSnapshot})
	// The guest writes while its disk is copied (through QEMU, as the
	// guest would): the copy must not see it, the merge must keep it.
	p.hv = writeAfterSnapshot{l, func() {
		out := testenv.Run(t, "virsh", "-c", uri, "qemu-monitor-command", name, "--hmp", `qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P 0x99 2M 64k"`)
		if strings.Contains(strings.ToLower(string(out)), "error") {
			t.Fatalf("guest write through HMP qemu-io: %s", out)
		}
	}}
	defer p.Close()
	a, err := snapshot.NewAcquisition(caseDir, "extsnap", "test", snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Acquire(context.Background(), p, a); err != nil {
		t.Fatalf("acquire: %v\nactions: %+v", err, a.Manifest().Actions)
	}
	checkChainEvidence(t, caseDir, want)
	// coldcase's own reader takes the chain from the case folder as is.
	im, err := image.Open(filepath.Join(caseDir, "disk-vda.qcow2"))
	if err != nil {
		t.Fatalf("image.Open of the evidence: %v", err)
	}
	got := make([]byte, im.Size())
	_, err = im.ReadAt(got, 0)
	im.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("image.Open of the evidence chain reads another disk (%v)", err)
	}
	// Back on its own file, which is still there, and still running.
	if src := diskSource(t, l, dom, "vda"); src != top {
		t.Errorf("vda source %q after acquisition, want the original %q", src, top)
	}
	wantRunning(t, l, dom)
	for _, f := range []string{top, base} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("original disk file: %v", err)
		}
	}
	// The write made during the copy is in the original file now.
	nowRaw := filepath.Join(t.TempDir(), "now.raw")
	testenv.Run(t, "qemu-img", "convert", "-U", "-O", "raw", top, nowRaw)
	now, err := os.ReadFile(nowRaw)
	if err != nil {
		t.Fatal(err)
	}
	written := bytes.Clone(want)
	copy(written[2<<20:2<<20+64<<10], bytes.Repeat([]byte{0x99}, 64<<10))
	if !bytes.Equal(now, written) {
		for i := range now {
			if now[i] != written[i] {
				t.Logf("first difference at %#x: %#x want %#x", i, now[i], written[i])
				break
			}
		}
		t.Error("after the merge the original disk does not hold the disk as it was plus the guest's write made during the copy")
	}
	if left, _ := filepath.Glob(filepath.Join(staging, "overlay-*")); len(left) > 0 {
		t.Errorf("overlays left in staging: %v", left)
	}
	if r, err := snapshot.Verify(caseDir, nil); err != nil {
		t.Fatalf("verify: %v %+v", err, r)
	}
	m := a.Manifest()
	if m.Status != snapshot.StatusComplete || len(m.Evidence) != 2 {
		t.Errorf("manifest status %q, %d evidence files, want complete and 2", m.Status, len(m.Evidence))
	}
	for _, sub := range []string{"external disk-only snapshot", "block-commit vda: overlay", ": pivot back to " + top, "qemu-img rebase -u -F qcow2 -b base.qcow2 disk-vda.qcow2", "coldcase reads the chain from the case folder as it is"} {
		if act := actionWith(m, sub); act == nil || act.Result != snapshot.ResultOK {
			t.Errorf("no ok action %q in the manifest: %+v", sub, act)
		}
	}
}

// writeAfterSnapshot runs write right after the real snapshot.
type writeAfterSnapshot struct {
	hypervisor
	write func()
}

func (w writeAfterSnapshot) DomainSnapshotCreateXML(d golibvirt.Domain, x string, fl uint32) (golibvirt.DomainSnapshot, error) {
	s, err := w.hypervisor.DomainSnapshotCreateXML(d, x, fl)
	if err == nil {
		w.write()
	}
	return s, err
}

// refuseBackup answers backup-begin as a daemon without backup jobs does
// (libvirt 6.x on a QEMU without the incremental-backup capability).
type refuseBackup struct{ hypervisor }

func (refuseBackup) DomainBackupBegin(golibvirt.Domain, string, golibvirt.OptString, golibvirt.DomainBackupBeginFlags) error {
	return golibvirt.Error{Code: uint32(golibvirt.ErrOperationUnsupported), Message: "Operation not supported: incremental backup is not supported yet"}
}

// The daemon here (libvirt 9, QEMU 7) does backup jobs, so the refusal is
// injected at backup-begin; everything else runs on the real daemon.
func TestAutoFallsBackWhenBackupRefused(t *testing.T) {
	uri := needLibvirtd(t)
	l, dom, name, work, top, _, want := chainDomain(t, uri, "auto")
	caseDir := t.TempDir()
	p := New(Config{URI: uri, Domain: name, StagingDir: filepath.Join(work, "staging")})
	p.hv = refuseBackup{l}
	defer p.Close()
	a, err := snapshot.NewAcquisition(caseDir, "auto", "test", snapshot.Options{Quarantine: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Acquire(context.Background(), p, a); err != nil {
		t.Fatalf("acquire: %v\nactions: %+v", err, a.Manifest().Actions)
	}
	checkChainEvidence(t, caseDir, want)
	if src := diskSource(t, l, dom, "vda"); src != top {
		t.Errorf("vda source %q after acquisition, want the original %q", src, top)
	}
	m := a.Manifest()
	if act := actionWith(m, "push-mode backup job"); act == nil || act.Result != snapshot.ResultNotSupported || !strings.Contains(act.Detail, "incremental backup is not supported") {
		t.Errorf("backup refusal recorded as %+v", act)
	}
	if act := actionWith(m, "external disk-only snapshot (atomic"); act == nil || act.Result != snapshot.ResultOK {
		t.Errorf("fallback snapshot recorded as %+v", act)
	}
	// Quarantine keeps it paused; the merge happened while paused.
	state, _, _ := l.DomainGetState(dom, 0)
	if golibvirt.DomainState(state) != golibvirt.DomainPaused {
		t.Errorf("domain state %d after a quarantined acquisition, want paused", state)
	}
}

func TestBackupRefused(t *testing.T) {
	lvErr := func(n golibvirt.ErrorNumber, msg string) error {
		return golibvirt.Error{Code: uint32(n), Message: msg}
	}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		// libvirt < 6 has no such procedure: go-libvirt's own error.
		{golibvirt.ErrUnsupported, true},
		{fmt.Errorf("backup: %w", golibvirt.ErrUnsupported), true},
		{lvErr(golibvirt.ErrNoSupport, "this function is not supported by the connection driver: virDomainBackupBegin"), true},
		{lvErr(golibvirt.ErrOperationUnsupported, "Operation not supported: incremental backup is not supported yet"), true},
		{lvErr(golibvirt.ErrArgumentUnsupported, "unsupported flags (0x1) in function qemuDomainBackupBegin"), true},
		{fmt.Errorf("wrapped: %w", lvErr(golibvirt.ErrOperationUnsupported, "x")), true},
		// Failures of this domain or this job are not a missing feature.
		{lvErr(golibvirt.ErrOperationInvalid, "Requested operation is not valid: domain is not running"), false},
		{lvErr(golibvirt.ErrOperationFailed, "operation failed: another job is running"), false},
		{lvErr(golibvirt.ErrConfigUnsupported, "unsupported configuration: backup of disk vda is not supported"), false},
		{errors.New("unsupported"), false},
	} {
		if got := backupRefused(c.err); got != c.want {
			t.Errorf("backupRefused(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// failCommit makes block-commit fail as a daemon does when QEMU refuses
// the job.
type failCommit struct{ hypervisor }

func (failCommit) DomainBlockCommit(golibvirt.Domain, string, golibvirt.OptString, golibvirt.OptString, uint64, golibvirt.DomainBlockCommitFlags) error {
	return golibvirt.Error{Code: uint32(golibvirt.ErrOperationFailed), Message: "operation failed: injected block-commit failure"}
}

// failPivot lets the commit job run to ready on the daemon and then fails
// the pivot, which leaves the job running.
type failPivot struct{ hypervisor }

func (f failPivot) DomainBlockJobAbort(d golibvirt.Domain, disk string, fl golibvirt.DomainBlockJobAbortFlags) error {
	if fl&golibvirt.DomainBlockJobAbortPivot != 0 {
		return golibvirt.Error{Code: uint32(golibvirt.ErrOperationFailed), Message: "operation failed: injected pivot failure"}
	}
	return f.hypervisor.DomainBlockJobAbort(d, disk, fl)
}

// A failed merge leaves the domain on its overlay, and the manifest says
// so with the command that finishes the job — which the test then runs.
func TestMergeFailureLeavesOverlay(t *testing.T) {
	uri := needLibvirtd(t)
	for _, c := range []struct {
		name   string
		wrap   func(hypervisor) hypervisor
		manual func(uri, domain, target string) string
	}{
		{"commit", func(h hypervisor) hypervisor { return failCommit{h} }, manualCommit},
		{"pivot", func(h hypervisor) hypervisor { return failPivot{h} }, manualPivot},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, dom, name, work, top, _, want := chainDomain(t, uri, "fail"+c.name)
			staging := filepath.Join(work, "staging")
			caseDir := t.TempDir()
			p := New(Config{URI: uri, Domain: name, StagingDir: staging, Method: MethodExternalSnapshot})
			p.hv = c.wrap(l)
			defer p.Close()
			a, err := snapshot.NewAcquisition(caseDir, "fail"+c.name, "test", snapshot.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := snapshot.Acquire(context.Background(), p, a); err == nil {
				t.Fatalf("acquire succeeded with a failing %s", c.name)
			}
			src := diskSource(t, l, dom, "vda")
			if filepath.Dir(src) != staging || !strings.HasPrefix(filepath.Base(src), "overlay-vda-") {
				t.Fatalf("vda source %q, want an overlay in %s", src, staging)
			}
			if _, err := os.Stat(src); err != nil {
				t.Fatalf("overlay the domain runs on: %v", err)
			}
			wantRunning(t, l, dom)
			m := a.Manifest()
			cmd := c.manual(uri, name, "vda")
			act := actionWith(m, "LEFT ON OVERLAY "+src)
			if act == nil || act.Result != snapshot.ResultError || !strings.Contains(act.Detail, cmd) || !strings.Contains(act.Detail, top) {
				t.Fatalf("manifest does not say vda is left on %s with %q: %+v", src, cmd, act)
			}
			if m.Status != snapshot.StatusFailed {
				t.Errorf("manifest status %q, want failed", m.Status)
			}
			// The evidence itself was copied before the merge and is
			// sound: every file verifies, though the case is failed (the
			// operator must finish the merge).
			checkChainEvidence(t, caseDir, want)
			r, err := snapshot.Verify(caseDir, nil)
			if r == nil || len(r.Files) != 2 {
				t.Fatalf("verify: %v %+v", err, r)
			}
			for _, f := range r.Files {
				if !f.OK {
					t.Errorf("verify: %+v", f)
				}
			}
			// The recorded command finishes the job.
			args := strings.Fields(cmd)
			testenv.Run(t, args[0], args[1:]...)
			if src := diskSource(t, l, dom, "vda"); src != top {
				t.Errorf("vda source %q after %s, want %q", src, cmd, top)
			}
			wantRunning(t, l, dom)
		})
	}
}

// A shut-off domain has no QEMU to snapshot or commit: its files are read
// as they are, and its configuration is not changed.
func TestExternalSnapshotShutOffDomain(t *testing.T) {
	uri := needLibvirtd(t)
	testenv.NeedTool(t, "qemu-img", "qemu-io")
	work := qemuDir(t)
	base := filepath.Join(work, "base.qcow2")
	top := filepath.Join(work, "top.qcow2")
	testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "16M")
	testenv.Run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x55 3M 128k", base)
	testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, top)
	testenv.Run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x66 3M 4k", top)
	raw := filepath.Join(t.TempDir(), "want.raw")
	testenv.Run(t, "qemu-img", "convert", "-O", "raw", top, raw)
	want, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(uri)
	l, err := golibvirt.ConnectToURI(u)
	if err != nil {
		t.Fatalf("connect %s: %v", uri, err)
	}
	defer l.Disconnect()
	name := fmt.Sprintf("coldcase-test-%d-shutoff", os.Getpid())
	dom, err := l.DomainDefineXML(fmt.Sprintf(domainXML, name, top))
	if err != nil {
		t.Fatalf("define domain: %v", err)
	}
	defer l.DomainUndefine(dom)
	caseDir := t.TempDir()
	p := New(Config{URI: uri, Domain: name, StagingDir: filepath.Join(work, "staging"), Method: MethodExternalSnapshot})
	defer p.Close()
	a, err := snapshot.NewAcquisition(caseDir, "shutoff", "test", snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Acquire(context.Background(), p, a); err != nil {
		t.Fatalf("acquire: %v\nactions: %+v", err, a.Manifest().Actions)
	}
	m := a.Manifest()
	if act := actionWith(m, "domain is shut off"); act == nil || act.Result != snapshot.ResultOK {
		t.Errorf("shut-off domain recorded as %+v", act)
	}
	if act := actionWith(m, "external disk-only snapshot (atomic"); act != nil {
		t.Errorf("snapshot of a shut-off domain: %+v", act)
	}
	if src := diskSource(t, l, dom, "vda"); src != top {
		t.Errorf("vda source %q, want %q", src, top)
	}
	// An inactive domain's XML describes no backing chain: it is read
	// from the qcow2 headers.
	if act := actionWith(m, "read from the qcow2 headers: "+base+" (qcow2)"); act == nil || act.Result != snapshot.ResultOK {
		t.Errorf("backing chain from the headers recorded as %+v", act)
	}
	checkChainEvidence(t, caseDir, want)
	if r, err := snapshot.Verify(caseDir, nil); err != nil {
		t.Fatalf("verify: %v %+v", err, r)
	}
}
