// Package openstack acquires an OpenStack server: its Neutron ports are
// moved to a quarantine security group without rules, the server is paused
// and locked with a reason, and its disk becomes a Glance image (Nova
// createImage for an image-backed server; Cinder snapshot → volume →
// upload-to-image for a volume-backed one) that is downloaded with Range
// resumes and checked against Glance's os_hash_value and checksum.
// Authentication (clouds.yaml, OS_* variables, application credentials)
// and the service catalog are gophercloud's.
package openstack

import (
	"context"
	"crypto/sha512"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/coldcase-dfir/coldcase/snapshot"
)

// Config names the server and the cloud.
type Config struct {
	Cloud         string // clouds.yaml entry; empty: OS_* variables
	Server        string // id or exact name
	SecurityGroup string // quarantine group name (default "coldcase-quarantine")
	LockReason    string
	CaseID        string
	PollInterval  time.Duration // default 5s
	Timeout       time.Duration // for each wait (default 1h)
}

// Clients are the authenticated service clients a Provider uses; tests and
// callers with their own auth build them with Connect or by hand.
type Clients struct {
	Provider *gophercloud.ProviderClient
	Compute  *gophercloud.ServiceClient
	Network  *gophercloud.ServiceClient
	Volume   *gophercloud.ServiceClient
	Image    *gophercloud.ServiceClient
	Missing  []string // services not found in the catalog, and why
}

// Connect authenticates from clouds.yaml (cloud != "") or the OS_*
// environment, and finds each service in the catalog.
func Connect(ctx context.Context, cloud string) (*Clients, error) {
	var opts []clouds.ParseOption
	if cloud != "" {
		opts = append(opts, clouds.WithCloudName(cloud))
	}
	var ao gophercloud.AuthOptions
	var eo gophercloud.EndpointOpts
	var err error
	var tc *tls.Config
	if cloud != "" {
		if ao, eo, tc, err = clouds.Parse(opts...); err != nil {
			return nil, fmt.Errorf("clouds.yaml: %w", err)
		}
	} else {
		if ao, err = gopenstack.AuthOptionsFromEnv(); err != nil {
			return nil, fmt.Errorf("OS_* environment: %w", err)
		}
		eo.Region = envRegion()
	}
	ao.AllowReauth = true
	var pc *gophercloud.ProviderClient
	if tc != nil {
		pc, err = config.NewProviderClient(ctx, ao, config.WithTLSConfig(tc))
	} else {
		pc, err = config.NewProviderClient(ctx, ao)
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	return NewClients(pc, eo)
}

// NewClients finds compute, network, block storage and image in the
// catalog of an authenticated provider client. Missing services are left
// nil: a step that needs one reports it.
func NewClients(pc *gophercloud.ProviderClient, eo gophercloud.EndpointOpts) (*Clients, error) {
	c := &Clients{Provider: pc}
	var err error
	if c.Image, err = gopenstack.NewImageV2(pc, eo); err != nil {
		return nil, fmt.Errorf("image service: %w", err)
	}
	// The others are optional: a failure leaves the client nil and the
	// step that needs it says so.
	if sc, err := gopenstack.NewComputeV2(pc, eo); err == nil {
		c.Compute = sc
	} else {
		c.Missing = append(c.Missing, "compute: "+err.Error())
	}
	if sc, err := gopenstack.NewNetworkV2(pc, eo); err == nil {
		c.Network = sc
	} else {
		c.Missing = append(c.Missing, "network: "+err.Error())
	}
	if sc, err := gopenstack.NewBlockStorageV3(pc, eo); err == nil {
		c.Volume = sc
	} else {
		c.Missing = append(c.Missing, "block-storage: "+err.Error())
	}
	return c, nil
}

// Identity returns who the token belongs to (names and ids only).
func (c *Clients) Identity() (user, project string) {
	r, ok := c.Provider.GetAuthResult().(tokens.CreateResult)
	if !ok {
		return "", ""
	}
	if u, err := r.ExtractUser(); err == nil && u != nil {
		user = u.Name + " (" + u.ID + ")"
	}
	if p, err := r.ExtractProject(); err == nil && p != nil {
		project = p.Name + " (" + p.ID + ")"
	}
	return user, project
}

// Provider implements snapshot.Provider for OpenStack.
type Provider struct {
	cfg    Config
	c      *Clients
	server server
	ports  []string
	images []pendingImage
	cinder []string // temporary snapshot ids, then volume ids, for cleanup
	reused bool     // images of an interrupted run: partial downloads resume
}

type pendingImage struct{ id, name, origin string }

type server struct {
	ID      string                `json:"id"`
	Name    string                `json:"name"`
	Status  string                `json:"status"`
	Image   any                   `json:"image"`
	Volumes []struct{ ID string } `json:"os-extended-volumes:volumes_attached"`
	Tenant  string                `json:"tenant_id"`
}

// New returns a provider using authenticated clients.
func New(cfg Config, c *Clients) *Provider {
	if cfg.SecurityGroup == "" {
		cfg.SecurityGroup = "coldcase-quarantine"
	}
	if cfg.LockReason == "" {
		cfg.LockReason = "coldcase forensic acquisition"
		if cfg.CaseID != "" {
			cfg.LockReason += " for case " + cfg.CaseID
		}
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Hour
	}
	return &Provider{cfg: cfg, c: c}
}

func (p *Provider) Name() string { return "openstack" }

func (p *Provider) Describe(st snapshot.Step, o snapshot.Options) string {
	switch st {
	case snapshot.StepLookup:
		return "Nova: server " + p.cfg.Server + " (image or volumes); Neutron: its ports"
	case snapshot.StepQuarantine:
		return fmt.Sprintf("Neutron: every port's security groups replaced by %q (created without rules); Nova: pause, lock with reason %q", p.cfg.SecurityGroup, p.cfg.LockReason)
	case snapshot.StepSnapshot:
		return "image-backed: Nova createImage; volume-backed: Cinder snapshot (force) → volume → upload-to-image"
	case snapshot.StepWait:
		return "poll Cinder and Glance until the images are active"
	case snapshot.StepDownload:
		return "Glance image download with Range resume; sha256/md5 streamed, os_hash_value (sha512) and checksum (md5) checked"
	case snapshot.StepCleanup:
		return "delete the Glance images and the temporary Cinder snapshots and volumes"
	}
	return ""
}

func reqID(r *http.Response) string {
	if r == nil {
		return ""
	}
	for _, h := range []string{"X-Openstack-Request-Id", "X-Compute-Request-Id", "X-Request-Id"} {
		if v := r.Header.Get(h); v != "" {
			return v
		}
	}
	return ""
}

func errReqID(err error) string {
	var e gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &e) && e.ResponseHeader != nil {
		return reqID(&http.Response{Header: e.ResponseHeader})
	}
	return ""
}

func (p *Provider) need(c *gophercloud.ServiceClient, what string) error {
	if c == nil {
		return fmt.Errorf("no usable %s service in the catalog (%s)", what, strings.Join(p.c.Missing, "; "))
	}
	return nil
}

func (p *Provider) Lookup(ctx context.Context, a *snapshot.Acquisition) error {
	if u, pr := p.c.Identity(); u != "" || pr != "" {
		a.SetOperator(u, pr)
	}
	if err := p.need(p.c.Compute, "compute"); err != nil {
		return err
	}
	var body struct{ Server server }
	r, err := p.c.Compute.Get(ctx, p.c.Compute.ServiceURL("servers", p.cfg.Server), &body, nil)
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		// Not an id: an exact name.
		var list struct{ Servers []server }
		r, err = p.c.Compute.Get(ctx, p.c.Compute.ServiceURL("servers", "detail")+"?name="+queryEscape("^"+regexpQuote(p.cfg.Server)+"$"), &list, nil)
		if err == nil {
			switch len(list.Servers) {
			case 1:
				body.Server = list.Servers[0]
			case 0:
				err = fmt.Errorf("no server named %q", p.cfg.Server)
			default:
				err = fmt.Errorf("%d servers named %q: give the id", len(list.Servers), p.cfg.Server)
			}
		}
	}
	if err != nil {
		a.Record("look up server "+p.cfg.Server, errReqID(err), err)
		return err
	}
	p.server = body.Server
	var vols []string
	for _, v := range p.server.Volumes {
		vols = append(vols, v.ID)
	}
	a.SetSource(func(s *snapshot.Source) {
		s.Endpoint, s.InstanceID, s.InstanceName, s.Volumes = p.c.Provider.IdentityEndpoint, p.server.ID, p.server.Name, vols
	})
	a.Record(fmt.Sprintf("server %s %q status %s, %s", p.server.ID, p.server.Name, p.server.Status, p.backing()), reqID(r), nil)
	if p.c.Network != nil {
		var ports struct {
			Ports []struct{ ID string } `json:"ports"`
		}
		r, err := p.c.Network.Get(ctx, p.c.Network.ServiceURL("ports")+"?device_id="+queryEscape(p.server.ID), &ports, nil)
		if err != nil {
			a.Record("list ports", errReqID(err), err)
			return err
		}
		for _, pt := range ports.Ports {
			p.ports = append(p.ports, pt.ID)
		}
		a.Record(fmt.Sprintf("%d Neutron ports: %s", len(p.ports), strings.Join(p.ports, ", ")), reqID(r), nil)
	}
	return nil
}

func (p *Provider) imageBacked() bool {
	m, ok := p.server.Image.(map[string]any)
	return ok && m["id"] != nil && m["id"] != ""
}

func (p *Provider) backing() string {
	if p.imageBacked() {
		return "image-backed"
	}
	return fmt.Sprintf("volume-backed (%d volumes)", len(p.server.Volumes))
}

func (p *Provider) Quarantine(ctx context.Context, a *snapshot.Acquisition) error {
	if err := p.need(p.c.Network, "network"); err != nil {
		a.Record("quarantine ports", "", err)
		return err
	}
	sg, err := p.quarantineGroup(ctx, a)
	if err != nil {
		return err
	}
	for _, port := range p.ports {
		body := map[string]any{"port": map[string]any{"security_groups": []string{sg}}}
		r, err := p.c.Network.Put(ctx, p.c.Network.ServiceURL("ports", port), body, nil, &gophercloud.RequestOpts{OkCodes: []int{200}})
		a.Record(fmt.Sprintf("port %s: security groups replaced by %s", port, sg), reqID(r)+errReqID(err), err)
		if err != nil {
			return err
		}
	}
	// Pause: Nova answers 409 when the server is not ACTIVE (already
	// stopped, paused, suspended); that is recorded, and only an ACTIVE
	// server that cannot be paused stops the quarantine.
	r, err := p.action(ctx, map[string]any{"pause": nil}, "")
	a.Record("pause server (status "+p.server.Status+")", reqID(r)+errReqID(err), err)
	if err != nil && !(gophercloud.ResponseCodeIs(err, http.StatusConflict) && p.server.Status != "ACTIVE") {
		return err
	}
	r, err = p.action(ctx, map[string]any{"lock": map[string]any{"locked_reason": p.cfg.LockReason}}, "2.73")
	a.Record("lock server with reason "+fmt.Sprintf("%q", p.cfg.LockReason), reqID(r)+errReqID(err), err)
	return err
}

func (p *Provider) action(ctx context.Context, body any, microversion string) (*http.Response, error) {
	opts := &gophercloud.RequestOpts{OkCodes: []int{202}}
	if microversion != "" {
		opts.MoreHeaders = map[string]string{"X-OpenStack-Nova-API-Version": microversion}
	}
	return p.c.Compute.Post(context.WithoutCancel(ctx), p.c.Compute.ServiceURL("servers", p.server.ID, "action"), body, nil, opts)
}

type secGroup struct {
	ID    string `json:"id"`
	Rules []struct {
		ID        string `json:"id"`
		Direction string `json:"direction"`
	} `json:"security_group_rules"`
}

func (p *Provider) quarantineGroup(ctx context.Context, a *snapshot.Acquisition) (string, error) {
	var list struct {
		Groups []secGroup `json:"security_groups"`
	}
	r, err := p.c.Network.Get(ctx, p.c.Network.ServiceURL("security-groups")+"?name="+queryEscape(p.cfg.SecurityGroup), &list, nil)
	if err != nil {
		a.Record("look up security group "+p.cfg.SecurityGroup, errReqID(err), err)
		return "", err
	}
	var g secGroup
	if len(list.Groups) > 0 {
		g = list.Groups[0]
	} else {
		var created struct {
			Group secGroup `json:"security_group"`
		}
		body := map[string]any{"security_group": map[string]any{"name": p.cfg.SecurityGroup, "description": "coldcase forensic quarantine: no traffic in or out"}}
		r, err = p.c.Network.Post(ctx, p.c.Network.ServiceURL("security-groups"), body, &created, &gophercloud.RequestOpts{OkCodes: []int{201}})
		a.Record("create security group "+p.cfg.SecurityGroup+" "+created.Group.ID, reqID(r)+errReqID(err), err)
		if err != nil {
			return "", err
		}
		g = created.Group
	}
	// Neutron gives a new group allow-all egress rules: a quarantine group
	// has none.
	for _, rule := range g.Rules {
		r, err := p.c.Network.Delete(ctx, p.c.Network.ServiceURL("security-group-rules", rule.ID), nil)
		a.Record(fmt.Sprintf("delete %s rule %s of %s", rule.Direction, rule.ID, g.ID), reqID(r)+errReqID(err), err)
		if err != nil {
			return "", err
		}
	}
	return g.ID, nil
}

func (p *Provider) Memory(ctx context.Context, a *snapshot.Acquisition) error {
	return snapshot.ErrNotSupported
}

func (p *Provider) Snapshot(ctx context.Context, a *snapshot.Acquisition) error {
	if p.reuse(ctx, a) {
		return nil
	}
	name := fmt.Sprintf("coldcase-%s-%s", p.cfg.CaseID, p.server.ID)
	if p.imageBacked() {
		var out struct {
			ImageID string `json:"image_id"`
		}
		body := map[string]any{"createImage": map[string]any{"name": name, "metadata": map[string]string{"coldcase_case": p.cfg.CaseID}}}
		r, err := p.c.Compute.Post(ctx, p.c.Compute.ServiceURL("servers", p.server.ID, "action"), body, &out,
			&gophercloud.RequestOpts{OkCodes: []int{202}, MoreHeaders: map[string]string{"X-OpenStack-Nova-API-Version": "2.45"}})
		a.Record("Nova createImage "+name+" → image "+out.ImageID, reqID(r)+errReqID(err), err)
		if err != nil {
			return err
		}
		if out.ImageID == "" {
			return errors.New("createImage answered without an image id")
		}
		p.images = append(p.images, pendingImage{id: out.ImageID, name: "server-" + p.server.ID + ".img", origin: "server " + p.server.ID + " root disk"})
		a.SetSource(func(s *snapshot.Source) { s.Images = append(s.Images, out.ImageID) })
		return nil
	}
	if err := p.need(p.c.Volume, "block-storage"); err != nil {
		return err
	}
	for _, v := range p.server.Volumes {
		if err := p.snapshotVolume(ctx, a, v.ID, name); err != nil {
			return err
		}
	}
	return nil
}

// reuse takes the images of an interrupted run of the same case when they
// are still in Glance: images are immutable, so partial downloads of them
// can resume.
func (p *Provider) reuse(ctx context.Context, a *snapshot.Acquisition) bool {
	prev := a.Previous()
	if prev == nil || prev.Source.InstanceID != p.server.ID || len(prev.Source.Images) == 0 {
		return false
	}
	want := 1
	if !p.imageBacked() {
		want = len(p.server.Volumes)
	}
	if len(prev.Source.Images) != want {
		return false
	}
	for i, id := range prev.Source.Images {
		img, rid, err := GetImage(ctx, p.c.Image, id)
		if err != nil || img.Status == "killed" || img.Status == "deleted" {
			a.Record("image "+id+" of the interrupted run is gone; snapshot again", rid, nil)
			p.images = nil
			return false
		}
		im := pendingImage{id: id, name: "server-" + p.server.ID + ".img", origin: "server " + p.server.ID + " root disk"}
		if !p.imageBacked() {
			v := p.server.Volumes[i].ID
			im = pendingImage{id: id, name: "volume-" + v + ".raw", origin: "volume " + v}
		}
		p.images = append(p.images, im)
	}
	p.reused = true
	a.Record("reusing images "+strings.Join(prev.Source.Images, ", ")+" of the interrupted run", "", nil)
	return true
}

// snapshotVolume: snapshot (force, the volume is in use) → new volume from
// it → upload that volume to Glance. The attached volume is never touched
// beyond the snapshot.
func (p *Provider) snapshotVolume(ctx context.Context, a *snapshot.Acquisition, vol, name string) error {
	cv := p.c.Volume
	var snap struct {
		Snapshot struct{ ID, Status string } `json:"snapshot"`
	}
	r, err := cv.Post(ctx, cv.ServiceURL("snapshots"), map[string]any{"snapshot": map[string]any{"volume_id": vol, "force": true, "name": name}}, &snap, &gophercloud.RequestOpts{OkCodes: []int{202}})
	a.Record("Cinder snapshot (force) of volume "+vol+" → "+snap.Snapshot.ID, reqID(r)+errReqID(err), err)
	if err != nil {
		return err
	}
	p.cinder = append(p.cinder, "snapshots/"+snap.Snapshot.ID)
	a.SetSource(func(s *snapshot.Source) { s.Snapshots = append(s.Snapshots, snap.Snapshot.ID) })
	if err := p.waitStatus(ctx, a, cv, "snapshots", snap.Snapshot.ID, "snapshot", "available"); err != nil {
		return err
	}
	var nv struct {
		Volume struct{ ID string } `json:"volume"`
	}
	r, err = cv.Post(ctx, cv.ServiceURL("volumes"), map[string]any{"volume": map[string]any{"snapshot_id": snap.Snapshot.ID, "name": name}}, &nv, &gophercloud.RequestOpts{OkCodes: []int{202}})
	a.Record("Cinder volume from snapshot "+snap.Snapshot.ID+" → "+nv.Volume.ID, reqID(r)+errReqID(err), err)
	if err != nil {
		return err
	}
	p.cinder = append(p.cinder, "volumes/"+nv.Volume.ID)
	if err := p.waitStatus(ctx, a, cv, "volumes", nv.Volume.ID, "volume", "available"); err != nil {
		return err
	}
	var up struct {
		Upload struct {
			ImageID string `json:"image_id"`
		} `json:"os-volume_upload_image"`
	}
	body := map[string]any{"os-volume_upload_image": map[string]any{"image_name": name + "-" + vol, "disk_format": "raw", "container_format": "bare", "force": false}}
	r, err = cv.Post(ctx, cv.ServiceURL("volumes", nv.Volume.ID, "action"), body, &up, &gophercloud.RequestOpts{OkCodes: []int{202}})
	a.Record("Cinder upload-to-image of volume "+nv.Volume.ID+" → image "+up.Upload.ImageID, reqID(r)+errReqID(err), err)
	if err != nil {
		return err
	}
	p.images = append(p.images, pendingImage{id: up.Upload.ImageID, name: "volume-" + vol + ".raw", origin: "volume " + vol + " via snapshot " + snap.Snapshot.ID})
	a.SetSource(func(s *snapshot.Source) { s.Images = append(s.Images, up.Upload.ImageID) })
	return nil
}

func (p *Provider) waitStatus(ctx context.Context, a *snapshot.Acquisition, c *gophercloud.ServiceClient, coll, id, key, want string) error {
	deadline := time.Now().Add(p.cfg.Timeout)
	for {
		var body map[string]struct{ Status string }
		r, err := c.Get(ctx, c.ServiceURL(coll, id), &body, nil)
		if err != nil {
			a.Record("status of "+coll+"/"+id, errReqID(err), err)
			return err
		}
		st := body[key].Status
		switch {
		case strings.EqualFold(st, want):
			a.Record(fmt.Sprintf("%s %s is %s", key, id, st), reqID(r), nil)
			return nil
		case strings.Contains(strings.ToLower(st), "error"):
			err := fmt.Errorf("%s %s: status %s", key, id, st)
			a.Record("wait for "+key+" "+id, reqID(r), err)
			return err
		case time.Now().After(deadline):
			err := fmt.Errorf("%s %s: still %s after %v", key, id, st, p.cfg.Timeout)
			a.Record("wait for "+key+" "+id, reqID(r), err)
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.cfg.PollInterval):
		}
	}
}

// Image is what Glance says about an image.
type Image struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	Size     int64  `json:"size"`
	Checksum string `json:"checksum"` // md5, hex
	HashAlgo string `json:"os_hash_algo"`
	HashVal  string `json:"os_hash_value"`
}

func (p *Provider) Wait(ctx context.Context, a *snapshot.Acquisition) error {
	for _, im := range p.images {
		deadline := time.Now().Add(p.cfg.Timeout)
		for {
			img, rid, err := GetImage(ctx, p.c.Image, im.id)
			if err != nil {
				a.Record("image "+im.id, rid, err)
				return err
			}
			if img.Status == "active" {
				a.Record(fmt.Sprintf("image %s active, %d bytes", im.id, img.Size), rid, nil)
				break
			}
			if img.Status == "killed" || img.Status == "deleted" || img.Status == "deactivated" || time.Now().After(deadline) {
				err := fmt.Errorf("image %s: status %s", im.id, img.Status)
				a.Record("wait for image "+im.id, rid, err)
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(p.cfg.PollInterval):
			}
		}
	}
	return nil
}

// GetImage reads an image's record from Glance.
func GetImage(ctx context.Context, c *gophercloud.ServiceClient, id string) (*Image, string, error) {
	var img Image
	r, err := c.Get(ctx, c.ServiceURL("images", id), &img, nil)
	if err != nil {
		return nil, errReqID(err), fmt.Errorf("glance image %s: %w", id, err)
	}
	return &img, reqID(r), nil
}

func (p *Provider) Download(ctx context.Context, a *snapshot.Acquisition) error {
	for _, im := range p.images {
		if !p.reused {
			// A partial file here belongs to another image: start again.
			os.Remove(filepath.Join(a.Dir, im.name+snapshot.PartialSuffix))
		}
		if _, err := DownloadImage(ctx, p.c.Image, a, im.id, im.name); err != nil {
			return err
		}
	}
	return nil
}

// ErrChecksum is returned when a downloaded image does not match Glance's
// own checksums; the partial file is removed, never resumed.
var ErrChecksum = errors.New("image differs from Glance's checksum")

// DownloadImage streams a Glance image into CASE/name, resuming a partial
// file with a Range request and after a dropped connection (gophercloud
// re-authenticates on 401 when the token expires mid-download), then checks
// the result against the image's os_hash_value and md5 checksum.
func DownloadImage(ctx context.Context, c *gophercloud.ServiceClient, a *snapshot.Acquisition, id, name string) (snapshot.Evidence, error) {
	img, rid, err := GetImage(ctx, c, id)
	if err != nil {
		a.Record("image "+id, rid, err)
		return snapshot.Evidence{}, err
	}
	if img.Status != "active" {
		err := fmt.Errorf("image %s is %s, not active", id, img.Status)
		a.Record("download image "+id, rid, err)
		return snapshot.Evidence{}, err
	}
	var h512 = sha512.New()
	if img.HashAlgo != "" && img.HashAlgo != "sha512" {
		h512 = nil // another algorithm: checked by md5 only
	}
	open := func() (*snapshot.EvidenceWriter, error) {
		if h512 != nil {
			h512.Reset()
			return snapshot.CreateEvidence(a.Dir, name, h512)
		}
		return snapshot.CreateEvidence(a.Dir, name)
	}
	w, err := open()
	if err != nil {
		return snapshot.Evidence{}, err
	}
	defer w.Close()
	if a.Progress != nil {
		add, done := a.Progress(name, img.Size)
		defer done()
		add(w.Offset())
		w.OnWrite(add)
	}
	url := c.ServiceURL("images", id, "file")
	var lastReq, contentMD5 string
	const maxAttempts = 6
	for attempt := 1; ; attempt++ {
		if img.Size > 0 && w.Offset() >= img.Size {
			break
		}
		opts := &gophercloud.RequestOpts{KeepResponseBody: true, OkCodes: []int{200, 206}, MoreHeaders: map[string]string{}}
		if w.Offset() > 0 {
			opts.MoreHeaders["Range"] = fmt.Sprintf("bytes=%d-", w.Offset())
		}
		r, err := c.Request(ctx, "GET", url, opts)
		if err != nil {
			a.Record(fmt.Sprintf("GET image %s data from byte %d", id, w.Offset()), errReqID(err), err)
			if attempt >= maxAttempts || ctx.Err() != nil {
				a.AddEvidence(w.Partial())
				return w.Partial(), err
			}
			continue
		}
		lastReq = reqID(r)
		if m := r.Header.Get("Content-MD5"); m != "" {
			contentMD5 = m // hex, and the whole image's even on a 206
		}
		if r.StatusCode == http.StatusOK && w.Offset() > 0 {
			// The server ignored the Range: start again from byte 0.
			r.Body.Close()
			w.Discard()
			if w, err = open(); err != nil {
				return snapshot.Evidence{}, err
			}
			a.Record("server ignored Range; download restarted", lastReq, nil)
			continue
		}
		before := w.Offset()
		_, err = io.Copy(w, r.Body)
		r.Body.Close()
		if err == nil {
			if img.Size <= 0 || w.Offset() >= img.Size {
				break
			}
			err = io.ErrUnexpectedEOF
		}
		a.Record(fmt.Sprintf("image %s: transfer interrupted at byte %d (got %d this try)", id, w.Offset(), w.Offset()-before), lastReq, err)
		if attempt >= maxAttempts || ctx.Err() != nil {
			a.AddEvidence(w.Partial())
			return w.Partial(), err
		}
	}
	var sums []snapshot.Checksum
	var bad []string
	if img.Size > 0 && w.Offset() != img.Size {
		bad = append(bad, fmt.Sprintf("size %d, Glance says %d", w.Offset(), img.Size))
	}
	if img.Checksum != "" {
		ok := strings.EqualFold(img.Checksum, w.MD5())
		sums = append(sums, snapshot.Checksum{Algorithm: "md5", Value: img.Checksum, Verified: ok})
		if !ok {
			bad = append(bad, "md5 "+w.MD5()+", Glance checksum "+img.Checksum)
		}
	}
	if contentMD5 != "" && img.Checksum != "" && !strings.EqualFold(contentMD5, img.Checksum) {
		bad = append(bad, "Content-MD5 "+contentMD5+" differs from the image's checksum "+img.Checksum)
	}
	if h512 != nil && img.HashVal != "" {
		got := fmt.Sprintf("%x", h512.Sum(nil))
		ok := strings.EqualFold(img.HashVal, got)
		sums = append(sums, snapshot.Checksum{Algorithm: "sha512", Value: img.HashVal, Verified: ok})
		if !ok {
			bad = append(bad, "sha512 "+got+", Glance os_hash_value "+img.HashVal)
		}
	}
	if len(bad) > 0 {
		w.Discard()
		err := fmt.Errorf("image %s: %w: %s", id, ErrChecksum, strings.Join(bad, "; "))
		a.Record("verify image "+id, lastReq, err)
		return snapshot.Evidence{}, err
	}
	e, err := w.Commit()
	if err != nil {
		return e, err
	}
	e.Kind, e.Origin, e.Provider = "disk", "glance image "+id+" "+img.Name, sums
	a.AddEvidence(e)
	a.Record(fmt.Sprintf("downloaded image %s into %s: %d bytes, %d Glance checksums match", id, name, e.Size, len(sums)), lastReq, nil)
	return e, nil
}

func (p *Provider) Cleanup(ctx context.Context, a *snapshot.Acquisition) error {
	var first error
	for _, im := range p.images {
		r, err := p.c.Image.Delete(ctx, p.c.Image.ServiceURL("images", im.id), nil)
		a.Record("delete image "+im.id, reqID(r)+errReqID(err), err)
		if first == nil {
			first = err
		}
	}
	// Volumes before the snapshots they were made from.
	for i := len(p.cinder) - 1; i >= 0; i-- {
		r, err := p.c.Volume.Delete(ctx, p.c.Volume.ServiceURL(strings.Split(p.cinder[i], "/")...), nil)
		a.Record("delete "+p.cinder[i], reqID(r)+errReqID(err), err)
		if first == nil {
			first = err
		}
	}
	return first
}

func queryEscape(s string) string { return url.QueryEscape(s) }
func regexpQuote(s string) string { return regexp.QuoteMeta(s) }
func envRegion() string           { return os.Getenv("OS_REGION_NAME") }
