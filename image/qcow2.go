package image

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/coldcase-dfir/coldcase/image/internal/inflate"
)

// qcow2 reads QEMU's copy-on-write format, versions 2 and 3, following
// docs/interop/qcow2.txt: two-level cluster tables (L1 → L2 → data),
// compressed clusters (zlib/deflate or zstd), zero clusters, extended L2
// entries with 32 subclusters, and a backing file for unallocated ranges.
// It is ours rather than go-qcow2reader so that every table offset is
// checked against the file, L2 tables and inflated clusters are cached
// within a memory budget, and subclusters cost no more than clusters.

const (
	qcowMaxL1Bytes   = 32 << 20 // qemu's QCOW_MAX_L1_SIZE
	qcowOffsetMask   = 0x00fffffffffffe00
	qcowCompressed   = 1 << 62
	qcowZeroFlag     = 1
	qcowExtBacking   = 0xe2792aca
	qcowExtDataFile  = 0x44415441
	qcowExtEncrypt   = 0x0537be77
	qcowIncDirty     = 1 << 0
	qcowIncCorrupt   = 1 << 1
	qcowIncDataFile  = 1 << 2
	qcowIncCompType  = 1 << 3
	qcowIncExtL2     = 1 << 4
	qcowIncKnown     = qcowIncDirty | qcowIncCorrupt | qcowIncDataFile | qcowIncCompType | qcowIncExtL2
	qcowMaxBackingFN = 1023
)

type qcow2 struct {
	name        string
	f           io.ReaderAt
	fsize       int64
	clusterBits uint
	clusterSize int64
	extL2       bool
	entryBytes  int64 // 8, or 16 with extended L2
	l2Bits      uint  // log2 of entries per L2 table
	grainBits   uint  // clusterBits, or subcluster bits with extended L2
	l1          []uint64
	zstd        bool
	csizeShift  uint
	csizeMask   uint64
	coffMask    uint64
	l2s         fileCache
}

func openQcow2(o *opener, src *source) (io.ReaderAt, int64, error) {
	name := src.name
	hdr := make([]byte, 112)
	n, err := src.r.ReadAt(hdr, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("qcow2 %s: header: %w", name, err)
	}
	be := binary.BigEndian
	if n < 72 || string(hdr[:4]) != "QFI\xfb" {
		return nil, 0, fmt.Errorf("qcow2 %s: header at 0x0: truncated or bad magic (%d bytes)", name, n)
	}
	q := &qcow2{name: name, f: src.r, fsize: src.size}
	version := be.Uint32(hdr[4:])
	if version != 2 && version != 3 {
		return nil, 0, fmt.Errorf("qcow2 %s: header at 0x4: version %d: %w", name, version, ErrUnsupported)
	}
	backingOff := be.Uint64(hdr[8:])
	backingLen := be.Uint32(hdr[16:])
	q.clusterBits = uint(be.Uint32(hdr[20:]))
	vsize := be.Uint64(hdr[24:])
	crypt := be.Uint32(hdr[32:])
	l1Size := uint64(be.Uint32(hdr[36:]))
	l1Off := be.Uint64(hdr[40:])
	rtOff := be.Uint64(hdr[48:])
	rtClusters := uint64(be.Uint32(hdr[56:]))
	headerLen := uint64(72)
	var incompat uint64
	compType := byte(0)
	if q.clusterBits < 9 || q.clusterBits > 21 {
		return nil, 0, fmt.Errorf("qcow2 %s: header at 0x14: cluster_bits %d outside 9..21", name, q.clusterBits)
	}
	q.clusterSize = 1 << q.clusterBits
	if version == 3 {
		if n < 104 {
			return nil, 0, fmt.Errorf("qcow2 %s: header at 0x0: truncated v3 header (%d bytes)", name, n)
		}
		incompat = be.Uint64(hdr[72:])
		headerLen = uint64(be.Uint32(hdr[100:]))
		if headerLen < 104 || headerLen > uint64(q.clusterSize) {
			return nil, 0, fmt.Errorf("qcow2 %s: header at 0x64: header_length %d invalid", name, headerLen)
		}
		if ro := be.Uint32(hdr[96:]); ro > 6 {
			return nil, 0, fmt.Errorf("qcow2 %s: header at 0x60: refcount_order %d > 6", name, ro)
		}
		if headerLen > 104 && n > 104 {
			compType = hdr[104]
		}
	}
	if crypt != 0 {
		return nil, 0, fmt.Errorf("qcow2 %s: header at 0x20: encrypted image (method %d): %w", name, crypt, ErrUnsupported)
	}
	if unk := incompat &^ qcowIncKnown; unk != 0 {
		return nil, 0, fmt.Errorf("qcow2 %s: header at 0x48: unknown incompatible features %#x: %w", name, unk, ErrUnsupported)
	}
	if incompat&qcowIncDataFile != 0 {
		return nil, 0, fmt.Errorf("qcow2 %s: header at 0x48: external data file: %w", name, ErrUnsupported)
	}
	switch {
	case incompat&qcowIncCompType == 0 && compType != 0:
		return nil, 0, fmt.Errorf("qcow2 %s: header at 0x68: compression type %d without the feature bit", name, compType)
	case compType == 1:
		q.zstd = true
	case compType != 0:
		return nil, 0, fmt.Errorf("qcow2 %s: header at 0x68: compression type %d: %w", name, compType, ErrUnsupported)
	}
	q.extL2 = incompat&qcowIncExtL2 != 0
	q.entryBytes, q.grainBits = 8, q.clusterBits
	if q.extL2 {
		if q.clusterBits < 14 {
			return nil, 0, fmt.Errorf("qcow2 %s: header at 0x14: extended L2 needs clusters of 16 KiB or more, have %d", name, q.clusterSize)
		}
		q.entryBytes, q.grainBits = 16, q.clusterBits-5
	}
	q.l2Bits = q.clusterBits - 3
	if q.extL2 {
		q.l2Bits--
	}
	q.csizeShift = 62 - (q.clusterBits - 8)
	q.csizeMask = 1<<(q.clusterBits-8) - 1
	q.coffMask = 1<<q.csizeShift - 1

	// The virtual size decides how much L1 is needed; a size whose L1
	// would exceed qemu's limit is refused before anything is allocated.
	if vsize > 1<<62 {
		return nil, 0, fmt.Errorf("qcow2 %s: header at 0x18: virtual size %d too large", name, vsize)
	}
	cover := uint64(1) << (q.l2Bits + q.clusterBits)
	needL1 := vsize / cover
	if vsize%cover != 0 {
		needL1++
	}
	if needL1*8 > qcowMaxL1Bytes {
		return nil, 0, fmt.Errorf("qcow2 %s: header at 0x18: virtual size %d needs an L1 table of %d entries, more than qemu's limit", name, vsize, needL1)
	}
	if l1Size < needL1 {
		return nil, 0, fmt.Errorf("qcow2 %s: header at 0x24: L1 table has %d entries, virtual size %d needs %d", name, l1Size, vsize, needL1)
	}
	if err := q.checkTable("L1 table", l1Off, needL1*8); err != nil {
		return nil, 0, err
	}
	if err := q.checkTable("refcount table", rtOff, rtClusters*uint64(q.clusterSize)); err != nil {
		return nil, 0, err
	}
	snaps, err := q.snapshots(be.Uint32(hdr[60:]), be.Uint64(hdr[64:]), vsize)
	if err != nil {
		return nil, 0, err
	}
	l1What, chosen := "L1 table", ""
	if top := len(o.layers) == 0; top && o.snapshot != "" {
		s, err := findSnapshot(snaps, o.snapshot)
		if err != nil {
			return nil, 0, fmt.Errorf("qcow2 %s: %w", name, err)
		}
		// The snapshot's own L1 table and size; a snapshot taken before
		// the disk grew has a shorter table, whose missing entries are
		// unallocated.
		vsize, chosen = uint64(s.DiskSize), s.ID
		l1What = fmt.Sprintf("snapshot %s L1 table", s.ID)
		needL1 = vsize / cover
		if vsize%cover != 0 {
			needL1++
		}
		if needL1*8 > qcowMaxL1Bytes || s.l1Size*8 > qcowMaxL1Bytes {
			return nil, 0, fmt.Errorf("qcow2 %s: snapshot %s: disk size %d or L1 size %d past qemu's limit", name, s.ID, vsize, s.l1Size)
		}
		l1Off, l1Size = s.l1Off, min(s.l1Size, needL1)
	} else {
		l1Size = needL1
	}
	if err := q.checkTable(l1What, l1Off, l1Size*8); err != nil {
		return nil, 0, err
	}
	raw := make([]byte, l1Size*8)
	if err := readFull(q.f, raw, int64(l1Off)); err != nil {
		return nil, 0, fmt.Errorf("qcow2 %s: %s at %#x: %w", name, l1What, l1Off, err)
	}
	q.l1 = make([]uint64, needL1)
	for i := range l1Size {
		q.l1[i] = be.Uint64(raw[i*8:])
	}

	// Header extensions and the backing file name live in the first cluster.
	layer := Layer{Path: name, Format: "qcow2", Subformat: fmt.Sprintf("v%d", version), VirtualSize: int64(vsize), FileSize: src.size,
		Snapshots: snaps, Snapshot: chosen}
	if version == 2 {
		layer.Subformat = "v2 (compat=0.10)"
	}
	if q.extL2 {
		layer.Subformat += " extended_l2"
	}
	first := make([]byte, min(q.clusterSize, src.size))
	if err := readFull(q.f, first, 0); err != nil {
		return nil, 0, fmt.Errorf("qcow2 %s: first cluster: %w", name, err)
	}
	backingFormat := ""
	for pos := headerLen; pos+8 <= uint64(len(first)); {
		typ, l := be.Uint32(first[pos:]), uint64(be.Uint32(first[pos+4:]))
		if typ == 0 {
			break
		}
		if pos+8+l > uint64(len(first)) {
			return nil, 0, fmt.Errorf("qcow2 %s: header extension %#x at %#x: length %d past the first cluster", name, typ, pos, l)
		}
		data := first[pos+8 : pos+8+l]
		switch typ {
		case qcowExtBacking:
			backingFormat = string(data)
		case qcowExtDataFile:
			return nil, 0, fmt.Errorf("qcow2 %s: header extension at %#x: external data file %q: %w", name, pos, data, ErrUnsupported)
		case qcowExtEncrypt:
			return nil, 0, fmt.Errorf("qcow2 %s: header extension at %#x: encryption: %w", name, pos, ErrUnsupported)
		}
		pos += 8 + (l+7)&^7
	}
	q.l2s = o.caches.tableCache()
	if q.hasCompressed() {
		layer.Compression = "zlib"
		if q.zstd {
			layer.Compression = "zstd"
		}
	}
	m := newMapped(o, "qcow2 "+name, q, q.f, q.fsize, int64(vsize))
	o.layers = append(o.layers, layer)
	if backingOff != 0 && backingLen != 0 {
		if backingLen > qcowMaxBackingFN || backingOff+uint64(backingLen) > uint64(len(first)) {
			return nil, 0, fmt.Errorf("qcow2 %s: header at 0x8: backing file name at %#x (%d bytes) outside the first cluster", name, backingOff, backingLen)
		}
		backing := string(first[backingOff : backingOff+uint64(backingLen)])
		o.layers[len(o.layers)-1].Backing = backing
		format := backingFormat
		if format == "vpc" {
			format = "vhd"
		}
		pr, psize, err := o.openRelated(src, backing, format)
		if err != nil {
			return nil, 0, err
		}
		m.parent, m.psize = pr, psize
	}
	return m, int64(vsize), nil
}

// qcowScanBytes bounds the L2 tables Open looks through for compressed
// clusters, to report the layer's compression without reading a large
// image's whole metadata (16 tables of 64 KiB clusters: 8 GiB of disk).
const qcowScanBytes = 1 << 20

// hasCompressed says whether the first L2 tables hold a compressed cluster.
// Damaged tables are left for reads to report.
func (q *qcow2) hasCompressed() bool {
	seen := 0
	for i := range q.l1 {
		if int64(seen)*q.clusterSize >= qcowScanBytes {
			break
		}
		t, err := q.l2(int64(i))
		if err != nil || t == nil {
			continue
		}
		seen++
		for j := int64(0); j+8 <= int64(len(t)); j += q.entryBytes {
			if binary.BigEndian.Uint64(t[j:])&qcowCompressed != 0 {
				return true
			}
		}
	}
	return false
}

// checkTable checks that a table lies cluster-aligned inside the file.
func (q *qcow2) checkTable(what string, off, length uint64) error {
	if length == 0 {
		return nil
	}
	if off&uint64(q.clusterSize-1) != 0 {
		return fmt.Errorf("qcow2 %s: %s at %#x: not cluster-aligned", q.name, what, off)
	}
	if off > uint64(q.fsize) || length > uint64(q.fsize)-off {
		return fmt.Errorf("qcow2 %s: %s at %#x (%d bytes): past end of file (%d bytes)", q.name, what, off, length, q.fsize)
	}
	return nil
}

// l2 returns the L2 table of L1 entry i (nil when unallocated).
func (q *qcow2) l2(i int64) ([]byte, error) {
	off := int64(q.l1[i] & qcowOffsetMask)
	if off == 0 {
		return nil, nil
	}
	if t, ok := q.l2s.get(off); ok {
		return t, nil
	}
	if err := q.checkTable(fmt.Sprintf("L2 table (L1 entry %d)", i), uint64(off), uint64(q.clusterSize)); err != nil {
		return nil, err
	}
	t := make([]byte, q.clusterSize)
	if err := readFull(q.f, t, off); err != nil {
		return nil, fmt.Errorf("qcow2 %s: L2 table at %#x: %w", q.name, off, err)
	}
	q.l2s.put(off, t)
	return t, nil
}

// grain describes the grain (cluster, or subcluster with extended L2) with
// index g inside table t.
func (q *qcow2) grain(t []byte, tableOff int64, g int64) (extent, error) {
	be := binary.BigEndian
	gs := int64(1) << q.grainBits
	ci := g >> (q.clusterBits - q.grainBits)
	e := be.Uint64(t[ci*q.entryBytes:])
	if e&qcowCompressed != 0 {
		coff := e & q.coffMask
		nsect := (e >> q.csizeShift) & q.csizeMask
		clen := int64(nsect+1)*512 - int64(coff&511)
		if coff == 0 || int64(coff) >= q.fsize {
			return extent{}, fmt.Errorf("qcow2 %s: L2 table at %#x entry %d: compressed cluster at %#x past end of file", q.name, tableOff, ci, coff)
		}
		return extent{kind: extCompressed, n: q.clusterSize, host: int64(coff), clen: clen}, nil
	}
	host := int64(e & qcowOffsetMask)
	if host&(q.clusterSize-1) != 0 {
		return extent{}, fmt.Errorf("qcow2 %s: L2 table at %#x entry %d: data cluster %#x not aligned", q.name, tableOff, ci, host)
	}
	if !q.extL2 {
		switch {
		case e&qcowZeroFlag != 0:
			return extent{kind: extZero, n: gs}, nil
		case host == 0:
			return extent{kind: extParent, n: gs}, nil
		}
		return extent{kind: extData, n: gs, host: host}, nil
	}
	bm := be.Uint64(t[ci*16+8:])
	sc := uint(g & 31)
	alloc, zero := bm>>sc&1 != 0, bm>>(32+sc)&1 != 0
	switch {
	case alloc && zero:
		return extent{}, fmt.Errorf("qcow2 %s: L2 table at %#x entry %d: subcluster %d both allocated and zero", q.name, tableOff, ci, sc)
	case zero:
		return extent{kind: extZero, n: gs}, nil
	case !alloc:
		return extent{kind: extParent, n: gs}, nil
	case host == 0:
		return extent{}, fmt.Errorf("qcow2 %s: L2 table at %#x entry %d: allocated subcluster %d without a cluster", q.name, tableOff, ci, sc)
	}
	return extent{kind: extData, n: gs, host: host + int64(sc)*gs}, nil
}

func (q *qcow2) mapAt(off, want int64) (extent, error) {
	tableBits := q.l2Bits + q.clusterBits
	l1i := off >> tableBits
	if l1i >= int64(len(q.l1)) {
		return extent{}, fmt.Errorf("qcow2 %s: guest offset %#x beyond L1", q.name, off)
	}
	tableEnd := (l1i + 1) << tableBits
	t, err := q.l2(l1i)
	if err != nil {
		return extent{}, err
	}
	if t == nil {
		return extent{kind: extParent, n: min(want, tableEnd-off)}, nil
	}
	tableOff := int64(q.l1[l1i] & qcowOffsetMask)
	gs := int64(1) << q.grainBits
	g := (off - l1i<<tableBits) >> q.grainBits
	in := off & (gs - 1)
	e, err := q.grain(t, tableOff, g)
	if err != nil {
		return extent{}, err
	}
	if e.kind == extCompressed {
		e.unit = off &^ (q.clusterSize - 1)
		e.n = e.unit + q.clusterSize - off
		return e, nil
	}
	e.n -= in
	if e.kind == extData {
		e.host += in
	}
	// Extend over following grains of the same kind (and, for data,
	// contiguous in the file) so large reads become few large preads.
	ngrains := int64(1) << (tableBits - q.grainBits)
	for g++; e.n < want && g < ngrains; g++ {
		next, err := q.grain(t, tableOff, g)
		if err != nil || next.kind != e.kind || (e.kind == extData && next.host != e.host+e.n) {
			break
		}
		e.n += next.n
	}
	return e, nil
}

func (q *qcow2) unitSize() int64 { return q.clusterSize }

var (
	inflatePool = sync.Pool{New: func() any { return inflate.NewDecoder() }}
	zstdPool    = sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(64<<20), zstd.WithDecoderMaxWindow(8<<20))
		if err != nil {
			panic(err) // only bad options fail
		}
		return d
	}}
	cbufPool = sync.Pool{New: func() any { b := make([]byte, 0, 128<<10); return &b }}
)

func (q *qcow2) decompress(dst []byte, e extent) error {
	clen := min(e.clen, q.fsize-e.host) // the last sector may be cut by EOF
	bp := cbufPool.Get().(*[]byte)
	defer cbufPool.Put(bp)
	if int64(cap(*bp)) < clen {
		*bp = make([]byte, clen)
	}
	buf := (*bp)[:clen]
	if err := readFull(q.f, buf, e.host); err != nil {
		return fmt.Errorf("qcow2 %s: compressed cluster at %#x: %w", q.name, e.host, err)
	}
	var err error
	if q.zstd {
		err = inflateZstd(dst, buf)
	} else {
		err = inflateRaw(dst, buf)
	}
	if err != nil {
		return fmt.Errorf("qcow2 %s: compressed cluster at %#x (%d bytes): %w", q.name, e.host, clen, err)
	}
	return nil
}

// inflateRaw fills dst from the raw deflate stream in src.
func inflateRaw(dst, src []byte) error {
	d := inflatePool.Get().(*inflate.Decoder)
	defer inflatePool.Put(d)
	n, err := d.Decode(dst, src)
	if err == nil && n < len(dst) {
		err = fmt.Errorf("deflate stream ends after %d of %d bytes", n, len(dst))
	}
	return err
}

// inflateZstd fills dst from the zstd frame in src; bytes after the frame
// are sector padding.
func inflateZstd(dst, src []byte) error {
	d := zstdPool.Get().(*zstd.Decoder)
	defer zstdPool.Put(d)
	if err := d.Reset(bytes.NewReader(src)); err != nil {
		return err
	}
	_, err := io.ReadFull(d, dst)
	return err
}

// Limits qemu sets on the snapshot table (block/qcow2.h).
const (
	qcowMaxSnapshots      = 65536
	qcowMaxSnapshotsBytes = 64 << 20
	qcowMaxSnapshotExtra  = 1024
)

// snapshots reads the internal snapshot table: n entries at off, each a
// 40-byte fixed part, extra data (in qemu ≥ 4.2: the VM state size as 64
// bits, the disk size, the instruction count), the ID and the name, padded
// to 8 bytes. vsize stands for the disk size of snapshots without one.
func (q *qcow2) snapshots(n uint32, off, vsize uint64) ([]Snapshot, error) {
	if n == 0 {
		return nil, nil
	}
	if n > qcowMaxSnapshots {
		return nil, fmt.Errorf("qcow2 %s: header at 0x3c: %d snapshots, more than qemu's limit %d", q.name, n, qcowMaxSnapshots)
	}
	if off%uint64(q.clusterSize) != 0 || off >= uint64(q.fsize) {
		return nil, fmt.Errorf("qcow2 %s: header at 0x40: snapshot table at %#x not a cluster inside the file", q.name, off)
	}
	be := binary.BigEndian
	var snaps []Snapshot
	var fixed [40]byte
	buf := make([]byte, 0, 256)
	pos := off
	for i := range n {
		if pos-off > qcowMaxSnapshotsBytes {
			return nil, fmt.Errorf("qcow2 %s: snapshot table at %#x: larger than qemu's limit of %d bytes", q.name, off, qcowMaxSnapshotsBytes)
		}
		if err := readFull(q.f, fixed[:], int64(pos)); err != nil {
			return nil, fmt.Errorf("qcow2 %s: snapshot %d at %#x: %w", q.name, i, pos, err)
		}
		extra := uint64(be.Uint32(fixed[36:]))
		if extra > qcowMaxSnapshotExtra {
			return nil, fmt.Errorf("qcow2 %s: snapshot %d at %#x: %d bytes of extra data, more than qemu's limit", q.name, i, pos, extra)
		}
		idLen, nameLen := uint64(be.Uint16(fixed[12:])), uint64(be.Uint16(fixed[14:]))
		rest := extra + idLen + nameLen // at most 1 KiB + 2×64 KiB
		if uint64(cap(buf)) < rest {
			buf = make([]byte, rest)
		}
		buf = buf[:rest]
		if err := readFull(q.f, buf, int64(pos+40)); err != nil {
			return nil, fmt.Errorf("qcow2 %s: snapshot %d at %#x: %w", q.name, i, pos, err)
		}
		s := Snapshot{
			ID:          string(buf[extra : extra+idLen]),
			Name:        string(buf[extra+idLen:]),
			Date:        time.Unix(int64(be.Uint32(fixed[16:])), int64(min(be.Uint32(fixed[20:]), 999999999))).UTC(),
			VMClock:     time.Duration(min(be.Uint64(fixed[24:]), 1<<63-1)),
			VMStateSize: int64(be.Uint32(fixed[32:])),
			DiskSize:    int64(vsize),
			l1Off:       be.Uint64(fixed[0:]),
			l1Size:      uint64(be.Uint32(fixed[8:])),
		}
		if extra >= 8 {
			s.VMStateSize = int64(min(be.Uint64(buf[0:]), 1<<62))
		}
		if extra >= 16 {
			ds := be.Uint64(buf[8:])
			if ds > 1<<62 {
				return nil, fmt.Errorf("qcow2 %s: snapshot %d at %#x: disk size %d too large", q.name, i, pos, ds)
			}
			s.DiskSize = int64(ds)
		}
		snaps = append(snaps, s)
		pos += (40 + rest + 7) &^ 7
	}
	return snaps, nil
}

// findSnapshot picks a snapshot by ID, else by name, as qemu-img does.
func findSnapshot(snaps []Snapshot, want string) (Snapshot, error) {
	for _, s := range snaps {
		if s.ID == want {
			return s, nil
		}
	}
	var found []Snapshot
	for _, s := range snaps {
		if s.Name == want {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		var have []string
		for _, s := range snaps {
			have = append(have, fmt.Sprintf("%s (%q)", s.ID, s.Name))
		}
		return Snapshot{}, fmt.Errorf("no internal snapshot %q; have %v", want, have)
	}
	return Snapshot{}, fmt.Errorf("%d internal snapshots are named %q: give the ID", len(found), want)
}
