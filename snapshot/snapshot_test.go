package snapshot

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// sampleDisk is data with a large zero region in the middle, the shape
// of a mostly empty disk.
func sampleDisk() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	d := make([]byte, 3<<20)
	for i := range 1 << 20 {
		d[i] = byte(r.Uint32())
	}
	for i := 5 << 19; i < len(d); i++ {
		d[i] = byte(r.Uint32())
	}
	return d
}

func TestEvidenceWriterHashesSparseAndResumes(t *testing.T) {
	dir := t.TempDir()
	data := sampleDisk()
	w, err := CreateEvidence(dir, "disk.raw")
	if err != nil {
		t.Fatal(err)
	}
	// Interrupted after 1.25 MiB: the partial file stays for a resume.
	if _, err := w.Write(data[:5<<18]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = CreateEvidence(dir, "disk.raw")
	if err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 5<<18 {
		t.Fatalf("resume offset %d, want %d", w.Offset(), 5<<18)
	}
	if _, err := w.Write(data[w.Offset():]); err != nil {
		t.Fatal(err)
	}
	e, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	sha := sha256.Sum256(data)
	md := md5.Sum(data)
	if e.SHA256 != hex.EncodeToString(sha[:]) || e.MD5 != hex.EncodeToString(md[:]) || e.Size != int64(len(data)) {
		t.Fatalf("evidence %+v does not match the data", e)
	}
	got, err := os.ReadFile(filepath.Join(dir, "disk.raw"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("written file differs from the data (%v)", err)
	}
	// Compare with sha256sum, an independent hasher.
	testenv.NeedTool(t, "sha256sum")
	out := testenv.Output(t, "sha256sum", filepath.Join(dir, "disk.raw"))
	if !strings.HasPrefix(string(out), e.SHA256) {
		t.Errorf("sha256sum says %s, writer said %s", out, e.SHA256)
	}
	// The 1.25 MiB zero region is a hole: fewer blocks than the length.
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "disk.raw"), &st); err != nil {
		t.Fatal(err)
	}
	if alloc := st.Blocks * 512; alloc > int64(len(data))-(1<<20) {
		t.Errorf("allocated %d bytes of %d: zero region not left sparse", alloc, len(data))
	}
}

func TestEvidenceWriterCopiesSparseFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(t.TempDir(), "src")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("head"), 0)
	f.WriteAt([]byte("tail"), 64<<20)
	f.Truncate(80 << 20) // trailing hole
	f.Seek(0, 0)
	w, err := CreateEvidence(dir, "copy.raw")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadFrom(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	e, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if e.Size != 80<<20 {
		t.Fatalf("size %d, want %d", e.Size, 80<<20)
	}
	testenv.NeedTool(t, "cmp")
	testenv.Run(t, "cmp", src, filepath.Join(dir, "copy.raw"))
	var st syscall.Stat_t
	syscall.Stat(filepath.Join(dir, "copy.raw"), &st)
	if st.Blocks*512 > 1<<20 {
		t.Errorf("copy allocates %d bytes: holes were filled", st.Blocks*512)
	}
}

func TestEvidenceWriterRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(outside, []byte("keep"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "disk.raw.partial"))
	if _, err := CreateEvidence(dir, "disk.raw"); err == nil {
		t.Fatal("writer followed a symbolic link out of the case folder")
	}
	link := filepath.Join(t.TempDir(), "case")
	os.Symlink(dir, link)
	if _, err := CreateEvidence(link, "x"); err == nil {
		t.Fatal("writer accepted a case folder that is a symbolic link")
	}
	for _, bad := range []string{"../x", "a/b", "", ManifestName} {
		if _, err := CreateEvidence(dir, bad); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep" {
		t.Fatal("file outside the case was changed")
	}
}

// fakeProvider writes two evidence files; steps listed in unsupported
// return ErrNotSupported.
type fakeProvider struct {
	unsupported map[Step]bool
	calls       []Step
	files       map[string][]byte
}

func (p *fakeProvider) Name() string { return "fake" }
func (p *fakeProvider) Describe(st Step, o Options) string {
	if p.unsupported[st] {
		return ""
	}
	return "fake " + string(st)
}
func (p *fakeProvider) do(st Step, a *Acquisition) error {
	p.calls = append(p.calls, st)
	if p.unsupported[st] {
		return ErrNotSupported
	}
	a.Record("did "+string(st), "req-"+string(st), nil)
	return nil
}
func (p *fakeProvider) Lookup(_ context.Context, a *Acquisition) error { return p.do(StepLookup, a) }
func (p *fakeProvider) Quarantine(_ context.Context, a *Acquisition) error {
	return p.do(StepQuarantine, a)
}
func (p *fakeProvider) Memory(_ context.Context, a *Acquisition) error { return p.do(StepMemory, a) }
func (p *fakeProvider) Snapshot(_ context.Context, a *Acquisition) error {
	return p.do(StepSnapshot, a)
}
func (p *fakeProvider) Wait(_ context.Context, a *Acquisition) error    { return p.do(StepWait, a) }
func (p *fakeProvider) Cleanup(_ context.Context, a *Acquisition) error { return p.do(StepCleanup, a) }
func (p *fakeProvider) Download(_ context.Context, a *Acquisition) error {
	p.calls = append(p.calls, StepDownload)
	for name, data := range p.files {
		w, err := CreateEvidence(a.Dir, name)
		if err != nil {
			return err
		}
		w.Write(data)
		e, err := w.Commit()
		if err != nil {
			return err
		}
		e.Kind = "disk"
		a.AddEvidence(e)
	}
	a.Record("downloaded", "", nil)
	return nil
}

func TestAcquireRecordsEveryStep(t *testing.T) {
	dir := t.TempDir()
	p := &fakeProvider{unsupported: map[Step]bool{StepMemory: true}, files: map[string][]byte{"a.raw": []byte("aaaa")}}
	a, err := NewAcquisition(dir, "c1", "test", Options{Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := Acquire(context.Background(), p, a); err != nil {
		t.Fatal(err)
	}
	m, _, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	results := map[Step]string{}
	for _, act := range m.Actions {
		results[act.Step] = act.Result
	}
	want := map[Step]string{
		StepLookup: ResultOK, StepQuarantine: ResultNotRequested, StepMemory: ResultNotSupported,
		StepSnapshot: ResultOK, StepWait: ResultOK, StepDownload: ResultOK, StepCleanup: ResultNotRequested,
	}
	for st, r := range want {
		if results[st] != r {
			t.Errorf("step %s: result %q, want %q", st, results[st], r)
		}
	}
	if m.Status != StatusComplete || len(m.Evidence) != 1 {
		t.Fatalf("status %q, %d evidence files", m.Status, len(m.Evidence))
	}
}

func TestPlanDoesNothing(t *testing.T) {
	dir := t.TempDir()
	p := &fakeProvider{unsupported: map[Step]bool{StepQuarantine: true}}
	a, _ := NewAcquisition(dir, "c1", "test", Options{Plan: true, Quarantine: true})
	if err := Acquire(context.Background(), p, a); err != nil {
		t.Fatal(err)
	}
	if len(p.calls) != 0 {
		t.Fatalf("plan called the provider: %v", p.calls)
	}
	m := a.Manifest()
	if m.Status != StatusPlanned || len(m.Actions) != len(Steps) {
		t.Fatalf("plan: status %q, %d actions", m.Status, len(m.Actions))
	}
	if m.Actions[1].Result != ResultNotSupported {
		t.Errorf("unsupported quarantine planned as %q", m.Actions[1].Result)
	}
}

// acquireFake builds a signed case with two evidence files.
func acquireFake(t *testing.T, key []byte) string {
	t.Helper()
	dir := t.TempDir()
	p := &fakeProvider{files: map[string][]byte{"disk.raw": sampleDisk(), "memory.elf": []byte("\x7fELF memory")}}
	a, err := NewAcquisition(dir, "c1", "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if key != nil {
		a.SignWith(key)
	}
	if err := Acquire(context.Background(), p, a); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVerifyDetectsOneByteChange(t *testing.T) {
	dir := acquireFake(t, nil)
	if r, err := Verify(dir, nil); err != nil {
		t.Fatalf("untouched case: %v %+v", err, r)
	}
	for _, name := range []string{"disk.raw", "memory.elf"} {
		for _, off := range []int64{0, -1} {
			p := filepath.Join(dir, name)
			b, _ := os.ReadFile(p)
			i := off
			if i < 0 {
				i = int64(len(b)) - 1
			}
			b[i] ^= 1
			os.WriteFile(p, b, 0o640)
			r, err := Verify(dir, nil)
			if !errors.Is(err, ErrMismatch) {
				t.Errorf("%s byte %d flipped: verify err %v", name, i, err)
			}
			for _, f := range r.Files {
				if f.OK == (f.Path == name) {
					t.Errorf("%s byte %d flipped: file %s ok=%v", name, i, f.Path, f.OK)
				}
			}
			b[i] ^= 1
			os.WriteFile(p, b, 0o640)
		}
	}
	// A symlink swapped in for evidence is a mismatch, not followed.
	p := filepath.Join(dir, "memory.elf")
	b, _ := os.ReadFile(p)
	other := filepath.Join(t.TempDir(), "m")
	os.WriteFile(other, b, 0o644)
	os.Remove(p)
	os.Symlink(other, p)
	if _, err := Verify(dir, nil); !errors.Is(err, ErrMismatch) {
		t.Errorf("symlinked evidence: %v", err)
	}
}

func TestSignatureWithOpenSSLKey(t *testing.T) {
	testenv.NeedTool(t, "openssl")
	kd := t.TempDir()
	priv, pubf := filepath.Join(kd, "k.pem"), filepath.Join(kd, "k.pub")
	testenv.Run(t, "openssl", "genpkey", "-algorithm", "ed25519", "-out", priv)
	testenv.Run(t, "openssl", "pkey", "-in", priv, "-pubout", "-out", pubf)
	key, _ := os.ReadFile(priv)
	dir := acquireFake(t, key)
	pb, _ := os.ReadFile(pubf)
	pub, err := ParsePublicKey(pb)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := Verify(dir, pub); err != nil || r.Signature != "valid" {
		t.Fatalf("signed case: %v %+v", err, r)
	}
	// openssl checks the same signature independently.
	sig, _ := os.ReadFile(filepath.Join(dir, SignatureName))
	raw := make([]byte, 64)
	n, _ := base64Decode(sig, raw)
	os.WriteFile(filepath.Join(kd, "sig.bin"), raw[:n], 0o644)
	cmd := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pubf, "-rawin",
		"-in", filepath.Join(dir, ManifestName), "-sigfile", filepath.Join(kd, "sig.bin"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl rejects the signature: %v\n%s", err, out)
	}
	// Editing the manifest breaks the signature.
	mp := filepath.Join(dir, ManifestName)
	mb, _ := os.ReadFile(mp)
	os.WriteFile(mp, bytes.Replace(mb, []byte(`"case_id": "c1"`), []byte(`"case_id": "c2"`), 1), 0o640)
	if _, err := Verify(dir, pub); !errors.Is(err, ErrMismatch) {
		t.Fatalf("edited manifest passes signature check: %v", err)
	}
}

func TestParseManifestRejectsEscapes(t *testing.T) {
	for _, p := range []string{"../etc/passwd", "/etc/passwd", "a/../../b", "manifest.json", "a//b"} {
		m := `{"format":"coldcase-manifest/1","evidence":[{"path":"` + p + `","sha256":"` + strings.Repeat("0", 64) + `","md5":"` + strings.Repeat("0", 32) + `"}]}`
		if _, err := ParseManifest([]byte(m)); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"format":"coldcase-manifest/1","evidence":[{"path":"disk.raw","size":4,"sha256":"` + strings.Repeat("a", 64) + `","md5":"` + strings.Repeat("b", 32) + `"}]}`))
	f.Add([]byte(`{"format":"coldcase-manifest/1","actions":[{"step":"lookup","time":"2026-01-01T00:00:00Z","result":"ok"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		for _, e := range m.Evidence {
			if !filepath.IsLocal(e.Path) || filepath.Clean(e.Path) != e.Path {
				t.Fatalf("accepted path %q that leaves or aliases the case folder", e.Path)
			}
		}
	})
}

func base64Decode(src, dst []byte) (int, error) {
	return base64.StdEncoding.Decode(dst, bytes.TrimSpace(src))
}

func TestCompleteCaseIsNotOverwritten(t *testing.T) {
	dir := acquireFake(t, nil)
	if _, err := NewAcquisition(dir, "again", "test", Options{}); err == nil {
		t.Fatal("a second acquisition into a complete case folder was allowed")
	}
	if _, err := Verify(dir, nil); err != nil {
		t.Fatalf("complete case no longer verifies: %v", err)
	}
}
