// Package binaries inventories the executables of a guest: every regular
// file that is executable by mode or starts with ELF, PE ("MZ") or script
// ("#!") magic. Each is hashed once (sha256 and md5 through one read),
// described (ELF via its program headers, PE via saferwall/pe), checked
// against the package database (dpkg's, or rpm's through package rpmdb),
// and flagged when it is SUID/SGID, carries file capabilities, is
// world-writable, lives under /tmp, /var/tmp, /dev/shm, a hidden folder
// or a home, is not owned by a package in a system folder, or differs
// from its package's recorded digest (md5, or rpm's sha256).
//
// The walk streams: only flagged binaries are kept in the report; the
// full list goes to Options.Each as it is produced.
//
// Events (source "binaries"), for flagged binaries only: "Modification
// Time", "Metadata Change Time" and "Creation Time" when known; and for
// every PE file "PE Compile Time" (its COFF time stamp, forgeable).
package binaries

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/artifacts/users"
	cfs "github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/timeline"
)

func init() {
	artifacts.Register(artifacts.Extractor{
		Name:  "binaries",
		Order: 30,
		Run: func(ctx context.Context, env *artifacts.Env) (any, error) {
			return Extract(ctx, env, DefaultOptions())
		},
	})
}

// Options tune the walk.
type Options struct {
	// MaxHashSize: larger files are described but not hashed (warning).
	MaxHashSize int64
	// MaxPESize: larger PE files are hashed but not parsed (saferwall/pe
	// needs the whole image in memory).
	MaxPESize int64
	// Workers hash and parse in parallel; the guest FS must be safe for
	// concurrent use (coldcase's drivers are).
	Workers int
	// Each, when set, receives every binary (flagged or not) as it is
	// described, from one goroutine at a time. Use it for a full list.
	Each func(Binary)
	// Root limits the walk to a sub-folder ("" or "/": the whole guest).
	Root string
	// MaxFlagged bounds Report.Flagged; beyond it flagged binaries are
	// counted (and still passed to Each) but not kept, with a warning.
	MaxFlagged int
}

// DefaultOptions hashes files up to 512 MiB with up to 4 workers.
func DefaultOptions() Options {
	w := runtime.NumCPU()
	if w > 4 {
		w = 4
	}
	return Options{MaxHashSize: 512 << 20, MaxPESize: 64 << 20, Workers: w, MaxFlagged: 100000}
}

// Flags set on Binary.Flags.
const (
	FlagSUID              = "suid"
	FlagSGID              = "sgid"
	FlagCapabilities      = "capabilities"
	FlagWorldWritable     = "world_writable"
	FlagTempDir           = "temp_dir"    // under /tmp, /var/tmp or /dev/shm
	FlagHiddenPath        = "hidden_path" // a folder or the file itself starts with "."
	FlagHomeDir           = "home_dir"    // under /home or /root
	FlagNotPackaged       = "not_packaged"
	FlagPackageMismatch   = "package_md5_mismatch"      // differs from the digest (md5 or sha256) its package recorded
	FlagConffileModified  = "package_conffile_modified" // the same for a dpkg conffile or rpm %config file
	FlagUnreadable        = "unreadable"                // could not be read to the end
	FlagNotHashedTooLarge = "not_hashed_too_large"
)

// Binary is one executable file.
type Binary struct {
	Path   string     `json:"path"`
	Inode  uint64     `json:"inode,omitempty"`
	Size   int64      `json:"size"`
	Mode   string     `json:"mode"` // as ls -l shows it, "-rwsr-xr-x"
	Perm   string     `json:"perm"` // octal incl. setuid/setgid/sticky, "4755"
	UID    *uint32    `json:"uid,omitempty"`
	GID    *uint32    `json:"gid,omitempty"`
	Owner  string     `json:"owner,omitempty"` // name of UID in the guest's /etc/passwd
	Mtime  time.Time  `json:"mtime"`
	Ctime  *time.Time `json:"ctime,omitempty"`
	Btime  *time.Time `json:"btime,omitempty"`
	SHA256 string     `json:"sha256,omitempty"`
	MD5    string     `json:"md5,omitempty"`
	// Format from the magic: "elf", "pe", "script", or "other" (executable
	// bit only).
	Format       string        `json:"format"`
	Shebang      string        `json:"shebang,omitempty"` // a script's first line without "#!"
	ELF          *ELFInfo      `json:"elf,omitempty"`
	PE           *PEInfo       `json:"pe,omitempty"`
	Capabilities *Capabilities `json:"capabilities,omitempty"`
	// Package owning the path (dpkg or rpm), and the digest it recorded:
	// md5 (dpkg, rpm before 4.6 or built so) or sha256 (rpm's default).
	Package       string   `json:"package,omitempty"`
	PackageMD5    string   `json:"package_md5,omitempty"`
	PackageSHA256 string   `json:"package_sha256,omitempty"`
	Flags         []string `json:"flags,omitempty"`
	Errors        []string `json:"errors,omitempty"`
	// Evidence is filled for flagged binaries and those handed to Each.
	Evidence timeline.Evidence `json:"evidence"`
}

// Report is the binaries extractor's record set.
type Report struct {
	Total   int64    `json:"total"`   // executables found
	Hashed  int64    `json:"hashed"`  // of which hashed
	Flagged []Binary `json:"flagged"` // binaries with at least one flag, by path
	// FlaggedTotal counts flagged binaries, including any beyond
	// Options.MaxFlagged that Flagged does not hold.
	FlaggedTotal int64 `json:"flagged_total"`
	// PackageDB is "dpkg" or "rpm" when ownership was checked, ""
	// otherwise; PackageNote says why not, or which digests were not
	// compared.
	PackageDB   string `json:"package_db"`
	PackageNote string `json:"package_note,omitempty"`
	// Files walked (all types) and folders skipped on errors.
	Files int64 `json:"files_walked"`
}

// Event source and descriptions.
const (
	Source        = "binaries"
	DescModified  = "Modification Time"
	DescCreated   = "Creation Time"
	DescChanged   = "Metadata Change Time"
	DescPECompile = "PE Compile Time"
)

// maxDepth ends walks through a hostile filesystem's directory loops.
const maxDepth = 256

const sniffLen = 4096

type job struct {
	path string
	fi   iofs.FileInfo
}

// Extract walks the guest.
func Extract(ctx context.Context, env *artifacts.Env, opts Options) (*Report, error) {
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.MaxHashSize <= 0 {
		opts.MaxHashSize = DefaultOptions().MaxHashSize
	}
	if opts.MaxPESize <= 0 {
		opts.MaxPESize = DefaultOptions().MaxPESize
	}
	if opts.MaxFlagged <= 0 {
		opts.MaxFlagged = DefaultOptions().MaxFlagged
	}
	fsys := env.FS
	warn := func(p, msg string) { env.Warn(artifacts.Warning{Source: Source, Path: p, Msg: msg}) }
	db := loadPackageDB(fsys, warn)
	rep := &Report{PackageDB: db.kind, PackageNote: db.note}
	names := ownerNames(fsys)

	jobs := make(chan job, 64)
	var mu sync.Mutex // guards rep, Each and the event sink
	var wg sync.WaitGroup
	for w := 0; w < opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf, head := make([]byte, 256<<10), make([]byte, sniffLen)
			for j := range jobs {
				b, ok := describe(fsys, j, db, opts, buf, head)
				if !ok {
					continue
				}
				if b.UID != nil {
					b.Owner = names[*b.UID]
				}
				b.Evidence = timeline.Evidence{Image: env.Image, Volume: env.VolumeFor(b.Path), Path: b.Path, Inode: b.Inode}
				mu.Lock()
				rep.Total++
				if b.SHA256 != "" {
					rep.Hashed++
				}
				if len(b.Flags) > 0 {
					rep.FlaggedTotal++
					if len(rep.Flagged) < opts.MaxFlagged {
						rep.Flagged = append(rep.Flagged, b)
					} else if len(rep.Flagged) == opts.MaxFlagged && rep.FlaggedTotal == int64(opts.MaxFlagged)+1 {
						warn(b.Path, fmt.Sprintf("more than %d flagged binaries: the rest are counted, not kept", opts.MaxFlagged))
					}
				}
				if opts.Each != nil {
					opts.Each(b)
				}
				// Sinks need not be safe for concurrent use: emit here.
				if len(b.Flags) > 0 || b.PE != nil {
					emitEvents(env, b)
				}
				mu.Unlock()
				for _, e := range b.Errors {
					warn(b.Path, e)
				}
			}
		}()
	}

	root := users.Rel(opts.Root)
	werr := iofs.WalkDir(fsys, root, func(p string, d iofs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			warn(users.Abs(p), "walk: "+err.Error())
			if d != nil && d.IsDir() {
				return iofs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if strings.Count(p, "/") >= maxDepth {
				warn(users.Abs(p), fmt.Sprintf("deeper than %d folders, not walked", maxDepth))
				return iofs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			warn(users.Abs(p), err.Error())
			return nil
		}
		mu.Lock()
		rep.Files++
		mu.Unlock()
		select {
		case jobs <- job{p, fi}:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})
	close(jobs)
	wg.Wait()
	sort.Slice(rep.Flagged, func(i, j int) bool { return rep.Flagged[i].Path < rep.Flagged[j].Path })
	if werr != nil && !errors.Is(werr, iofs.SkipDir) {
		return rep, werr
	}
	return rep, nil
}

func ownerNames(fsys iofs.FS) map[uint32]string {
	m := map[uint32]string{}
	if data, err := artifacts.ReadSmall(fsys, "etc/passwd"); err == nil {
		pw, _ := users.ParsePasswd(data)
		for _, u := range pw {
			if _, dup := m[u.UID]; !dup {
				m[u.UID] = u.Name
			}
		}
	}
	return m
}

// describe opens one regular file, decides from its mode and first bytes
// whether it is an executable, and if so hashes and parses it in one read.
func describe(fsys iofs.FS, j job, db *packageDB, opts Options, buf, head []byte) (Binary, bool) {
	fi := j.fi
	execBit := fi.Mode().Perm()&0o111 != 0
	f, err := fsys.Open(j.path)
	if err != nil {
		if !execBit {
			return Binary{}, false
		}
		b := newBinary(j.path, fi)
		b.Errors = append(b.Errors, "open: "+err.Error())
		b.Flags = append(b.Flags, FlagUnreadable)
		return b, true
	}
	defer f.Close()
	n, rerr := io.ReadFull(f, head[:sniffLen])
	head = head[:n]
	format := sniff(head)
	if format == "" {
		if !execBit {
			return Binary{}, false
		}
		format = "other"
	}
	b := newBinary(j.path, fi)
	b.Format = format
	if format == "script" {
		l := head[2:]
		if i := bytes.IndexByte(l, '\n'); i >= 0 {
			l = l[:i]
		}
		b.Shebang = strings.TrimSpace(string(bytes.TrimSuffix(l, []byte{'\r'})))
	}
	if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
		b.Errors = append(b.Errors, "read: "+rerr.Error())
		b.Flags = append(b.Flags, FlagUnreadable)
	}

	// Hash (and keep the bytes of a PE small enough to parse).
	var keep *bytes.Buffer
	if format == "pe" && fi.Size() <= opts.MaxPESize {
		keep = bytes.NewBuffer(make([]byte, 0, fi.Size()))
	}
	if fi.Size() > opts.MaxHashSize {
		b.Flags = append(b.Flags, FlagNotHashedTooLarge)
		b.Errors = append(b.Errors, fmt.Sprintf("%d bytes, larger than the %d-byte hash limit: not hashed", fi.Size(), opts.MaxHashSize))
	} else if rerr == nil || rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
		sh, m5 := sha256.New(), md5.New()
		w := io.MultiWriter(sh, m5)
		if keep != nil {
			w = io.MultiWriter(sh, m5, keep)
		}
		w.Write(head)
		if _, err := io.CopyBuffer(w, onlyReader{f}, buf); err != nil {
			b.Errors = append(b.Errors, "read: "+err.Error())
			b.Flags = append(b.Flags, FlagUnreadable)
			keep = nil
		} else {
			b.SHA256, b.MD5 = hex.EncodeToString(sh.Sum(nil)), hex.EncodeToString(m5.Sum(nil))
		}
	}

	switch format {
	case "elf":
		if ra, ok := f.(io.ReaderAt); ok {
			info, err := ReadELF(ra, fi.Size())
			if err != nil {
				b.Errors = append(b.Errors, err.Error())
			}
			b.ELF = info
		} else {
			b.Errors = append(b.Errors, "elf: file does not support ReadAt, metadata not read")
		}
	case "pe":
		if keep != nil {
			info, err := ReadPE(keep.Bytes())
			if err != nil {
				b.Errors = append(b.Errors, err.Error())
			}
			b.PE = info
		}
	}
	if st := cfs.StatOf(fi); st != nil {
		if raw, ok := st.Xattrs["security.capability"]; ok {
			c, err := DecodeCapabilities(raw)
			if err != nil {
				b.Errors = append(b.Errors, err.Error())
				c = &Capabilities{Raw: hex.EncodeToString(raw)}
			}
			b.Capabilities = c
		}
	}
	flag(&b, fi, db)
	return b, true
}

// onlyReader hides WriterTo/ReaderFrom so CopyBuffer uses our buffer.
type onlyReader struct{ io.Reader }

func sniff(h []byte) string {
	switch {
	case bytes.HasPrefix(h, []byte("\x7fELF")):
		return "elf"
	case bytes.HasPrefix(h, []byte("MZ")) && len(h) >= 64:
		// e_lfanew must point at "PE\0\0" (checked when it lies in the head).
		off := int(binary.LittleEndian.Uint32(h[0x3c:]))
		if off >= 0 && off+4 <= len(h) && !bytes.Equal(h[off:off+4], []byte("PE\x00\x00")) {
			return ""
		}
		return "pe"
	case bytes.HasPrefix(h, []byte("#!")):
		return "script"
	}
	return ""
}

func newBinary(p string, fi iofs.FileInfo) Binary {
	m := users.MetaFromInfo(p, fi)
	b := Binary{Path: m.Path, Inode: m.Inode, Size: m.Size, Mode: m.Mode, UID: m.UID, GID: m.GID, Mtime: m.Mtime, Ctime: m.Ctime, Btime: m.Btime}
	b.Perm = fmt.Sprintf("%04o", users.PermBits(fi))
	return b
}

// systemDirs are where a file not owned by any package is worth a look.
var systemDirs = []string{"/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/", "/usr/", "/etc/", "/boot/", "/opt/"}

func flag(b *Binary, fi iofs.FileInfo, db *packageDB) {
	perm := users.PermBits(fi)
	if perm&0o4000 != 0 {
		b.Flags = append(b.Flags, FlagSUID)
	}
	if perm&0o2000 != 0 {
		b.Flags = append(b.Flags, FlagSGID)
	}
	if b.Capabilities != nil {
		b.Flags = append(b.Flags, FlagCapabilities)
	}
	if perm&0o002 != 0 {
		b.Flags = append(b.Flags, FlagWorldWritable)
	}
	p := b.Path
	for _, d := range []string{"/tmp/", "/var/tmp/", "/dev/shm/"} {
		if strings.HasPrefix(p, d) {
			b.Flags = append(b.Flags, FlagTempDir)
			break
		}
	}
	// /usr/lib/debug/.build-id is the debug packages' own hidden folder.
	if !strings.HasPrefix(p, "/usr/lib/debug/") {
		for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
			if strings.HasPrefix(part, ".") {
				b.Flags = append(b.Flags, FlagHiddenPath)
				break
			}
		}
	}
	if strings.HasPrefix(p, "/home/") || strings.HasPrefix(p, "/root/") {
		b.Flags = append(b.Flags, FlagHomeDir)
	}
	if db.kind == "" {
		return
	}
	pkg, algo, sum, conf, ok := db.lookup(p)
	if !ok {
		if strings.HasPrefix(p, "/var/lib/dpkg/") {
			return // maintainer scripts
		}
		for _, d := range systemDirs {
			if strings.HasPrefix(p, d) {
				b.Flags = append(b.Flags, FlagNotPackaged)
				break
			}
		}
		return
	}
	b.Package = pkg
	var have, want string
	switch algo {
	case "md5":
		b.PackageMD5 = hex.EncodeToString(sum)
		have, want = b.MD5, b.PackageMD5
	case "sha256":
		b.PackageSHA256 = hex.EncodeToString(sum)
		have, want = b.SHA256, b.PackageSHA256
	}
	if have != "" && have != want {
		if conf {
			b.Flags = append(b.Flags, FlagConffileModified)
		} else {
			b.Flags = append(b.Flags, FlagPackageMismatch)
		}
	}
}

func emitEvents(env *artifacts.Env, b Binary) {
	ev := b.Evidence
	what := "Binary"
	if len(b.Flags) > 0 {
		what = "Flagged binary (" + strings.Join(b.Flags, ",") + ")"
	}
	attrs := map[string]string{"sha256": b.SHA256, "flags": strings.Join(b.Flags, ","), "format": b.Format}
	send := func(t time.Time, desc, verb string) {
		if t.IsZero() {
			return
		}
		env.Emit(timeline.Event{Time: t, TimestampDesc: desc, Source: Source, Path: b.Path, Evidence: ev, Attrs: attrs,
			Message: what + " " + b.Path + " " + verb})
	}
	if len(b.Flags) > 0 {
		send(b.Mtime, DescModified, "modified")
		if b.Btime != nil {
			send(*b.Btime, DescCreated, "created")
		}
		if b.Ctime != nil {
			send(*b.Ctime, DescChanged, "metadata changed")
		}
	}
	if b.PE != nil && b.PE.TimeDate != 0 {
		send(b.PE.CompileTime, DescPECompile, "compiled (PE header time stamp, forgeable)")
	}
}
