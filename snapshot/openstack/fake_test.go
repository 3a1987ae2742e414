package openstack

// A fake OpenStack cloud (Keystone v3 tokens and catalog, Nova, Neutron,
// Cinder v3, Glance v2) written from the API references, for what cannot
// run here; Keystone and Glance are also tested for real in real_test.go.
// It injects the faults acquisition must handle: 409 on pausing a server
// that is not ACTIVE, a token that expires while an image downloads, and
// an image whose content does not match Glance's checksums.

import (
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	fakeServer  = "5e2be7a1-0000-4000-8000-00000000c0de"
	fakeProject = "b1e55ed0000000000000000000000001"
)

type fakeCloud struct {
	t   *testing.T
	url string
	mu  sync.Mutex

	status      string // server status
	volumeBoot  bool
	image       []byte        // the disk content Glance will serve
	badChecksum bool          // Glance's checksums are of other data
	expireOnce  bool          // the token expires during the first image download
	stallOnce   chan struct{} // the first image download stalls halfway; closed when it does

	tokens     map[string]bool
	tokenCount int
	ports      map[string][]string // port → security groups
	deleted    []string            // DELETEd paths
	actions    []string            // server actions
	lockReason string
	images     map[string]string // id → status
	polls      map[string]int
	fileGets   int
	ranges     []string // Range header of each image data request
}

func newFakeCloud(t *testing.T) *fakeCloud {
	return &fakeCloud{t: t, status: "ACTIVE", tokens: map[string]bool{}, images: map[string]string{}, polls: map[string]int{},
		ports: map[string][]string{"port-a": {"default"}, "port-b": {"default", "web"}}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Openstack-Request-Id", "req-"+strconv.Itoa(status)+"-fake")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeCloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	locked := true
	unlock := func() {
		if locked {
			locked = false
			f.mu.Unlock()
		}
	}
	defer unlock()
	p := r.URL.Path
	if p == "/v3/auth/tokens" && r.Method == "POST" {
		f.issueToken(w, r)
		return
	}
	// Version discovery of an unversioned endpoint (Glance's answer).
	if p == "/image/" && r.Method == "GET" {
		writeJSON(w, 300, map[string]any{"versions": []map[string]any{{"id": "v2.9", "status": "CURRENT",
			"links": []map[string]string{{"rel": "self", "href": f.url + "/image/v2/"}}}}})
		return
	}
	if p == "/network/" && r.Method == "GET" { // Neutron's answer
		writeJSON(w, 200, map[string]any{"versions": []map[string]any{{"id": "v2.0", "status": "CURRENT",
			"links": []map[string]string{{"rel": "self", "href": f.url + "/network/v2.0/"}}}}})
		return
	}
	if !f.tokens[r.Header.Get("X-Auth-Token")] {
		writeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "message": "The request you have made requires authentication."}})
		return
	}
	var body map[string]any
	if r.Body != nil && (r.Method == "POST" || r.Method == "PUT") && !strings.HasSuffix(p, "/file") {
		json.NewDecoder(r.Body).Decode(&body)
	}
	if r.Method == "DELETE" {
		f.deleted = append(f.deleted, p)
		w.WriteHeader(204)
		return
	}
	switch {
	// Nova
	case p == "/compute/v2.1/servers/"+fakeServer && r.Method == "GET":
		srv := map[string]any{"id": fakeServer, "name": "suspect", "status": f.status, "tenant_id": fakeProject,
			"os-extended-volumes:volumes_attached": []map[string]string{{"id": "vol-root"}}}
		if f.volumeBoot {
			srv["image"] = ""
		} else {
			srv["image"] = map[string]any{"id": "base-image"}
		}
		writeJSON(w, 200, map[string]any{"server": srv})
	case strings.HasPrefix(p, "/compute/v2.1/servers/") && !strings.HasSuffix(p, "/action") && r.Method == "GET":
		writeJSON(w, 404, map[string]any{"itemNotFound": map[string]any{"code": 404, "message": "Instance could not be found."}})
	case p == "/compute/v2.1/servers/detail":
		writeJSON(w, 200, map[string]any{"servers": []any{}})
	case p == "/compute/v2.1/servers/"+fakeServer+"/action":
		f.serverAction(w, r, body)
	// Neutron
	case p == "/network/v2.0/ports" && r.URL.Query().Get("device_id") == fakeServer:
		writeJSON(w, 200, map[string]any{"ports": []map[string]string{{"id": "port-a"}, {"id": "port-b"}}})
	case p == "/network/v2.0/security-groups" && r.Method == "GET":
		writeJSON(w, 200, map[string]any{"security_groups": []any{}})
	case p == "/network/v2.0/security-groups" && r.Method == "POST":
		writeJSON(w, 201, map[string]any{"security_group": map[string]any{"id": "sg-quarantine", "name": "coldcase-quarantine",
			"security_group_rules": []map[string]string{{"id": "rule-egress-v4", "direction": "egress"}, {"id": "rule-egress-v6", "direction": "egress"}}}})
	case strings.HasPrefix(p, "/network/v2.0/ports/") && r.Method == "PUT":
		port := strings.TrimPrefix(p, "/network/v2.0/ports/")
		var groups []string
		if pm, ok := body["port"].(map[string]any); ok {
			for _, g := range pm["security_groups"].([]any) {
				groups = append(groups, g.(string))
			}
		}
		f.ports[port] = groups
		writeJSON(w, 200, map[string]any{"port": map[string]any{"id": port, "security_groups": groups}})
	// Cinder
	case p == "/volume/v3/"+fakeProject+"/snapshots" && r.Method == "POST":
		if s, _ := body["snapshot"].(map[string]any); s["force"] != true || s["volume_id"] != "vol-root" {
			f.t.Errorf("snapshot request %v: want force=true of vol-root", s)
		}
		writeJSON(w, 202, map[string]any{"snapshot": map[string]any{"id": "snap-1", "status": "creating"}})
	case p == "/volume/v3/"+fakeProject+"/volumes" && r.Method == "POST":
		writeJSON(w, 202, map[string]any{"volume": map[string]any{"id": "vol-copy", "status": "creating"}})
	case p == "/volume/v3/"+fakeProject+"/snapshots/snap-1", p == "/volume/v3/"+fakeProject+"/volumes/vol-copy":
		f.polls[p]++
		st := "available"
		if f.polls[p] == 1 {
			st = "creating"
		}
		key := "snapshot"
		if strings.Contains(p, "/volumes/") {
			key = "volume"
		}
		writeJSON(w, 200, map[string]any{key: map[string]any{"id": p[strings.LastIndex(p, "/")+1:], "status": st}})
	case p == "/volume/v3/"+fakeProject+"/volumes/vol-copy/action":
		f.images["img-from-volume"] = "queued"
		writeJSON(w, 202, map[string]any{"os-volume_upload_image": map[string]any{"image_id": "img-from-volume", "id": "vol-copy"}})
	// Glance
	case strings.HasPrefix(p, "/image/v2/images/") && strings.HasSuffix(p, "/file"):
		unlock()
		f.serveFile(w, r)
	case strings.HasPrefix(p, "/image/v2/images/"):
		id := strings.TrimPrefix(p, "/image/v2/images/")
		st, ok := f.images[id]
		if !ok {
			writeJSON(w, 404, map[string]any{"message": "not found"})
			return
		}
		if st == "queued" {
			f.images[id] = "active" // active on the next poll
		}
		sumOf := f.image
		if f.badChecksum {
			sumOf = append([]byte("tampered"), f.image...)
		}
		m := md5.Sum(sumOf)
		s := sha512.Sum512(sumOf)
		writeJSON(w, 200, map[string]any{"id": id, "name": "coldcase-image", "status": st, "size": len(f.image),
			"checksum": hex.EncodeToString(m[:]), "os_hash_algo": "sha512", "os_hash_value": hex.EncodeToString(s[:])})
	default:
		f.t.Errorf("fake cloud: unexpected %s %s", r.Method, r.URL)
		writeJSON(w, 404, map[string]any{"message": "fake cloud does not know " + p})
	}
}

func (f *fakeCloud) issueToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Auth struct {
			Identity struct {
				Methods []string `json:"methods"`
				AC      struct {
					ID     string `json:"id"`
					Secret string `json:"secret"`
				} `json:"application_credential"`
			} `json:"identity"`
		} `json:"auth"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	if req.Auth.Identity.AC.ID != "ac-id" || req.Auth.Identity.AC.Secret != fakeSecret {
		writeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "message": "bad credential"}})
		return
	}
	f.tokenCount++
	tok := fmt.Sprintf("gAAAAA-fake-token-%d", f.tokenCount)
	f.tokens[tok] = true
	ep := func(typ, path string) map[string]any {
		return map[string]any{"type": typ, "name": typ, "endpoints": []map[string]string{{"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": f.url + path}}}
	}
	w.Header().Set("X-Subject-Token", tok)
	writeJSON(w, 201, map[string]any{"token": map[string]any{
		"methods": []string{"application_credential"}, "expires_at": "2099-01-01T00:00:00.000000Z",
		"user":                   map[string]any{"id": "u-1", "name": "responder", "domain": map[string]string{"id": "default", "name": "Default"}},
		"project":                map[string]any{"id": fakeProject, "name": "forensics", "domain": map[string]string{"id": "default", "name": "Default"}},
		"application_credential": map[string]any{"id": "ac-id", "name": "coldcase", "restricted": true},
		"catalog": []any{ep("compute", "/compute/v2.1/"), ep("network", "/network/"), ep("block-storage", "/volume/v3/"+fakeProject+"/"),
			ep("image", "/image/"), ep("identity", "/v3/")},
	}})
}

func (f *fakeCloud) serverAction(w http.ResponseWriter, r *http.Request, body map[string]any) {
	for k, v := range body {
		f.actions = append(f.actions, k)
		switch k {
		case "pause":
			if f.status != "ACTIVE" {
				writeJSON(w, 409, map[string]any{"conflictingRequest": map[string]any{"code": 409,
					"message": "Cannot 'pause' instance " + fakeServer + " while it is in vm_state stopped"}})
				return
			}
			f.status = "PAUSED"
			w.WriteHeader(202)
		case "lock":
			if r.Header.Get("X-OpenStack-Nova-API-Version") < "2.73" {
				f.t.Errorf("lock with a reason sent with microversion %q", r.Header.Get("X-OpenStack-Nova-API-Version"))
			}
			f.lockReason, _ = v.(map[string]any)["locked_reason"].(string)
			w.WriteHeader(202)
		case "createImage":
			f.images["img-from-server"] = "queued"
			w.Header().Set("X-OpenStack-Nova-API-Version", "2.45")
			writeJSON(w, 202, map[string]any{"image_id": "img-from-server"})
		default:
			writeJSON(w, 400, map[string]any{"badRequest": map[string]any{"code": 400, "message": "unknown action " + k}})
		}
	}
}

// serveFile serves image data with Range support, Content-MD5 of the whole
// image in hex (as Glance does, even on 206). With expireOnce, the first
// transfer stops halfway and the token expires at that moment.
func (f *fakeCloud) serveFile(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.fileGets++
	first := f.fileGets == 1
	data := f.image
	f.ranges = append(f.ranges, r.Header.Get("Range"))
	f.mu.Unlock()
	start := 0
	if rg := r.Header.Get("Range"); rg != "" {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		if err != nil || n < 0 || n >= len(data) {
			w.WriteHeader(416)
			return
		}
		start = n
	}
	m := md5.Sum(data)
	w.Header().Set("Content-MD5", hex.EncodeToString(m[:]))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)-start))
	status := 200
	if start > 0 {
		status = 206
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
	}
	w.WriteHeader(status)
	if first && f.stallOnce != nil {
		w.Write(data[start : start+len(data)/2])
		w.(http.Flusher).Flush()
		close(f.stallOnce)
		<-r.Context().Done() // until the client gives up (Ctrl-C)
		return
	}
	if first && f.expireOnce {
		w.Write(data[start : start+len(data)/2])
		w.(http.Flusher).Flush()
		f.mu.Lock()
		f.tokens = map[string]bool{} // every token expires now
		f.mu.Unlock()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	w.Write(data[start:])
}
