package openstack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
	return runFakeIn(t, context.Background(), f, t.TempDir(), o)
}

func runFakeIn(t *testing.T, ctx context.Context, f *fakeCloud, dir string, o snapshot.Options) fakeRun {
	t.Helper()
	pc, err := gopenstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{IdentityEndpoint: f.url + "/v3",
		ApplicationCredentialID: "ac-id", ApplicationCredentialSecret: fakeSecret, AllowReauth: true})
	if err != nil {
		t.Fatalf("authenticate with the fake Keystone: %v", err)
	}
	c, err := NewClients(pc, gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{Server: fakeServer, CaseID: "case-os", PollInterval: time.Millisecond}, c)
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

// Ctrl-C during a download leaves a partial file and an "incomplete"
// manifest; running again resumes with a Range request.
func TestInterruptedDownloadResumes(t *testing.T) {
	f := newFakeCloud(t)
	f.image = diskData()
	f.stallOnce = make(chan struct{})
	srv := httptest.NewServer(f)
	defer srv.Close()
	f.url = srv.URL
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	partial := "server-" + fakeServer + ".img" + snapshot.PartialSuffix
	go func() {
		// Ctrl-C once the half the server sent has reached the disk.
		<-f.stallOnce
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
			if fi, err := os.Stat(filepath.Join(dir, partial)); err == nil && fi.Size() >= int64(len(f.image)/2) {
				break
			}
		}
		cancel()
	}()
	run := runFakeIn(t, ctx, f, dir, snapshot.Options{})
	if !errors.Is(run.err, context.Canceled) {
		t.Fatalf("interrupted acquire: %v", run.err)
	}
	m, _, err := snapshot.ReadManifest(dir)
	if err != nil || m.Status != snapshot.StatusIncomplete {
		t.Fatalf("manifest after interrupt: %v %+v", err, m)
	}
	fi, err := os.Stat(filepath.Join(dir, partial))
	if len(m.Evidence) != 1 || m.Evidence[0].Path != partial || m.Evidence[0].Complete {
		t.Fatalf("manifest evidence after interrupt %+v", m.Evidence)
	}
	if err != nil || fi.Size() != int64(len(f.image)/2) {
		t.Fatalf("partial download: %v %v, want the %d bytes sent", err, fi, len(f.image)/2)
	}
	if m.Evidence[0].Size != fi.Size() {
		t.Errorf("manifest says the partial file has %d bytes, it has %d", m.Evidence[0].Size, fi.Size())
	}
	if _, err := snapshot.Verify(dir, nil); !errors.Is(err, snapshot.ErrMismatch) {
		t.Errorf("verify of an incomplete case: %v", err)
	}

	run = runFakeIn(t, context.Background(), f, dir, snapshot.Options{})
	if run.err != nil {
		t.Fatalf("resumed acquire: %v\n%s", run.err, strings.Join(run.logs, "\n"))
	}
	if want := fmt.Sprintf("bytes=%d-", fi.Size()); len(f.ranges) != 2 || f.ranges[1] != want {
		t.Errorf("data requests with ranges %q, want a second one with %q", f.ranges, want)
	}
	if n := strings.Count(strings.Join(f.actions, " "), "createImage"); n != 1 {
		t.Errorf("createImage called %d times: the resumed run must reuse the interrupted run's image", n)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "server-"+fakeServer+".img"))
	if !bytes.Equal(got, f.image) {
		t.Fatal("resumed image differs from the served disk")
	}
	if r, err := snapshot.Verify(dir, nil); err != nil {
		t.Fatalf("verify after resume: %v %+v", err, r)
	}
}
