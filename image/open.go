package image

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// MaxChain is the longest backing chain Open follows (top layer included).
// Real chains are a handful of snapshots deep; a longer one is hostile.
const MaxChain = 64

// ErrUnsupported marks images whose format is recognised but whose feature
// (encryption, external data file, …) this package does not read.
var ErrUnsupported = errors.New("not supported")

// Open opens the image at path read-only, detecting its format from magic
// bytes, and follows its backing chain.
func Open(path string) (*Image, error) { return OpenFormat(path, "") }

// OpenFormat is Open with the top layer's format forced ("raw", "qcow2",
// "vmdk", "vhd"/"vpc", "vhdx"); "" detects it. Forcing "raw" is how to read
// a raw disk whose first sector happens to look like a container header.
func OpenFormat(path, format string) (*Image, error) {
	o := newFileOpener()
	src, err := o.open(path)
	if err != nil {
		return nil, err
	}
	return o.finish(src, format, true)
}

// OpenSnapshot is Open reading the internal snapshot of the top qcow2 file
// named snapshot (its ID, else its name; see Layer.Snapshots) instead of the
// disk's current state. The backing chain below is the same.
func OpenSnapshot(path, snapshot string) (*Image, error) {
	o := newFileOpener()
	o.snapshot = snapshot
	src, err := o.open(path)
	if err != nil {
		return nil, err
	}
	return o.finish(src, "", true)
}

// openReaderAt opens an image held in r as the given format ("" detects),
// or its internal snapshot.
// Backing files and extents are looked up in files (nil: none) — the
// fuzzers use this to reach every parser without touching the disk.
func openReaderAt(name string, r io.ReaderAt, size int64, format, snapshot string, files map[string][]byte) (*Image, error) {
	o := &opener{snapshot: snapshot, open: func(n string) (*source, error) {
		b, ok := files[n]
		if !ok {
			return nil, fmt.Errorf("%s: %w", n, os.ErrNotExist)
		}
		return &source{name: n, r: bytes.NewReader(b), size: int64(len(b))}, nil
	}}
	return o.finish(&source{name: name, r: r, size: size}, format, false)
}

// source is one file of a chain.
type source struct {
	name string // path as opened, for messages and for resolving relative names
	r    io.ReaderAt
	size int64
	fi   os.FileInfo // nil for in-memory sources
}

type opener struct {
	caches
	snapshot string // internal snapshot of the top file to read, "" for the current state
	open     func(name string) (*source, error)
	chain    []*source // files being opened, top first: loop detection
	layers   []Layer
	closers  []io.Closer
}

func newFileOpener() *opener {
	o := &opener{}
	o.open = func(name string) (*source, error) {
		f, err := os.OpenFile(name, os.O_RDONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("image: %w", err)
		}
		if fi.IsDir() {
			f.Close()
			return nil, fmt.Errorf("image: %s is a directory", name)
		}
		size := fi.Size()
		if !fi.Mode().IsRegular() {
			// Block devices report size 0 in Stat; ask the device.
			if n, err := f.Seek(0, io.SeekEnd); err == nil {
				size = n
			}
		}
		o.closers = append(o.closers, f)
		return &source{name: name, r: f, size: size, fi: fi}, nil
	}
	return o
}

func (o *opener) finish(src *source, format string, split bool) (*Image, error) {
	r, size, err := o.layer(src, format, split)
	if err == nil && o.snapshot != "" && o.layers[0].Snapshot == "" {
		err = fmt.Errorf("image %s: snapshot %q asked for, but this %s file has no internal snapshots", src.name, o.snapshot, o.layers[0].Format)
	}
	if err != nil {
		o.closeAll()
		return nil, err
	}
	return &Image{r: r, size: size, Layers: o.layers, close: o.closers}, nil
}

func (o *opener) closeAll() {
	for _, c := range o.closers {
		c.Close()
	}
	o.closers = nil
}

// resolve names a file referred to by another (backing file, extent,
// parent). Relative names are relative to the referring file's folder.
// For an absolute name, a file of the same base name beside the referring
// file is preferred: chains copied into a case folder keep the paths of the
// host they came from, and the copy — not the live host file — is the
// evidence. Windows paths (VMware, Hyper-V) are reduced to their base name.
func resolve(from *source, name string) string {
	if from.fi == nil {
		return name
	}
	if strings.Contains(name, `\`) && !strings.Contains(name, "/") {
		name = strings.ReplaceAll(name, `\`, "/")
		name = strings.TrimPrefix(name, "./")
	}
	if len(name) > 2 && name[1] == ':' && (name[2] == '/' || name[2] == '\\') {
		name = filepath.Base(strings.ReplaceAll(name, `\`, "/"))
	}
	dir := filepath.Dir(from.name)
	if filepath.IsAbs(name) {
		beside := filepath.Join(dir, filepath.Base(name))
		if fi, err := os.Stat(beside); err == nil && fi.Mode().IsRegular() {
			return beside
		}
		return name
	}
	return filepath.Join(dir, name)
}

// openRelated opens a file named inside from (its backing file, parent or
// an extent) and returns it as a guest-visible reader of the given format
// ("" detects).
func (o *opener) openRelated(from *source, name, format string) (io.ReaderAt, int64, error) {
	if len(o.chain) >= MaxChain {
		return nil, 0, fmt.Errorf("%s: backing chain deeper than %d files", from.name, MaxChain)
	}
	src, err := o.openNamed(from, name)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: backing file %q: %w", from.name, name, err)
	}
	return o.layer(src, format, false)
}

// openNamed opens a file named inside from. It must be a regular file: an
// image naming a device or a FIFO as its backing file or extent would make
// us read the examining host.
func (o *opener) openNamed(from *source, name string) (*source, error) {
	src, err := o.open(resolve(from, name))
	if err != nil {
		return nil, err
	}
	if src.fi != nil && !src.fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", src.name, src.fi.Mode().Type())
	}
	return src, nil
}

func (o *opener) sameFile(a, b *source) bool {
	if a.fi != nil && b.fi != nil {
		return os.SameFile(a.fi, b.fi)
	}
	return a.fi == nil && b.fi == nil && a.name == b.name
}

// layer opens src (and, recursively, what it refers to) as a guest-visible disk.
func (o *opener) layer(src *source, format string, split bool) (io.ReaderAt, int64, error) {
	for _, s := range o.chain {
		if o.sameFile(s, src) {
			return nil, 0, fmt.Errorf("%s: backing chain loop: %s is already in the chain", o.chain[len(o.chain)-1].name, src.name)
		}
	}
	o.chain = append(o.chain, src)
	defer func() { o.chain = o.chain[:len(o.chain)-1] }()

	if format == "" {
		f, err := probe(src)
		if err != nil {
			return nil, 0, err
		}
		format = f
	}
	switch format {
	case "raw":
		if split {
			if r, size, ok, err := o.splitRaw(src); ok || err != nil {
				return r, size, err
			}
		}
		o.layers = append(o.layers, Layer{Path: src.name, Format: "raw", VirtualSize: src.size, FileSize: src.size})
		return src.r, src.size, nil
	case "qcow2":
		return openQcow2(o, src)
	case "vmdk":
		return openVMDK(o, src)
	case "vhd", "vpc":
		return openVHD(o, src)
	case "vhdx":
		return openVHDX(o, src)
	}
	return nil, 0, fmt.Errorf("%s: format %q: %w", src.name, format, ErrUnsupported)
}

// probe detects the format of src from its magic bytes.
func probe(src *source) (string, error) {
	var head [512]byte
	n, err := src.r.ReadAt(head[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("%s: reading header: %w", src.name, err)
	}
	h := head[:n]
	switch {
	case bytes.HasPrefix(h, []byte("QFI\xfb")):
		return "qcow2", nil
	case bytes.HasPrefix(h, []byte("KDMV")):
		return "vmdk", nil
	case bytes.HasPrefix(h, []byte("COWD")):
		return "", fmt.Errorf("%s: vmdk VMFS sparse (COWD) extent: %w", src.name, ErrUnsupported)
	case isDescriptor(h):
		return "vmdk", nil
	case bytes.HasPrefix(h, []byte("vhdxfile")):
		return "vhdx", nil
	case bytes.HasPrefix(h, []byte("conectix")):
		return "vhd", nil
	case bytes.HasPrefix(h, []byte("<<< ")) && bytes.Contains(h[:min(len(h), 64)], []byte("VirtualBox Disk Image")):
		return "", fmt.Errorf("%s: VirtualBox VDI: %w", src.name, ErrUnsupported)
	case bytes.HasPrefix(h, []byte("EVF\x09\x0d\x0a\xff\x00")), bytes.HasPrefix(h, []byte("EVF2\r\n\x81\x00")):
		return "", fmt.Errorf("%s: EnCase EWF (E01): %w", src.name, ErrUnsupported)
	}
	// A fixed VHD is raw data followed by a 512-byte footer; its checksum
	// must hold too, since a raw disk may end in any bytes.
	if src.size >= 1024 {
		if _, err := vhdFooter(src.r, src.size-512); err == nil {
			return "vhd", nil
		}
	}
	return "raw", nil
}

// isDescriptor says whether h starts a text vmdk descriptor file.
func isDescriptor(h []byte) bool {
	s := string(h)
	return strings.HasPrefix(s, "# Disk DescriptorFile") ||
		(strings.Contains(s, "createType=") && !bytes.ContainsRune(h, 0) && strings.HasPrefix(strings.TrimSpace(s), "#"))
}

var splitName = regexp.MustCompile(`^(.*\.)([0-9]{3,})$`)

// maxSegments bounds how many split segments are looked for.
const maxSegments = 100000

// splitRaw joins x.001, x.002, … (or x.000, x.001, …) found beside the first
// segment, as forensic imagers write them. It only applies when the next
// segment exists.
func (o *opener) splitRaw(first *source) (io.ReaderAt, int64, bool, error) {
	if first.fi == nil {
		return nil, 0, false, nil
	}
	m := splitName.FindStringSubmatch(first.name)
	if m == nil {
		return nil, 0, false, nil
	}
	num, err := strconv.Atoi(m[2])
	if err != nil || num > 1 {
		return nil, 0, false, nil
	}
	width := len(m[2])
	name := func(i int) string { return fmt.Sprintf("%s%0*d", m[1], width, i) }
	if _, err := os.Stat(name(num + 1)); err != nil {
		return nil, 0, false, nil
	}
	parts := []part{{r: first.r, size: first.size}}
	layer := Layer{Path: first.name, Format: "raw", Subformat: "split", FileSize: first.size}
	for i := num + 1; i < num+maxSegments; i++ {
		if _, err := os.Stat(name(i)); err != nil {
			break
		}
		s, err := o.open(name(i))
		if err != nil {
			return nil, 0, true, err
		}
		parts = append(parts, part{r: s.r, size: s.size})
		layer.FileSize += s.size
	}
	c := newConcat(parts)
	layer.VirtualSize = c.size
	o.layers = append(o.layers, layer)
	return c, c.size, true, nil
}

func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
