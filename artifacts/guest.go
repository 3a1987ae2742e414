package artifacts

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// maxSmallFile bounds what ReadSmall reads: configuration files are small,
// and a hostile 10 GiB /etc/passwd must not be read whole into memory.
const maxSmallFile = 16 << 20

// ReadSmall reads a configuration-sized file, refusing one larger than
// 16 MiB.
func ReadSmall(fsys iofs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(trimSlash(name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSmallFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSmallFile {
		return nil, fmt.Errorf("%s: larger than %d bytes, not read", name, maxSmallFile)
	}
	return b, nil
}

// GuestZone reads the guest's time zone from /etc/localtime (TZif data;
// its name from the symlink target when it is one), with /etc/timezone as
// fallback.
func GuestZone(fsys iofs.FS) (*time.Location, string, error) {
	name := ""
	if rl, ok := fsys.(iofs.ReadLinkFS); ok {
		if t, err := rl.ReadLink("etc/localtime"); err == nil {
			if i := strings.Index(t, "zoneinfo/"); i >= 0 {
				name = t[i+len("zoneinfo/"):]
			}
		}
	}
	if name == "" {
		if b, err := ReadSmall(fsys, "etc/timezone"); err == nil {
			name = strings.TrimSpace(string(b))
		}
	}
	if b, err := ReadSmall(fsys, "etc/localtime"); err == nil {
		if name == "" {
			name = "localtime"
		}
		loc, err := time.LoadLocationFromTZData(name, b)
		if err != nil {
			return nil, "", fmt.Errorf("/etc/localtime: %w", err)
		}
		return loc, name, nil
	}
	if name != "" {
		// /etc/timezone names a zone but the TZif file is missing: use the
		// host's zone database for that name.
		loc, err := time.LoadLocation(name)
		if err != nil {
			return nil, "", fmt.Errorf("/etc/timezone %q: %w", name, err)
		}
		return loc, name, nil
	}
	return nil, "", errors.New("neither /etc/localtime nor /etc/timezone present")
}

// GuestHostname reads /etc/hostname (or HOSTNAME= of /etc/sysconfig/network).
func GuestHostname(fsys iofs.FS) string {
	if b, err := ReadSmall(fsys, "etc/hostname"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				return l
			}
		}
	}
	if b, err := ReadSmall(fsys, "etc/sysconfig/network"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "HOSTNAME="); ok {
				return strings.Trim(v, `"'`)
			}
		}
	}
	return ""
}

var rotSuffix = regexp.MustCompile(`^[.-](\d+|\d{8})(\.gz|\.xz|\.zst|\.bz2)?$`)

// Rotated lists a log and its rotations (base, base.1, base.2.gz,
// base-20260101, …) oldest first, as paths relative to the FS root.
func Rotated(fsys iofs.FS, base string) []string {
	base = trimSlash(base)
	dir, file := path.Split(base)
	if dir == "" {
		dir = "."
	}
	ents, err := iofs.ReadDir(fsys, strings.TrimSuffix(dir, "/"))
	if err != nil {
		return nil
	}
	type rot struct {
		name string
		key  int // larger is older
	}
	var rs []rot
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasPrefix(n, file) {
			continue
		}
		rest := n[len(file):]
		if rest == "" {
			rs = append(rs, rot{n, 0})
			continue
		}
		m := rotSuffix.FindStringSubmatch(rest)
		if m == nil {
			continue
		}
		k, _ := strconv.Atoi(m[1])
		if len(m[1]) == 8 { // dateext: larger date is newer
			k = 1<<40 - k
		}
		rs = append(rs, rot{n, k})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].key > rs[j].key })
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = path.Join(strings.TrimSuffix(dir, "/"), r.name)
	}
	return out
}

// OpenLog opens a log file, decompressing gzip, xz or zstd content (detected
// by magic, not by name). The caller closes the returned reader.
func OpenLog(fsys iofs.FS, name string) (io.ReadCloser, error) {
	f, err := fsys.Open(trimSlash(name))
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 64<<10)
	magic, _ := br.Peek(6)
	var r io.Reader
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		r = zr
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		xr, err := xz.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: xz: %w", name, err)
		}
		r = xr
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: zstd: %w", name, err)
		}
		return &closers{Reader: zr, close: func() error { zr.Close(); return f.Close() }}, nil
	default:
		r = br
	}
	return &closers{Reader: r, close: f.Close}, nil
}

type closers struct {
	io.Reader
	close func() error
}

func (c *closers) Close() error { return c.close() }
