package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/fs/internal/fsutil"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

func TestGuardNamesEntry(t *testing.T) {
	err := guard(42, "test", func() error {
		var m map[string]int
		m["x"] = 1 // a nil-map write panics, as a library bug might
		return nil
	})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "MFT entry 42") {
		t.Fatalf("guard: %v", err)
	}
}

func utf16Bytes(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func TestReparseTarget(t *testing.T) {
	build := func(tag uint32, sub, print string) []byte {
		s, p := utf16Bytes(sub), utf16Bytes(print)
		b := binary.LittleEndian.AppendUint32(nil, tag)
		b = binary.LittleEndian.AppendUint16(b, 0) // data length, unused here
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(p)))
		if tag == reparseSymlink {
			b = binary.LittleEndian.AppendUint32(b, 0)
		}
		return append(append(b, s...), p...)
	}
	if got := reparseTarget(build(reparseSymlink, `\??\C:\Users\x`, `C:\Users\x`)); got != `\??\C:\Users\x` {
		t.Errorf("symlink: %q", got)
	}
	if got := reparseTarget(build(reparseMountPoint, `\??\C:\Users`, `C:\Users`)); got != `\??\C:\Users` {
		t.Errorf("junction: %q", got)
	}
	b := build(reparseSymlink, `\??\C:\x`, "")
	binary.LittleEndian.PutUint16(b[10:], 0xfff0) // length past the attribute
	if got := reparseTarget(b); got != "" {
		t.Errorf("hostile length: %q", got)
	}
	f := &FS{}
	for in, want := range map[string]string{`\??\C:\Users\x`: "Users/x", `\??\C:\`: ".", `\\server\share`: ""} {
		got, ok := f.localTarget(in)
		if want == "" && ok || want != "" && got != want {
			t.Errorf("localTarget(%q) = %q %v", in, got, ok)
		}
	}
}

// A directory index entry that points back to an ancestor: walking the
// tree must end with ErrLoop, not run forever.
func TestHostileDirectoryCycle(t *testing.T) {
	raw := toRaw(t, testenv.PeerData(t, "images/dfvfs/windows_volume.qcow2"))
	img, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	f := openFile(t, raw)
	win, _ := f.Stat("Windows")
	cfg, _ := f.Stat("Windows/System32/config")
	winID, cfgID := cfs.StatOf(win).Inode, cfs.StatOf(cfg).Inode
	name := utf16Bytes("config")
	patched := 0
	for o := bytes.Index(img, name); o >= 0; {
		e := o - 66 - 16 // INDEX_RECORD_ENTRY header, then the $FILE_NAME key
		if e >= 0 && img[o-2] == 6 && binary.LittleEndian.Uint64(img[e:])&0xffffffffffff == cfgID {
			binary.LittleEndian.PutUint32(img[e:], uint32(winID))
			binary.LittleEndian.PutUint16(img[e+4:], 0)
			patched++
		}
		next := bytes.Index(img[o+1:], name)
		if next < 0 {
			break
		}
		o += 1 + next
	}
	if patched == 0 {
		t.Fatal("index entry for config not found")
	}
	g, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	err = iofs.WalkDir(g, ".", func(p string, d iofs.DirEntry, err error) error { return err })
	if !errors.Is(err, ErrLoop) {
		t.Fatalf("walk: %v", err)
	}
}

// fuzzBase is a small real NTFS volume: a 2 MiB mkntfs image with a file
// and an alternate data stream when ntfs-3g is here, else util-linux's.
func fuzzBase(f *testing.F) []byte {
	mk, err1 := testenv.LookPath("mkntfs")
	cp, err2 := testenv.LookPath("ntfscp")
	if err1 == nil && err2 == nil {
		dir := f.TempDir()
		img := filepath.Join(dir, "seed.img")
		src := filepath.Join(dir, "x")
		os.WriteFile(src, []byte(strings.Repeat("fuzz ", 1000)), 0o644)
		os.WriteFile(img, nil, 0o644)
		os.Truncate(img, 2<<20)
		testenv.Run(f, mk, "-q", "-F", "-Q", "-L", "SEED", img)
		testenv.Run(f, cp, "-q", img, src, "a.txt")
		testenv.Run(f, cp, "-q", "-N", "ads", img, src, "a.txt")
		if b, err := os.ReadFile(img); err == nil {
			return b
		}
	}
	return nil
}

// FuzzNTFS opens and walks a real small volume with one mutation: the
// patch lands in the MFT area (high bit of off set) or anywhere. Errors
// are fine; panics that escape guard, hangs and huge allocations are not.
func FuzzNTFS(f *testing.F) {
	base := fuzzBase(f)
	if base == nil {
		f.Skip("mkntfs/ntfscp not installed")
	}
	f.Add(uint32(0), []byte{})
	f.Add(uint32(0x80000000), []byte{0xff, 0xff, 0xff, 0xff})
	f.Add(uint32(0x80000000|0x1400+0x38), []byte{0x00, 0x10})
	f.Add(uint32(0x30), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		img := bytes.Clone(base)
		o := int(off&0x7fffffff) % len(img)
		if off&0x80000000 != 0 {
			o = 0x4000 + int(off&0xffff)%(len(img)-0x4000)
		}
		copy(img[o:], patch)
		fs, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			return
		}
		fs.Info()
		n := 0
		iofs.WalkDir(fs, ".", func(p string, d iofs.DirEntry, err error) error {
			if n++; n > 2000 {
				return iofs.SkipAll
			}
			if err != nil || d.IsDir() {
				return nil
			}
			if fl, err := fs.Open(p); err == nil {
				io.Copy(io.Discard, io.LimitReader(fl.(io.Reader), 4<<20))
			}
			if ss, err := fs.Streams(p); err == nil {
				for _, s := range ss {
					iofs.ReadFile(fs, p+":"+s.Name)
				}
			}
			fs.ReadLink(p)
			return nil
		})
	})
}

// Reparse targets and index names come from the volume: neither may name
// a path outside it or a path element io/fs cannot hold.
func TestHostileNames(t *testing.T) {
	f := &FS{}
	for _, in := range []string{`\??\C:\..\..\etc\passwd`, `\??\C:\a\..\..\b`, `..\x`, `\??\Volume{0d3e}\x`, `\\?\UNC\host\x`} {
		if got, ok := f.localTarget(in); ok {
			t.Errorf("localTarget(%q) = %q, accepted", in, got)
		}
	}
	for in, want := range map[string]string{`\??\D:\a\.\b\\c\`: "a/b/c", `/x//y/`: "x/y"} {
		if got, ok := f.localTarget(in); !ok || got != want {
			t.Errorf("localTarget(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", ".", "..", "a/b", "a\x00b", "../x"} {
		got := fsutil.SafeName(in)
		if !iofs.ValidPath(got) || strings.Contains(got, "/") || got == "." {
			t.Errorf("fsutil.SafeName(%q) = %q, not one path element", in, got)
		}
	}
	if got := fsutil.SafeName("Résumé.txt"); got != "Résumé.txt" {
		t.Errorf("SafeName changed a valid name: %q", got)
	}
}
