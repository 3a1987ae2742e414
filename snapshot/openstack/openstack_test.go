package openstack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/coldcase-dfir/coldcase/snapshot"
)

const fakeSecret = "coldcase-TEST-appcred-secret-Qx93"

func diskData() []byte {
	d := make([]byte, 2<<20+777)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range d[:1<<20] {
		d[i] = byte(r.Uint32())
	}
	return d
}

type fakeRun struct {
	dir    string
	a      *snapshot.Acquisition
	logs   []string
	err    error
	client *gophercloud.ProviderClient
}

func runFake(t *testing.T, f *fakeCloud, o snapshot.Options) fakeRun {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	ctx := context.Background()
	pc, err := gopenstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{IdentityEndpoint: srv.URL + "/v3",
		ApplicationCredentialID: "ac-id", ApplicationCredentialSecret: fakeSecret, AllowReauth: true})
	if err != nil {
		t.Fatalf("authenticate with the fake Keystone: %v", err)
	}
	c, err := NewClients(pc, gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{Server: fakeServer, CaseID: "case-os", PollInterval: time.Millisecond}, c)
	dir := t.TempDir()
	a, err := snapshot.NewAcquisition(dir, "case-os", "test", o)
	if err != nil {
		t.Fatal(err)
	}
	run := fakeRun{dir: dir, a: a, client: pc}
	a.Log = func(act snapshot.Action) { run.logs = append(run.logs, string(act.Step)+": "+act.Detail+" "+act.Error) }
	run.err = snapshot.Acquire(ctx, p, a)
	return run
}

func TestFakeCloudImageBackedTokenExpiresMidDownload(t *testing.T) {
	f := newFakeCloud(t)
	f.image = diskData()
	f.expireOnce = true
	run := runFake(t, f, snapshot.Options{Quarantine: true, Cleanup: true})
	if run.err != nil {
		t.Fatalf("acquire: %v\n%s", run.err, strings.Join(run.logs, "\n"))
	}
	got, err := os.ReadFile(filepath.Join(run.dir, "server-"+fakeServer+".img"))
	if err != nil || !bytes.Equal(got, f.image) {
		t.Fatalf("downloaded image differs from the served disk (%v)", err)
	}
	if f.tokenCount != 2 || f.fileGets != 2 {
		t.Errorf("%d tokens issued, %d file requests: want a re-authentication and one resumed request", f.tokenCount, f.fileGets)
	}
	for port, groups := range f.ports {
		if !slices.Equal(groups, []string{"sg-quarantine"}) {
			t.Errorf("port %s security groups %v after quarantine", port, groups)
		}
	}
	for _, want := range []string{"/network/v2.0/security-group-rules/rule-egress-v4", "/network/v2.0/security-group-rules/rule-egress-v6", "/image/v2/images/img-from-server"} {
		if !slices.Contains(f.deleted, want) {
			t.Errorf("%s not deleted (deleted: %v)", want, f.deleted)
		}
	}
	if f.status != "PAUSED" || !strings.Contains(f.lockReason, "case-os") {
		t.Errorf("server status %s, lock reason %q", f.status, f.lockReason)
	}
	m := run.a.Manifest()
	if len(m.Evidence) != 1 || len(m.Evidence[0].Provider) != 2 || !m.Evidence[0].Provider[0].Verified || !m.Evidence[0].Provider[1].Verified {
		t.Fatalf("evidence %+v", m.Evidence)
	}
	sum := sha256.Sum256(f.image)
	if m.Evidence[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Error("manifest sha256 is not the image's")
	}
	if !strings.HasPrefix(m.Operator.CloudIdentity, "responder") || !strings.HasPrefix(m.Operator.CloudProject, "forensics") {
		t.Errorf("operator %+v", m.Operator)
	}
	if r, err := snapshot.Verify(run.dir, nil); err != nil {
		t.Fatalf("verify: %v %+v", err, r)
	}
	// Neither the secret nor a token reaches the manifest or the logs.
	mb, _ := os.ReadFile(filepath.Join(run.dir, snapshot.ManifestName))
	all := string(mb) + strings.Join(run.logs, "\n")
	for _, s := range []string{fakeSecret, "gAAAAA-fake-token"} {
		if strings.Contains(all, s) {
			t.Errorf("%q found in the manifest or logs", s)
		}
	}
}

func TestFakeCloudPauseConflictVolumeBacked(t *testing.T) {
	f := newFakeCloud(t)
	f.image = diskData()
	f.status = "SHUTOFF"
	f.volumeBoot = true
	run := runFake(t, f, snapshot.Options{Quarantine: true, Cleanup: true})
	if run.err != nil {
		t.Fatalf("acquire of a stopped server: %v\n%s", run.err, strings.Join(run.logs, "\n"))
	}
	var conflict bool
	for _, act := range run.a.Manifest().Actions {
		if strings.HasPrefix(act.Detail, "pause") && act.Result == snapshot.ResultError && strings.Contains(act.Error, "409") {
			conflict = true
		}
	}
	if !conflict {
		t.Errorf("the 409 on pause is not recorded:\n%s", strings.Join(run.logs, "\n"))
	}
	if !slices.Contains(f.actions, "lock") {
		t.Error("server not locked after the pause conflict")
	}
	got, err := os.ReadFile(filepath.Join(run.dir, "volume-vol-root.raw"))
	if err != nil || !bytes.Equal(got, f.image) {
		t.Fatalf("volume image differs (%v)", err)
	}
	for _, want := range []string{"/volume/v3/" + fakeProject + "/volumes/vol-copy", "/volume/v3/" + fakeProject + "/snapshots/snap-1", "/image/v2/images/img-from-volume"} {
		if !slices.Contains(f.deleted, want) {
			t.Errorf("%s not cleaned up (deleted: %v)", want, f.deleted)
		}
	}
	// The temporary volume goes before the snapshot it was made from.
	if slices.Index(f.deleted, "/volume/v3/"+fakeProject+"/volumes/vol-copy") > slices.Index(f.deleted, "/volume/v3/"+fakeProject+"/snapshots/snap-1") {
		t.Errorf("cleanup order %v", f.deleted)
	}
	src := run.a.Manifest().Source
	if !slices.Contains(src.Snapshots, "snap-1") || !slices.Contains(src.Images, "img-from-volume") {
		t.Errorf("source %+v", src)
	}
}

func TestFakeCloudChecksumMismatchFails(t *testing.T) {
	f := newFakeCloud(t)
	f.image = diskData()
	f.badChecksum = true
	run := runFake(t, f, snapshot.Options{})
	if !errors.Is(run.err, ErrChecksum) {
		t.Fatalf("acquire of an image that does not match its checksum: %v", run.err)
	}
	if m := run.a.Manifest(); m.Status != snapshot.StatusFailed || len(m.Evidence) != 0 {
		t.Errorf("status %q, evidence %+v", m.Status, m.Evidence)
	}
	entries, _ := os.ReadDir(run.dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".img") || strings.HasSuffix(e.Name(), snapshot.PartialSuffix) {
			t.Errorf("%s left in the case folder", e.Name())
		}
	}
}
