package aws

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
	"github.com/coldcase-dfir/coldcase/snapshot"
)

const (
	secretKey    = "coldcase-TEST-secret-key-Zq81"
	sessionToken = "coldcase-TEST-session-token-Hy27"
)

// testEnv points the SDK at fake credentials only (never the machine's).
func testEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFORTESTS")
	t.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
	t.Setenv("AWS_SESSION_TOKEN", sessionToken)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// volumeData fills some blocks of the fake volume with random data: the
// first two, a few in the middle, the last one. Everything else is empty.
func volumeData(f *fakeAWS) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, i := range []int32{0, 1, 5, 6, 7, 300, 1000, 2047} {
		b := make([]byte, blockSize)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		f.blocks[i] = b
	}
}

func run(t *testing.T, f *fakeAWS, o snapshot.Options) (string, *snapshot.Acquisition, []string, error) {
	t.Helper()
	return runIn(t, f, t.TempDir(), o)
}

func runIn(t *testing.T, f *fakeAWS, dir string, o snapshot.Options) (string, *snapshot.Acquisition, []string, error) {
	t.Helper()
	testEnv(t)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	p, err := New(context.Background(), Config{Region: "eu-west-1", Instance: fakeInstance, EndpointURL: srv.URL,
		TerminationProtection: true, Workers: 4, MaxBackoff: 10 * time.Millisecond, PollInterval: time.Millisecond, CaseID: "case-aws"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := snapshot.NewAcquisition(dir, "case-aws", "test", o)
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	a.Log = func(act snapshot.Action) {
		logs = append(logs, act.Detail+" "+act.Error)
		t.Log(act.Time.Format("15:04:05.000"), act.Step, act.Detail)
	}
	err = snapshot.Acquire(context.Background(), p, a)
	return dir, a, logs, err
}

// writeSource writes the fake volume as a sparse raw file: what the image
// must equal.
func writeSource(t *testing.T, f *fakeAWS) string {
	p := filepath.Join(t.TempDir(), "source.raw")
	fh, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range f.blocks {
		fh.WriteAt(b, int64(i)*blockSize)
	}
	fh.Truncate(f.volGiB << 30)
	fh.Close()
	return p
}

func TestAcquireFromFakeEC2AndEBS(t *testing.T) {
	f := newFakeAWS(t)
	volumeData(f)
	f.throttle[5] = 3     // throttled three times, then served
	f.expired[300] = true // its first token has expired
	dir, a, logs, err := run(t, f, snapshot.Options{Quarantine: true, Cleanup: true, Memory: true})
	if err != nil {
		t.Fatalf("acquire: %v\n%+v", err, a.Manifest().Actions)
	}
	img := filepath.Join(dir, fakeVolume+".raw")
	testenv.NeedTool(t, "cmp")
	testenv.Run(t, "cmp", writeSource(t, f), img)

	// Sparse: only the 8 data blocks are allocated (plus filesystem slack).
	var st syscall.Stat_t
	if err := syscall.Stat(img, &st); err != nil {
		t.Fatal(err)
	}
	if alloc := st.Blocks * 512; alloc > int64(len(f.blocks)+8)*blockSize {
		t.Errorf("image allocates %d bytes for %d data blocks: holes were written", alloc, len(f.blocks))
	}
	if f.throttled != 3 {
		t.Errorf("fake throttled %d requests, want 3", f.throttled)
	}
	if !f.refreshed[300] {
		t.Error("expired block token was not refreshed by listing again")
	}
	// Quarantine: the isolation group on every ENI, termination protection.
	for _, eni := range []string{"eni-0aaa", "eni-0bbb"} {
		if g := f.eniGroups[eni]; len(g) != 1 || g[0] != "sg-0150" {
			t.Errorf("%s security groups %v, want [sg-0150]", eni, g)
		}
	}
	if !f.termProtect {
		t.Error("termination protection not turned on")
	}
	if f.snapTags["coldcase:case"] != "case-aws" || f.snapTags["coldcase:instance"] != fakeInstance {
		t.Errorf("snapshot tags %v", f.snapTags)
	}
	if len(f.deleted) != 1 || f.deleted[0] != fakeSnapshot {
		t.Errorf("cleanup deleted %v", f.deleted)
	}
	m := a.Manifest()
	if m.Status != snapshot.StatusComplete || m.Operator.CloudIdentity != "arn:aws:iam::123456789012:user/responder" ||
		len(m.Source.Snapshots) != 1 || m.Source.InstanceID != fakeInstance {
		t.Errorf("manifest %+v", m)
	}
	var memory, pause, reqID bool
	for _, act := range m.Actions {
		memory = memory || act.Step == snapshot.StepMemory && act.Result == snapshot.ResultNotSupported
		pause = pause || strings.HasPrefix(act.Detail, "pause") && act.Result == snapshot.ResultNotSupported
		reqID = reqID || strings.HasPrefix(act.RequestID, "ec2-CreateSnapshot-")
	}
	if !memory || !pause || !reqID {
		t.Errorf("memory not supported %v, pause not supported %v, request id recorded %v", memory, pause, reqID)
	}
	if r, err := snapshot.Verify(dir, nil); err != nil {
		t.Fatalf("verify: %v %+v", err, r)
	}
	// Credentials never reach the manifest or the logs.
	mb, _ := os.ReadFile(filepath.Join(dir, snapshot.ManifestName))
	all := append(mb, []byte(strings.Join(logs, "\n"))...)
	for _, s := range []string{secretKey, sessionToken} {
		if bytes.Contains(all, []byte(s)) {
			t.Errorf("secret %q found in the manifest or logs", s)
		}
	}
}

func TestWrongBlockChecksumFails(t *testing.T) {
	f := newFakeAWS(t)
	volumeData(f)
	f.wrongChecksum[6] = true
	dir, a, _, err := run(t, f, snapshot.Options{})
	if err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("acquire with a corrupt block: err %v", err)
	}
	if m := a.Manifest(); m.Status != snapshot.StatusFailed {
		t.Errorf("manifest status %q, want failed", m.Status)
	}
	if _, err := os.Stat(filepath.Join(dir, fakeVolume+".raw")); !errors.Is(err, os.ErrNotExist) {
		t.Error("an image with a corrupt block was committed")
	}
	if _, err := os.Stat(filepath.Join(dir, fakeVolume+".raw.partial")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a partial download holding a corrupt block was kept for resume")
	}
}

func TestPersistentThrottlingGivesUp(t *testing.T) {
	f := newFakeAWS(t)
	volumeData(f)
	f.throttle[6] = 1000
	_, _, _, err := run(t, f, snapshot.Options{})
	if err == nil || !strings.Contains(err.Error(), "RequestThrottled") {
		t.Fatalf("endless throttling: err %v", err)
	}
	if f.throttled != 10 {
		t.Errorf("%d attempts, want MaxAttempts=10", f.throttled)
	}
}

// A run interrupted after two blocks resumes: the snapshot of the earlier
// run is reused (no new CreateSnapshot) and blocks are listed from the
// first one the partial file lacks.
func TestResumeReusesSnapshot(t *testing.T) {
	f := newFakeAWS(t)
	volumeData(f)
	dir := t.TempDir()
	prev, err := snapshot.NewAcquisition(dir, "case-aws", "test", snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	prev.SetSource(func(s *snapshot.Source) {
		s.InstanceID, s.Snapshots = fakeInstance, []string{fakeSnapshot}
	})
	partial := append(append([]byte(nil), f.blocks[0]...), f.blocks[1]...)
	if err := os.WriteFile(filepath.Join(dir, fakeVolume+".raw"+snapshot.PartialSuffix), partial, 0o640); err != nil {
		t.Fatal(err)
	}
	f.blocks[0][0] ^= 0xff // served differently now: must not be fetched again
	_, a, _, err := runIn(t, f, dir, snapshot.Options{})
	f.blocks[0][0] ^= 0xff
	if err != nil {
		t.Fatalf("resume: %v\n%+v", err, a.Manifest().Actions)
	}
	if strings.Contains(strings.Join(f.calls, " "), "CreateSnapshot") {
		t.Error("a new snapshot was made instead of reusing the interrupted run's")
	}
	testenv.NeedTool(t, "cmp")
	testenv.Run(t, "cmp", writeSource(t, f), filepath.Join(dir, fakeVolume+".raw"))
	if _, err := snapshot.Verify(dir, nil); err != nil {
		t.Fatalf("verify: %v", err)
	}
}
