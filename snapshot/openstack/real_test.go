package openstack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/coldcase-dfir/coldcase/snapshot"
)

// realKeystone waits for .ci/services to bring Keystone and Glance up (it
// does so in the background) and returns their settings; it skips locally
// when they were not started and fails in CI.
func realKeystone(t *testing.T) map[string]string {
	t.Helper()
	fail := t.Skipf
	if os.Getenv("CI") != "" {
		fail = t.Fatalf
	}
	dir := os.Getenv("COLDCASE_OPENSTACK_DIR")
	if dir == "" {
		fail("no real Keystone/Glance: COLDCASE_OPENSTACK_DIR unset (start them with `. .ci/services start`)")
		return nil
	}
	deadline := time.Now().Add(6 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(dir, "openstack.env")); err == nil {
			break
		}
		if _, err := os.Stat(filepath.Join(dir, "openstack.failed")); err == nil || time.Now().After(deadline) {
			fail("Keystone/Glance did not come up; see the logs under %s", dir)
			return nil
		}
		time.Sleep(time.Second)
	}
	f, err := os.Open(filepath.Join(dir, "openstack.env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}

// recorder keeps each request's Range header and each response's status.
type recorder struct {
	mu    sync.Mutex
	base  http.RoundTripper
	lines []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	line := req.Method + " " + req.URL.Path + " range=" + req.Header.Get("Range")
	if resp != nil {
		line += " status=" + resp.Status
	}
	r.lines = append(r.lines, line)
	return resp, err
}

func TestRealKeystoneGlanceDownloadResumes(t *testing.T) {
	env := realKeystone(t)
	ctx := context.Background()
	secret := env["OS_APPLICATION_CREDENTIAL_SECRET"]
	pc, err := gopenstack.NewClient(env["OS_AUTH_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{base: http.DefaultTransport}
	pc.HTTPClient = http.Client{Transport: rec}
	err = gopenstack.Authenticate(ctx, pc, gophercloud.AuthOptions{IdentityEndpoint: env["OS_AUTH_URL"],
		ApplicationCredentialID: env["OS_APPLICATION_CREDENTIAL_ID"], ApplicationCredentialSecret: secret, AllowReauth: true})
	if err != nil {
		t.Fatalf("application credential auth: %v", err)
	}
	c, err := NewClients(pc, gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatalf("Glance not in the catalog: %v", err)
	}
	if !strings.HasPrefix(c.Image.Endpoint, "http://127.0.0.1:9292") {
		t.Fatalf("image endpoint %q from the catalog", c.Image.Endpoint)
	}

	// Upload an image of known content.
	data := make([]byte, 3<<20+12345)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 1 << 20 {
		data[i] = byte(r.Uint32())
	}
	copy(data[2<<20:], data[:1<<20])
	var img Image
	_, err = c.Image.Post(ctx, c.Image.ServiceURL("images"), map[string]any{"name": "coldcase-test", "disk_format": "raw", "container_format": "bare"}, &img, &gophercloud.RequestOpts{OkCodes: []int{201}})
	if err != nil {
		t.Fatalf("create image: %v", err)
	}
	defer c.Image.Delete(ctx, c.Image.ServiceURL("images", img.ID), nil)
	_, err = c.Image.Put(ctx, c.Image.ServiceURL("images", img.ID, "file"), nil, nil, &gophercloud.RequestOpts{
		RawBody: bytes.NewReader(data), OkCodes: []int{204}, MoreHeaders: map[string]string{"Content-Type": "application/octet-stream"}})
	if err != nil {
		t.Fatalf("upload image: %v", err)
	}

	// An earlier run was interrupted after 1 MiB.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "img.raw"+snapshot.PartialSuffix), data[:1<<20], 0o640)
	a, err := snapshot.NewAcquisition(dir, "glance-test", "test", snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a.Log = func(act snapshot.Action) { logs.WriteString(act.Detail + " " + act.Error + "\n") }
	e, err := DownloadImage(ctx, c.Image, a, img.ID, "img.raw")
	if err != nil {
		t.Fatalf("download: %v\n%s", err, logs.String())
	}
	sha := sha256.Sum256(data)
	md := md5.Sum(data)
	s512 := sha512.Sum512(data)
	if e.SHA256 != hex.EncodeToString(sha[:]) || e.MD5 != hex.EncodeToString(md[:]) || e.Size != int64(len(data)) {
		t.Fatalf("evidence %+v does not match the uploaded data", e)
	}
	// Both of Glance's checksums were compared, and they are the data's.
	want := map[string]string{"md5": hex.EncodeToString(md[:]), "sha512": hex.EncodeToString(s512[:])}
	if len(e.Provider) != 2 {
		t.Fatalf("provider checksums %+v", e.Provider)
	}
	for _, s := range e.Provider {
		if !s.Verified || s.Value != want[s.Algorithm] {
			t.Errorf("provider checksum %+v, want %s", s, want[s.Algorithm])
		}
	}
	// The download resumed with a Range request answered 206.
	var resumed bool
	for _, l := range rec.lines {
		if strings.Contains(l, "/file range=bytes=1048576- status=206") {
			resumed = true
		}
	}
	if !resumed {
		t.Errorf("no Range resume from byte 1048576 answered 206:\n%s", strings.Join(rec.lines, "\n"))
	}
	a.AddEvidence(e)
	a.Save()
	mb, _ := os.ReadFile(filepath.Join(dir, snapshot.ManifestName))
	if bytes.Contains(mb, []byte(secret)) || bytes.Contains(logs.Bytes(), []byte(secret)) {
		t.Error("application credential secret in the manifest or logs")
	}
	if tok := pc.Token(); tok == "" || bytes.Contains(mb, []byte(tok)) || bytes.Contains(logs.Bytes(), []byte(tok)) {
		t.Error("token in the manifest or logs (or no token)")
	}
}
