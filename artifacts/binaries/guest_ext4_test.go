package binaries_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/artifacts/binaries"
	"github.com/coldcase-dfir/coldcase/artifacts/persistence"
	"github.com/coldcase-dfir/coldcase/artifacts/system"
	"github.com/coldcase-dfir/coldcase/artifacts/users"
	"github.com/coldcase-dfir/coldcase/fs/ext4"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
	"github.com/coldcase-dfir/coldcase/timeline"
)

// TestGuestOnExt4 runs the four host extractors through the registry on an
// ext4 image built by testdata/artifacts/host/build-guest.sh and read by
// coldcase's own ext4 driver, so owner, SUID bits, capabilities (xattrs),
// symlinks, inodes and birth times come from real on-disk metadata. The
// independent readers are getcap, sha256sum and debugfs on the same inputs.
func TestGuestOnExt4(t *testing.T) {
	testenv.NeedTool(t, "mkfs.ext4", "debugfs", "setcap", "getcap", "sha256sum")
	dir := t.TempDir()
	testenv.Run(t, "bash", filepath.Join(testenv.RepoRoot(t), "testdata/artifacts/host/build-guest.sh"), dir)
	img, err := os.Open(filepath.Join(dir, "guest.ext4"))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	fi, _ := img.Stat()
	fsys, err := ext4.Open(img, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	env := artifacts.NewEnv(fsys)
	var c timeline.Collect
	env.Events = &c
	results := map[string]any{}
	for _, x := range artifacts.Extractors() {
		r, err := x.Run(context.Background(), env)
		if err != nil {
			t.Fatalf("%s: %v", x.Name, err)
		}
		results[x.Name] = r
	}
	for _, w := range env.Warnings() {
		t.Logf("warning: %s", w)
	}
	// Every record set must serialise (artifacts.json).
	if js, err := json.Marshal(results); err != nil || len(js) < 1000 {
		t.Fatalf("json: %v (%d bytes)", err, len(js))
	}

	bin := results["binaries"].(*binaries.Report)
	by := map[string]binaries.Binary{}
	for _, b := range bin.Flagged {
		by[b.Path] = b
	}
	trueSum := strings.Fields(string(testenv.Output(t, "sha256sum", filepath.Join(dir, "tree/usr/bin/capbin"))))[0]
	if b := by["/usr/bin/suidbin"]; b.Perm != "4755" || !slices.Contains(b.Flags, binaries.FlagSUID) || b.Owner != "root" || b.SHA256 != trueSum || b.ELF == nil {
		t.Errorf("suidbin %+v", b)
	}
	cb := by["/usr/bin/capbin"]
	if cb.Capabilities == nil || !slices.Contains(cb.Flags, binaries.FlagCapabilities) {
		t.Fatalf("capbin %+v", cb)
	}
	// getcap prints "path cap_net_admin,cap_net_raw=ep".
	gc := strings.Fields(string(testenv.Output(t, "getcap", filepath.Join(dir, "tree/usr/bin/capbin"))))
	names, flags, _ := strings.Cut(gc[len(gc)-1], "=")
	want := strings.Split(names, ",")
	slices.Sort(want)
	got := slices.Clone(cb.Capabilities.Permitted)
	slices.Sort(got)
	if !slices.Equal(got, want) || cb.Capabilities.Effective != strings.Contains(flags, "e") {
		t.Errorf("capabilities %+v, getcap %v", cb.Capabilities, gc)
	}
	if p := by["/tmp/.x/payload"]; p.Owner != "alice" || *p.UID != 1000 || !slices.Equal(p.Flags, []string{binaries.FlagTempDir, binaries.FlagHiddenPath}) || p.Inode == 0 || p.Btime == nil {
		t.Errorf("payload %+v", p)
	}

	per := results["persistence"].(*persistence.Report)
	var evil, cron *persistence.Entry
	for i, e := range per.Entries {
		switch e.File {
		case "/etc/systemd/system/evil.service":
			evil = &per.Entries[i]
		case "/etc/cron.d/beacon":
			cron = &per.Entries[i]
		}
	}
	if evil == nil || evil.Enabled == nil || !*evil.Enabled || !slices.Equal(evil.WantedBy, []string{"multi-user.target"}) || evil.FileMeta.Inode == 0 {
		t.Errorf("evil.service %+v", evil)
	}
	if cron == nil || cron.Owner != "root" || !slices.Contains(cron.Indicators, "hidden_path") {
		t.Errorf("cron %+v", cron)
	}

	us := results["users"].(*users.Report)
	if len(us.AuthorizedKeys) != 1 {
		t.Fatalf("keys %+v", us.AuthorizedKeys)
	}
	k := us.AuthorizedKeys[0]
	st := string(testenv.Output(t, "debugfs", "-R", "stat /home/alice/.ssh/authorized_keys", filepath.Join(dir, "guest.ext4")))
	m := regexp.MustCompile(`Inode: (\d+)`).FindStringSubmatch(st)
	if m == nil || k.FileMeta.Inode == 0 || m[1] != strconv.FormatUint(k.FileMeta.Inode, 10) || k.FileMeta.UID == nil || *k.FileMeta.UID != 1000 {
		t.Errorf("authorized_keys meta %+v, debugfs %q", k.FileMeta, m)
	}

	sys := results["system"].(*system.Report)
	if sys.Hostname != "guest01" || sys.OS.ID != "debian" || sys.InstallTime == nil || !sys.InstallTime.Equal(time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)) {
		t.Errorf("system %+v install %v", sys.OS, sys.InstallTime)
	}
	inode := false
	for _, e := range c.Events {
		if e.Evidence.Path == "/etc/cron.d/beacon" && e.Evidence.Inode != 0 {
			inode = true
		}
	}
	if !inode {
		t.Error("no cron event with an inode in its evidence")
	}
}
