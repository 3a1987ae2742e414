package volume

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

const (
	maxStripes    = 128     // LVM's own limit
	maxExtentSize = 1 << 32 // sectors; LVM allows up to 16 GiB (2^25)
	maxSegments   = 1 << 16
)

// pvDev is one physical volume found on the disks.
type pvDev struct {
	vol   int // index into the volume list
	r     io.ReaderAt
	size  int64
	label *pvLabel
}

// vgCopy is one metadata copy of a volume group.
type vgCopy struct {
	name  string
	id    string
	seqno int64
	sect  *cfgValue
	from  string // where the copy was read, for messages
}

// readVGCopies reads every metadata area of a PV; unreadable areas become
// warnings, because another area or PV usually holds a good copy.
func readVGCopies(pv pvDev) ([]vgCopy, []string) {
	var out []vgCopy
	var warns []string
	for _, a := range pv.label.mdas {
		text, err := readMetadata(pv.r, pv.size, a)
		if err != nil {
			warns = append(warns, err.Error())
			continue
		}
		if text == nil {
			continue
		}
		from := fmt.Sprintf("PV %s metadata area at %#x", dashUUID(pv.label.uuid), a.off)
		c, err := decodeVGCopy(text, from)
		if err != nil {
			warns = append(warns, err.Error())
			continue
		}
		out = append(out, c)
	}
	return out, warns
}

func decodeVGCopy(text []byte, from string) (vgCopy, error) {
	root, err := parseLVMConfig(text)
	if err != nil {
		return vgCopy{}, fmt.Errorf("%s: %w", from, err)
	}
	for i := range root.fields {
		f := &root.fields[i]
		if f.v.kind != cfgSection {
			continue
		}
		c := vgCopy{name: f.key, sect: &f.v, from: from}
		var ok bool
		if c.id, ok = f.v.str("id"); !ok {
			return c, fmt.Errorf("%s: VG %q at byte %d has no id", from, f.key, f.off)
		}
		if c.seqno, ok = f.v.int("seqno"); !ok {
			return c, fmt.Errorf("%s: VG %q at byte %d has no seqno", from, f.key, f.off)
		}
		return c, nil
	}
	return vgCopy{}, fmt.Errorf("%s: no volume group section in the metadata", from)
}

// newestCopies keeps, per VG id, the copy with the highest seqno, in name
// order.
func newestCopies(copies []vgCopy) []vgCopy {
	best := map[string]vgCopy{}
	for _, c := range copies {
		if b, ok := best[c.id]; !ok || c.seqno > b.seqno {
			best[c.id] = c
		}
	}
	out := make([]vgCopy, 0, len(best))
	for _, c := range best {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].name != out[j].name {
			return out[i].name < out[j].name
		}
		return out[i].id < out[j].id
	})
	return out
}

// vgPV is a PV as the VG metadata describes it, joined with the device.
type vgPV struct {
	name    string
	id      string
	peStart int64 // bytes
	peCount int64
	dev     *pvDev // nil when the PV's disk was not given
}

// buildLVs maps the logical volumes of one VG. Problems with a single LV
// make that LV unreadable (Unsupported set) rather than hiding the others;
// problems with the VG as a whole are returned as an error.
func buildLVs(c vgCopy, pvs []pvDev, vols []Volume) ([]Volume, error) {
	vg := c.sect
	where := fmt.Sprintf("%s: VG %s", c.from, c.name)
	extSectors, ok := vg.int("extent_size")
	if !ok || extSectors <= 0 || extSectors > maxExtentSize {
		return nil, fmt.Errorf("%s: extent_size %d missing or outside 1..%d sectors", where, extSectors, int64(maxExtentSize))
	}
	extBytes := extSectors * lvmSector

	byUUID := map[string]*pvDev{}
	for i := range pvs {
		byUUID[pvs[i].label.uuid] = &pvs[i]
	}
	pvMap := map[string]*vgPV{}
	var present []*vgPV // PVs of this VG whose disk was given, in metadata order
	if sect := vg.get("physical_volumes"); sect != nil && sect.kind == cfgSection {
		for _, f := range sect.fields {
			if f.v.kind != cfgSection {
				continue
			}
			p := &vgPV{name: f.key}
			p.id, _ = f.v.str("id")
			start, ok1 := f.v.int("pe_start")
			count, ok2 := f.v.int("pe_count")
			if !ok1 || !ok2 || start < 0 || count < 0 || start > 1<<40 || count > 1<<40 {
				return nil, fmt.Errorf("%s: PV %s at byte %d: pe_start %d / pe_count %d missing or out of range", where, f.key, f.off, start, count)
			}
			p.peStart, p.peCount = start*lvmSector, count
			p.dev = byUUID[strings.ReplaceAll(p.id, "-", "")]
			pvMap[f.key] = p
			if p.dev != nil {
				present = append(present, p)
			}
		}
	}

	lvsSect := vg.get("logical_volumes")
	if lvsSect == nil || lvsSect.kind != cfgSection {
		return nil, nil
	}
	// A snapshot's visible LV is its COW store, whose bytes are not the
	// snapshot's contents.
	cowOf := map[string]string{}
	for _, f := range lvsSect.fields {
		for _, s := range f.v.fields {
			if s.v.kind == cfgSection {
				if t, _ := s.v.str("type"); t == "snapshot" {
					cow, _ := s.v.str("cow_store")
					origin, _ := s.v.str("origin")
					cowOf[cow] = origin
				}
			}
		}
	}
	var out []Volume
	for _, f := range lvsSect.fields {
		if f.v.kind != cfgSection {
			continue
		}
		lv := &f.v
		v := Volume{
			Scheme:   "lvm",
			Selector: c.name + "/" + f.key,
			Name:     c.name + "/" + f.key,
			Disk:     -1,
		}
		v.UUID, _ = lv.str("id")
		v.Hidden = !contains(lv.strings("status"), "VISIBLE")
		lvWhere := fmt.Sprintf("%s: LV %s at byte %d", where, f.key, f.off)
		r, types, size, err := mapLV(lv, lvWhere, extBytes, pvMap)
		v.Size = size
		v.TypeID = strings.Join(types, ",")
		switch {
		case err != nil:
			v.Unsupported = err.Error()
			v.Type = "lvm " + v.TypeID
		case r.striped:
			v.Type = "lvm striped"
		default:
			v.Type = "lvm linear"
		}
		if origin, ok := cowOf[f.key]; ok && err == nil {
			err = fmt.Errorf("%s: snapshot of %q: snapshots not supported yet (this LV holds the copy-on-write store)", lvWhere, c.name+"/"+origin)
			v.Unsupported = err.Error()
			v.Type = "lvm snapshot"
		}
		if err != nil {
			v.ReaderAt = errReader{err}
		} else {
			v.ReaderAt = r
			if len(r.segs) > 0 && len(r.segs[0].areas) > 0 {
				pv := r.segs[0].areas[0].pv
				v.Disk = vols[pv.vol].Disk
				v.disk = vols[pv.vol].disk
			}
		}
		if v.Disk < 0 && len(present) > 0 {
			v.Disk, v.disk = vols[present[0].dev.vol].Disk, vols[present[0].dev.vol].disk
		}
		out = append(out, v)
	}
	flagSharedExtents(out, where)
	return out, nil
}

// flagSharedExtents warns on LVs whose segments map the same physical
// extents. LVM never hands out an extent twice, so this is damaged or
// forged metadata, and the same disk bytes would be shown as evidence of
// two volumes (or twice in one). The LVs stay readable.
func flagSharedExtents(lvs []Volume, where string) {
	type span struct {
		lv         int
		start, end int64 // bytes on the PV device
	}
	byPV := map[*pvDev][]span{}
	var order []*pvDev // first seen first, for stable warnings
	for i := range lvs {
		r, ok := lvs[i].ReaderAt.(*lvReader)
		if !ok {
			continue
		}
		for _, sg := range r.segs {
			per := sg.size / int64(len(sg.areas))
			for _, a := range sg.areas {
				if byPV[a.pv] == nil {
					order = append(order, a.pv)
				}
				byPV[a.pv] = append(byPV[a.pv], span{i, a.off, a.off + per})
			}
		}
	}
	for _, pv := range order {
		spans := byPV[pv]
		sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
		reach := spans[0] // the span reaching furthest so far
		for _, s := range spans[1:] {
			if s.start < reach.end {
				lo, hi := s.start, min(s.end, reach.end)
				msg := fmt.Sprintf("%s: PV %s bytes %#x–%#x are mapped by both LV %s and LV %s", where, dashUUID(pv.label.uuid), lo, hi, lvs[reach.lv].Name, lvs[s.lv].Name)
				lvs[s.lv].Warnings = append(lvs[s.lv].Warnings, msg)
				if reach.lv != s.lv {
					lvs[reach.lv].Warnings = append(lvs[reach.lv].Warnings, msg)
				}
			}
			if s.end > reach.end {
				reach = s
			}
		}
	}
}

// mapLV turns the segment sections of one LV into a reader. It returns the
// segment types and the LV's size in any case, for the listing.
func mapLV(lv *cfgValue, where string, extBytes int64, pvMap map[string]*vgPV) (r *lvReader, types []string, size int64, err error) {
	r, types, err = mapSegments(lv, where, extBytes, pvMap, &size)
	return r, types, size, err
}

func mapSegments(lv *cfgValue, where string, extBytes int64, pvMap map[string]*vgPV, size *int64) (*lvReader, []string, error) {
	var types []string
	type rawSeg struct {
		f     *cfgField
		start int64
		count int64
	}
	var segs []rawSeg
	var unsupported error
	for i := range lv.fields {
		f := &lv.fields[i]
		if f.v.kind != cfgSection || !strings.HasPrefix(f.key, "segment") {
			continue
		}
		if len(segs) >= maxSegments {
			return nil, types, fmt.Errorf("%s: more than %d segments", where, maxSegments)
		}
		t, _ := f.v.str("type")
		if !contains(types, t) {
			types = append(types, t)
		}
		start, ok1 := f.v.int("start_extent")
		count, ok2 := f.v.int("extent_count")
		if !ok1 || !ok2 || start < 0 || count <= 0 || start > 1<<40 || count > 1<<40 {
			return nil, types, fmt.Errorf("%s: %s at byte %d: start_extent %d / extent_count %d missing or out of range", where, f.key, f.off, start, count)
		}
		if end, ok := mulAdd(start+count, extBytes, 0); ok && end > *size {
			*size = end // the listed size, even when the LV cannot be read
		}
		if t != "striped" && unsupported == nil {
			unsupported = fmt.Errorf("%s: %s at byte %d: lvm %q segments not supported yet", where, f.key, f.off, t)
		}
		segs = append(segs, rawSeg{f, start, count})
	}
	if unsupported != nil {
		return nil, types, unsupported
	}
	if len(segs) == 0 {
		return nil, types, fmt.Errorf("%s: no segments", where)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].start < segs[j].start })
	r := &lvReader{name: where}
	next := int64(0)
	for _, s := range segs {
		sw := fmt.Sprintf("%s: %s at byte %d", where, s.f.key, s.f.off)
		if s.start != next {
			return nil, types, fmt.Errorf("%s: starts at extent %d, the previous segment ends at %d", sw, s.start, next)
		}
		next = s.start + s.count
		stripes := int64(1)
		if n, ok := s.f.v.int("stripe_count"); ok {
			stripes = n
		}
		if stripes < 1 || stripes > maxStripes || s.count%stripes != 0 {
			return nil, types, fmt.Errorf("%s: stripe_count %d outside 1..%d or not dividing extent_count %d", sw, stripes, maxStripes, s.count)
		}
		seg := lvSeg{}
		var ok bool
		if seg.start, ok = mulAdd(s.start, extBytes, 0); !ok {
			return nil, types, fmt.Errorf("%s: start_extent %d overflows", sw, s.start)
		}
		if seg.size, ok = mulAdd(s.count, extBytes, 0); !ok || seg.start > 1<<62-seg.size {
			return nil, types, fmt.Errorf("%s: extent_count %d overflows", sw, s.count)
		}
		if stripes > 1 {
			ssz, ok := s.f.v.int("stripe_size")
			if !ok || ssz <= 0 || ssz > extBytes/lvmSector {
				return nil, types, fmt.Errorf("%s: stripe_size %d missing or outside 1..%d sectors", sw, ssz, extBytes/lvmSector)
			}
			seg.chunk = ssz * lvmSector
			r.striped = true
		}
		arr := s.f.v.get("stripes")
		if arr == nil || arr.kind != cfgArray || int64(len(arr.list)) != 2*stripes {
			return nil, types, fmt.Errorf("%s: stripes array does not hold %d (PV, extent) pairs", sw, stripes)
		}
		perStripe := s.count / stripes
		for k := int64(0); k < stripes; k++ {
			name, pe := arr.list[2*k], arr.list[2*k+1]
			if name.kind != cfgString || pe.kind != cfgInt {
				return nil, types, fmt.Errorf("%s: stripe %d is not a (\"pvN\", extent) pair", sw, k)
			}
			pv := pvMap[name.s]
			if pv == nil {
				return nil, types, fmt.Errorf("%s: stripe %d names %q, which is not a PV of this VG", sw, k, name.s)
			}
			if pe.n < 0 || pe.n > pv.peCount || perStripe > pv.peCount-pe.n {
				return nil, types, fmt.Errorf("%s: stripe %d: extents %d+%d past %s's %d extents", sw, k, pe.n, perStripe, name.s, pv.peCount)
			}
			if pv.dev == nil {
				return nil, types, fmt.Errorf("%s: PV %s (id %q) holding stripe %d is missing; give all disks of the VG", sw, name.s, pv.id, k)
			}
			off, ok := mulAdd(pe.n, extBytes, pv.peStart)
			if !ok {
				return nil, types, fmt.Errorf("%s: stripe %d: extent %d overflows", sw, k, pe.n)
			}
			if end, ok := mulAdd(perStripe, extBytes, off); !ok || end > pv.dev.size {
				return nil, types, fmt.Errorf("%s: stripe %d: extents %d+%d of %s end at %#x, past the PV device (%#x bytes)", sw, k, pe.n, perStripe, name.s, end, pv.dev.size)
			}
			seg.areas = append(seg.areas, lvArea{pv: pv.dev, off: off})
		}
		r.segs = append(r.segs, seg)
		r.size = seg.start + seg.size
	}
	return r, types, nil
}

// mulAdd returns a*b+c for non-negative values, or false on overflow past
// 2^62.
func mulAdd(a, b, c int64) (int64, bool) {
	const lim = int64(1) << 62
	if a < 0 || b < 0 || c < 0 {
		return 0, false
	}
	if a != 0 && b > lim/a {
		return 0, false
	}
	if a*b > lim-c {
		return 0, false
	}
	return a*b + c, true
}

type lvArea struct {
	pv  *pvDev
	off int64 // byte offset of the area on the PV device
}

type lvSeg struct {
	start, size int64 // bytes in the LV
	chunk       int64 // stripe size in bytes; 0 when linear
	areas       []lvArea
}

// lvReader reads a logical volume through its segment map, the way
// device-mapper's linear and striped targets do.
type lvReader struct {
	name    string
	size    int64
	striped bool
	segs    []lvSeg
}

func (l *lvReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("lvm: negative offset")
	}
	n := 0
	for len(p) > 0 {
		if off >= l.size {
			return n, io.EOF
		}
		i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].start+l.segs[i].size > off })
		s := &l.segs[i]
		rel := off - s.start
		want := min(int64(len(p)), s.size-rel)
		var a lvArea
		var at int64
		if s.chunk == 0 {
			a, at = s.areas[0], s.areas[0].off+rel
		} else {
			chunk, in := rel/s.chunk, rel%s.chunk
			k := int64(len(s.areas))
			a = s.areas[chunk%k]
			at = a.off + (chunk/k)*s.chunk + in
			want = min(want, s.chunk-in)
		}
		m, err := a.pv.r.ReadAt(p[:want], at)
		n += m
		if m < int(want) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, fmt.Errorf("lvm: reading LV at %#x (PV %s at %#x): %w", off, dashUUID(a.pv.label.uuid), at, err)
		}
		p, off = p[want:], off+want
	}
	return n, nil
}

type errReader struct{ err error }

func (e errReader) ReadAt([]byte, int64) (int, error) { return 0, e.err }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// dashUUID formats a 32-character LVM UUID the way LVM prints it (6-4-4-4-4-4-6).
func dashUUID(u string) string {
	if len(u) != 32 {
		return u
	}
	return u[0:6] + "-" + u[6:10] + "-" + u[10:14] + "-" + u[14:18] + "-" + u[18:22] + "-" + u[22:26] + "-" + u[26:32]
}
