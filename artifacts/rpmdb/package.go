package rpmdb

import (
	"fmt"
	"path"
	"strconv"
	"time"
)

// RPMFILE_* flags (rpmfiles.h).
const (
	FileConfig  = 1 << 0
	FileDoc     = 1 << 1
	FileMissing = 1 << 3 // %config(missingok)
	FileGhost   = 1 << 6 // not in the payload; no digest
)

// Digest algorithms (PGP hash numbers, as FILEDIGESTALGO stores them).
var digestAlgos = map[uint64]string{1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}

// Package is one installed package.
type Package struct {
	// HNum is the database's record number (sqlite hnum, BDB key).
	HNum    uint32 `json:"hnum"`
	Name    string `json:"name"`
	Epoch   *int64 `json:"epoch,omitempty"` // nil when the package has none
	Version string `json:"version"`
	Release string `json:"release"`
	Arch    string `json:"arch,omitempty"`
	// InstallTime and BuildTime are zero when absent.
	InstallTime time.Time `json:"install_time,omitzero"`
	BuildTime   time.Time `json:"build_time,omitzero"`
	BuildHost   string    `json:"build_host,omitempty"`
	Vendor      string    `json:"vendor,omitempty"`
	Packager    string    `json:"packager,omitempty"`
	SourceRPM   string    `json:"source_rpm,omitempty"`
	Summary     string    `json:"summary,omitempty"`
	// DigestAlgo names the algorithm of Files[].Digest: "md5" (rpm's
	// default when FILEDIGESTALGO is absent), "sha1", "sha256", …, or
	// "pgp-hash-N" for one we do not know.
	DigestAlgo string `json:"digest_algo,omitempty"`
	Files      []File `json:"files,omitempty"`
}

// File is one file a package installed.
type File struct {
	Path   string    `json:"path"`
	Digest string    `json:"digest,omitempty"` // lower-case hex; empty for dirs, links, ghosts
	Size   int64     `json:"size"`
	Mode   uint16    `json:"mode"` // st_mode: type and permission bits
	Mtime  time.Time `json:"mtime"`
	Flags  uint32    `json:"flags"`
	User   string    `json:"user,omitempty"`
	Group  string    `json:"group,omitempty"`
	LinkTo string    `json:"link_to,omitempty"`
}

// Config reports %config files (admins edit them legitimately).
func (f File) Config() bool { return f.Flags&FileConfig != 0 }

// EVR returns "[epoch:]version-release".
func (p *Package) EVR() string {
	s := p.Version + "-" + p.Release
	if p.Epoch != nil {
		s = strconv.FormatInt(*p.Epoch, 10) + ":" + s
	}
	return s
}

// NEVRA returns "name-[epoch:]version-release.arch" as rpm -q shows it
// (without the epoch rpm omits).
func (p *Package) NEVRA() string {
	s := p.Name + "-" + p.EVR()
	if p.Arch != "" {
		s += "." + p.Arch
	}
	return s
}

// MaxFiles bounds a package's file list; larger lists are an error (the
// biggest real packages ship about 100 000 files).
const MaxFiles = 1 << 18

// NewPackage reads the fields of a parsed header. Parallel file arrays of
// differing lengths are an error.
func NewPackage(h *Header) (*Package, error) {
	p := &Package{
		Name: h.String(TagName), Version: h.String(TagVersion), Release: h.String(TagRelease),
		Arch: h.String(TagArch), Vendor: h.String(TagVendor), Packager: h.String(TagPackager),
		SourceRPM: h.String(TagSourceRPM), BuildHost: h.String(TagBuildHost), Summary: h.String(TagSummary),
	}
	if p.Name == "" {
		return nil, fmt.Errorf("%w: no name", ErrHeader)
	}
	if e, ok := h.Int(TagEpoch); ok {
		v := int64(int32(uint32(e)))
		p.Epoch = &v
	}
	if t, ok := h.Int(TagInstallTime); ok && t != 0 {
		p.InstallTime = time.Unix(int64(uint32(t)), 0).UTC()
	}
	if t, ok := h.Int(TagBuildTime); ok && t != 0 {
		p.BuildTime = time.Unix(int64(uint32(t)), 0).UTC()
	}
	names, err := fileNames(h)
	if err != nil {
		return nil, fmt.Errorf("%w: package %s: %v", ErrHeader, p.Name, err)
	}
	if len(names) == 0 {
		return p, nil
	}
	if len(names) > MaxFiles {
		return nil, fmt.Errorf("%w: package %s: %d files exceed the %d limit", ErrHeader, p.Name, len(names), MaxFiles)
	}
	p.DigestAlgo = "md5"
	if a, ok := h.Int(TagFileDigestAlgo); ok {
		if n, known := digestAlgos[a]; known {
			p.DigestAlgo = n
		} else {
			p.DigestAlgo = "pgp-hash-" + strconv.FormatUint(a, 10)
		}
	}
	n := len(names)
	sizes := h.Ints(TagLongFileSizes)
	if sizes == nil {
		sizes = h.Ints(TagFileSizes)
	}
	modes, mtimes, flags := h.Ints(TagFileModes), h.Ints(TagFileMtimes), h.Ints(TagFileFlags)
	digests, users, groups, links := h.Strings(TagFileDigests), h.Strings(TagFileUserName), h.Strings(TagFileGroupName), h.Strings(TagFileLinkTos)
	for _, a := range []struct {
		name string
		n    int
	}{{"sizes", len(sizes)}, {"modes", len(modes)}, {"mtimes", len(mtimes)}, {"flags", len(flags)},
		{"digests", len(digests)}, {"user names", len(users)}, {"group names", len(groups)}, {"link targets", len(links)}} {
		if a.n != 0 && a.n != n {
			return nil, fmt.Errorf("%w: package %s: %d file %s for %d files", ErrHeader, p.Name, a.n, a.name, n)
		}
	}
	p.Files = make([]File, n)
	for i, name := range names {
		f := &p.Files[i]
		f.Path = name
		if len(sizes) > 0 {
			f.Size = int64(sizes[i])
		}
		if len(modes) > 0 {
			f.Mode = uint16(modes[i])
		}
		if len(mtimes) > 0 {
			f.Mtime = time.Unix(int64(uint32(mtimes[i])), 0).UTC()
		}
		if len(flags) > 0 {
			f.Flags = uint32(flags[i])
		}
		if len(digests) > 0 {
			f.Digest = digests[i]
		}
		if len(users) > 0 {
			f.User = users[i]
		}
		if len(groups) > 0 {
			f.Group = groups[i]
		}
		if len(links) > 0 {
			f.LinkTo = links[i]
		}
	}
	return p, nil
}

// fileNames joins DIRNAMES[DIRINDEXES[i]] + BASENAMES[i], or returns the
// old FILENAMES (rpm < 4.0 headers).
func fileNames(h *Header) ([]string, error) {
	base := h.Strings(TagBaseNames)
	if base == nil {
		return h.Strings(TagOldFilenames), nil
	}
	dirs, idx := h.Strings(TagDirNames), h.Ints(TagDirIndexes)
	if len(idx) != len(base) {
		return nil, fmt.Errorf("%d dir indexes for %d base names", len(idx), len(base))
	}
	out := make([]string, len(base))
	for i, b := range base {
		if idx[i] >= uint64(len(dirs)) {
			return nil, fmt.Errorf("file %d: dir index %d of %d dir names", i, idx[i], len(dirs))
		}
		out[i] = dirs[idx[i]] + b
		if out[i] != "" && out[i][0] == '/' {
			out[i] = path.Clean(out[i])
		}
	}
	return out, nil
}

// ParsePackage parses a header blob into a Package.
func ParsePackage(blob []byte) (*Package, error) {
	h, err := ParseHeader(blob)
	if err != nil {
		return nil, err
	}
	return NewPackage(h)
}
