package image

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/coldcase-dfir/coldcase/image/internal/inflate"
)

// vmdk reads VMware's hosted sparse extents (monolithicSparse, and
// streamOptimized — what cloud exports produce — whose grains are zlib
// streams behind markers and whose header sits in a footer), and descriptor
// files listing FLAT, SPARSE and ZERO extents. A delta disk reads its
// parent, named by parentFileNameHint, where its grains are unallocated.

const (
	vmdkGDAtEnd        = 0xffffffffffffffff
	vmdkFlagZeroGrain  = 1 << 2
	vmdkFlagMarkers    = 1 << 17
	vmdkMaxGrain       = 2 << 20 // bytes; qemu writes 64 KiB grains
	vmdkMaxDescriptor  = 1 << 20
	vmdkMaxExtents     = 1 << 16
	vmdkMaxGDBytes     = 64 << 20
	vmdkMarkerFooter   = 3
	vmdkMarkerEOS      = 0
	vmdkDeflate        = 1
	vmdkMaxSectorCount = 1 << 53 // bytes must fit int64
)

type vmdkSparse struct {
	name       string
	f          io.ReaderAt
	fsize      int64
	version    uint32
	flags      uint32
	capacity   int64 // bytes
	grain      int64 // bytes
	gtes       int64 // entries per grain table
	gd         []uint32
	compressed bool
	markers    bool
	gts        fileCache
	descriptor string
}

// parseSparseHeader reads the 512-byte KDMV header at off.
func parseVMDKHeader(name string, r io.ReaderAt, off int64) (h []byte, err error) {
	h = make([]byte, 512)
	if err := readFull(r, h, off); err != nil {
		return nil, fmt.Errorf("vmdk %s: sparse header at %#x: %w", name, off, err)
	}
	if string(h[:4]) != "KDMV" {
		return nil, fmt.Errorf("vmdk %s: sparse header at %#x: bad magic %q", name, off, h[:4])
	}
	return h, nil
}

func openSparseExtent(o *opener, name string, r io.ReaderAt, size int64) (*vmdkSparse, error) {
	h, err := parseVMDKHeader(name, r, 0)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	hoff := int64(0)
	if le.Uint64(h[56:]) == vmdkGDAtEnd {
		// streamOptimized: the footer (marker, header, end-of-stream
		// marker in the last three sectors) takes precedence.
		if size < 1536+512 {
			return nil, fmt.Errorf("vmdk %s: grain directory at end, but file too short (%d bytes) for a footer", name, size)
		}
		hoff = size - 1024
		var m [512]byte
		if err := readFull(r, m[:], size-1536); err != nil {
			return nil, fmt.Errorf("vmdk %s: footer marker at %#x: %w", name, size-1536, err)
		}
		if le.Uint32(m[12:]) != vmdkMarkerFooter {
			return nil, fmt.Errorf("vmdk %s: footer marker at %#x: type %d, want %d", name, size-1536, le.Uint32(m[12:]), vmdkMarkerFooter)
		}
		if h, err = parseVMDKHeader(name, r, hoff); err != nil {
			return nil, err
		}
		if le.Uint64(h[56:]) == vmdkGDAtEnd {
			return nil, fmt.Errorf("vmdk %s: footer at %#x: grain directory offset still at-end", name, hoff)
		}
	}
	s := &vmdkSparse{name: name, f: r, fsize: size, gts: o.caches.tableCache()}
	s.version = le.Uint32(h[4:])
	s.flags = le.Uint32(h[8:])
	capSectors := le.Uint64(h[12:])
	grainSectors := le.Uint64(h[20:])
	descOff, descSize := le.Uint64(h[28:]), le.Uint64(h[36:])
	s.gtes = int64(le.Uint32(h[44:]))
	gdOff := le.Uint64(h[56:])
	s.compressed = le.Uint16(h[77:]) == vmdkDeflate
	s.markers = s.flags&vmdkFlagMarkers != 0
	at := func(field int64) int64 { return hoff + field }
	switch {
	case s.version == 0 || s.version > 3:
		return nil, fmt.Errorf("vmdk %s: header at %#x: version %d: %w", name, at(4), s.version, ErrUnsupported)
	case grainSectors == 0 || grainSectors&(grainSectors-1) != 0 || grainSectors*512 > vmdkMaxGrain:
		return nil, fmt.Errorf("vmdk %s: header at %#x: grain size %d sectors invalid", name, at(20), grainSectors)
	case s.gtes <= 0 || s.gtes > 512:
		return nil, fmt.Errorf("vmdk %s: header at %#x: %d entries per grain table (want 1..512)", name, at(44), s.gtes)
	case capSectors > vmdkMaxSectorCount/512:
		return nil, fmt.Errorf("vmdk %s: header at %#x: capacity %d sectors too large", name, at(12), capSectors)
	}
	if c := le.Uint16(h[77:]); c != 0 && c != vmdkDeflate {
		return nil, fmt.Errorf("vmdk %s: header at %#x: compression algorithm %d: %w", name, at(77), c, ErrUnsupported)
	}
	s.capacity = int64(capSectors) * 512
	s.grain = int64(grainSectors) * 512
	gdCover := s.gtes * s.grain
	ngd := (s.capacity + gdCover - 1) / gdCover
	if ngd*4 > vmdkMaxGDBytes || gdOff > uint64(size)/512 || int64(gdOff)*512+ngd*4 > size {
		return nil, fmt.Errorf("vmdk %s: grain directory at sector %#x (%d entries): past end of file (%d bytes)", name, gdOff, ngd, size)
	}
	raw := make([]byte, ngd*4)
	if err := readFull(r, raw, int64(gdOff)*512); err != nil {
		return nil, fmt.Errorf("vmdk %s: grain directory at %#x: %w", name, gdOff*512, err)
	}
	s.gd = make([]uint32, ngd)
	for i := range s.gd {
		s.gd[i] = le.Uint32(raw[i*4:])
	}
	if descOff != 0 && descSize != 0 {
		if descSize*512 > vmdkMaxDescriptor || descOff > uint64(size)/512 || int64(descOff+descSize)*512 > size {
			return nil, fmt.Errorf("vmdk %s: embedded descriptor at sector %#x (%d sectors): outside the file", name, descOff, descSize)
		}
		d := make([]byte, descSize*512)
		if err := readFull(r, d, int64(descOff)*512); err != nil {
			return nil, fmt.Errorf("vmdk %s: embedded descriptor at %#x: %w", name, descOff*512, err)
		}
		if i := bytes.IndexByte(d, 0); i >= 0 {
			d = d[:i]
		}
		s.descriptor = string(d)
	}
	return s, nil
}

func (s *vmdkSparse) gt(i int64) ([]byte, int64, error) {
	sec := int64(s.gd[i])
	if sec == 0 {
		return nil, 0, nil
	}
	if t, ok := s.gts.get(sec); ok {
		return t, sec * 512, nil
	}
	off, n := sec*512, s.gtes*4
	if off+n > s.fsize {
		return nil, 0, fmt.Errorf("vmdk %s: grain table %d at %#x: past end of file (%d bytes)", s.name, i, off, s.fsize)
	}
	t := make([]byte, n)
	if err := readFull(s.f, t, off); err != nil {
		return nil, 0, fmt.Errorf("vmdk %s: grain table %d at %#x: %w", s.name, i, off, err)
	}
	s.gts.put(sec, t)
	return t, off, nil
}

// grainAt describes grain gi (entry j of table t).
func (s *vmdkSparse) grainAt(t []byte, toff int64, j int64) (extent, error) {
	v := int64(binary.LittleEndian.Uint32(t[j*4:]))
	switch {
	case v == 0:
		return extent{kind: extParent, n: s.grain}, nil
	case v == 1 && s.flags&vmdkFlagZeroGrain != 0:
		return extent{kind: extZero, n: s.grain}, nil
	case s.compressed:
		off := v * 512
		if off >= s.fsize {
			return extent{}, fmt.Errorf("vmdk %s: grain table at %#x entry %d: grain at %#x past end of file", s.name, toff, j, off)
		}
		return extent{kind: extCompressed, n: s.grain, host: off}, nil
	}
	return extent{kind: extData, n: s.grain, host: v * 512}, nil
}

func (s *vmdkSparse) mapAt(off, want int64) (extent, error) {
	gi := off / s.grain
	ti, j := gi/s.gtes, gi%s.gtes
	if ti >= int64(len(s.gd)) {
		return extent{}, fmt.Errorf("vmdk %s: guest offset %#x beyond grain directory", s.name, off)
	}
	in := off % s.grain
	t, toff, err := s.gt(ti)
	if err != nil {
		return extent{}, err
	}
	if t == nil {
		return extent{kind: extParent, n: (ti+1)*s.gtes*s.grain - off}, nil
	}
	e, err := s.grainAt(t, toff, j)
	if err != nil {
		return extent{}, err
	}
	if e.kind == extCompressed {
		e.unit = gi * s.grain
		e.n -= in
		return e, nil
	}
	e.n -= in
	if e.kind == extData {
		e.host += in
	}
	for j++; e.n < want && j < s.gtes; j++ {
		next, err := s.grainAt(t, toff, j)
		if err != nil || next.kind != e.kind || (e.kind == extData && next.host != e.host+e.n) {
			break
		}
		e.n += next.n
	}
	return e, nil
}

func (s *vmdkSparse) unitSize() int64 { return s.grain }

func (s *vmdkSparse) decompress(dst []byte, e extent) error {
	off := e.host
	clen := min(2*s.grain+1024, s.fsize-off)
	if s.markers {
		var m [12]byte
		if err := readFull(s.f, m[:], off); err != nil {
			return fmt.Errorf("vmdk %s: grain marker at %#x: %w", s.name, off, err)
		}
		n := int64(binary.LittleEndian.Uint32(m[8:]))
		if n == 0 || n > 2*s.grain+1024 {
			return fmt.Errorf("vmdk %s: grain marker at %#x: compressed size %d invalid", s.name, off, n)
		}
		off += 12
		clen = n
	}
	bp := cbufPool.Get().(*[]byte)
	defer cbufPool.Put(bp)
	if int64(cap(*bp)) < clen {
		*bp = make([]byte, clen)
	}
	buf := (*bp)[:clen]
	if err := readFull(s.f, buf, off); err != nil {
		return fmt.Errorf("vmdk %s: compressed grain at %#x: %w", s.name, off, err)
	}
	d := inflatePool.Get().(*inflate.Decoder)
	n, err := d.DecodeZlib(dst, buf)
	inflatePool.Put(d)
	if err == nil && n < len(dst) {
		// The grain holding the disk's last bytes is compressed short.
		if e.unit+int64(n) < s.capacity {
			err = fmt.Errorf("zlib stream ends after %d of %d bytes", n, len(dst))
		}
		clear(dst[n:])
	}
	if err != nil {
		return fmt.Errorf("vmdk %s: compressed grain at %#x (%d bytes): %w", s.name, off, clen, err)
	}
	return nil
}

// vmdkDesc is a parsed descriptor.
type vmdkDesc struct {
	createType string
	parentCID  string
	parentHint string
	extents    []vmdkExtent
}

type vmdkExtent struct {
	access  string
	sectors int64
	typ     string
	file    string
	offset  int64 // sectors, FLAT only
	line    int
}

func parseDescriptor(name, text string) (*vmdkDesc, error) {
	d := &vmdkDesc{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && !strings.ContainsAny(k, "\"") {
			v = strings.Trim(strings.TrimSpace(v), "\"")
			switch strings.TrimSpace(k) {
			case "createType":
				d.createType = v
			case "parentCID":
				d.parentCID = v
			case "parentFileNameHint":
				d.parentHint = v
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 || (f[0] != "RW" && f[0] != "RDONLY" && f[0] != "NOACCESS") {
			continue
		}
		if len(d.extents) >= vmdkMaxExtents {
			return nil, fmt.Errorf("vmdk %s: descriptor line %d: more than %d extents", name, i+1, vmdkMaxExtents)
		}
		sec, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || sec < 0 || sec > vmdkMaxSectorCount/512 {
			return nil, fmt.Errorf("vmdk %s: descriptor line %d: bad extent size %q", name, i+1, f[1])
		}
		e := vmdkExtent{access: f[0], sectors: sec, typ: f[2], line: i + 1}
		if e.typ != "ZERO" {
			q1 := strings.IndexByte(line, '"')
			q2 := strings.LastIndexByte(line, '"')
			if q1 < 0 || q2 <= q1 {
				return nil, fmt.Errorf("vmdk %s: descriptor line %d: extent without a quoted file name", name, i+1)
			}
			e.file = line[q1+1 : q2]
			if rest := strings.Fields(line[q2+1:]); len(rest) > 0 {
				if e.offset, err = strconv.ParseInt(rest[0], 10, 64); err != nil || e.offset < 0 || e.offset > vmdkMaxSectorCount/512 {
					return nil, fmt.Errorf("vmdk %s: descriptor line %d: bad extent offset %q", name, i+1, rest[0])
				}
			}
		}
		d.extents = append(d.extents, e)
	}
	if len(d.extents) == 0 {
		return nil, fmt.Errorf("vmdk %s: invalid descriptor: no extent lines", name)
	}
	return d, nil
}

// shifted reads r from base on: a sparse extent's unallocated grains fall
// through to the parent at the grain's disk offset, not its extent offset.
type shifted struct {
	r    io.ReaderAt
	base int64
}

func (s shifted) ReadAt(p []byte, off int64) (int, error) { return s.r.ReadAt(p, off+s.base) }

func openVMDK(o *opener, src *source) (io.ReaderAt, int64, error) {
	var head [4]byte
	if err := readFull(src.r, head[:], 0); err != nil {
		return nil, 0, fmt.Errorf("vmdk %s: header at 0x0: %w", src.name, err)
	}
	layer := Layer{Path: src.name, Format: "vmdk", FileSize: src.size}
	var d *vmdkDesc
	var sparse []*vmdkSparse // per extent; nil for flat and zero
	var parts []part
	if string(head[:]) == "KDMV" {
		s, err := openSparseExtent(o, src.name, src.r, src.size)
		if err != nil {
			return nil, 0, err
		}
		if s.descriptor == "" {
			d = &vmdkDesc{createType: "monolithicSparse"}
		} else if d, err = parseDescriptor(src.name, s.descriptor); err != nil {
			return nil, 0, err
		}
		// A sparse file opened directly is its own single extent, whatever
		// name its embedded descriptor gives.
		sparse = []*vmdkSparse{s}
		parts = []part{{size: s.capacity}}
		if d.createType == "" {
			d.createType = "monolithicSparse"
		}
	} else {
		if src.size > vmdkMaxDescriptor {
			return nil, 0, fmt.Errorf("vmdk %s: descriptor file of %d bytes too large", src.name, src.size)
		}
		text := make([]byte, src.size)
		if err := readFull(src.r, text, 0); err != nil {
			return nil, 0, fmt.Errorf("vmdk %s: descriptor: %w", src.name, err)
		}
		var err error
		if d, err = parseDescriptor(src.name, string(text)); err != nil {
			return nil, 0, err
		}
		for _, e := range d.extents {
			size := e.sectors * 512
			switch e.typ {
			case "ZERO":
				parts, sparse = append(parts, part{size: size}), append(sparse, nil)
				continue
			case "FLAT", "VMFS", "SPARSE":
			default:
				return nil, 0, fmt.Errorf("vmdk %s: descriptor line %d: extent type %s: %w", src.name, e.line, e.typ, ErrUnsupported)
			}
			es, err := o.openNamed(src, e.file)
			if err != nil {
				return nil, 0, fmt.Errorf("vmdk %s: descriptor line %d: extent %q: %w", src.name, e.line, e.file, err)
			}
			layer.FileSize += es.size
			if e.typ == "SPARSE" {
				s, err := openSparseExtent(o, es.name, es.r, es.size)
				if err != nil {
					return nil, 0, err
				}
				if s.capacity < size {
					return nil, 0, fmt.Errorf("vmdk %s: descriptor line %d: extent %q holds %d bytes, descriptor says %d", src.name, e.line, e.file, s.capacity, size)
				}
				parts, sparse = append(parts, part{size: size}), append(sparse, s)
				continue
			}
			if e.offset*512 > es.size || size > es.size-e.offset*512 {
				return nil, 0, fmt.Errorf("vmdk %s: descriptor line %d: flat extent %q (%d bytes at %#x) past its end (%d bytes)", src.name, e.line, e.file, size, e.offset*512, es.size)
			}
			parts, sparse = append(parts, part{r: es.r, off: e.offset * 512, size: size}), append(sparse, nil)
		}
	}
	layer.Subformat = d.createType
	var total int64
	for _, p := range parts {
		total += p.size
	}
	layer.VirtualSize = total
	for _, s := range sparse {
		if s != nil && s.compressed {
			layer.Compression = "deflate"
		}
	}
	o.layers = append(o.layers, layer)
	var parent io.ReaderAt
	var psize int64
	if d.parentHint != "" && !strings.EqualFold(d.parentCID, "ffffffff") {
		o.layers[len(o.layers)-1].Backing = d.parentHint
		var err error
		if parent, psize, err = o.openRelated(src, d.parentHint, "vmdk"); err != nil {
			return nil, 0, err
		}
	}
	var base int64
	for i, s := range sparse {
		if s != nil {
			m := newMapped(o, "vmdk "+s.name, s, s.f, s.fsize, parts[i].size)
			if parent != nil {
				m.parent, m.psize = shifted{parent, base}, psize-base
			}
			parts[i].r = m
		}
		base += parts[i].size
	}
	if len(parts) == 1 && parts[0].off == 0 && parts[0].r != nil {
		if _, ok := parts[0].r.(*mapped); ok {
			return parts[0].r, total, nil
		}
	}
	if total == 0 {
		return nil, 0, errors.New("vmdk " + src.name + ": empty disk")
	}
	return newConcat(parts), total, nil
}
