package volume

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

// LVM2 on-disk layout (lib/format_text/layout.h, lib/label/label.h):
// a 512-byte label in one of sectors 0–3 ("LABELONE", CRC, offset of the
// pv_header), the pv_header (PV UUID, device size, then two zero-terminated
// lists of disk areas: data areas and metadata areas), and in each metadata
// area a 512-byte mda_header whose raw_locn list points at the current
// metadata text inside a ring buffer.

const (
	lvmSector      = 512
	lvmLabelID     = "LABELONE"
	lvmLabelType   = "LVM2 001"
	lvmMDAMagic    = " LVM2 x[5A%r0N*>"
	lvmInitialCRC  = 0xf597a6cf
	mdaHeaderSize  = 512
	maxLVMMetadata = 16 << 20
	maxDiskAreas   = 16
)

// lvmCRC is LVM's calc_crc: the IEEE CRC-32 table without the customary
// inversions, seeded with 0xf597a6cf.
func lvmCRC(p []byte) uint32 {
	return ^crc32.Update(^uint32(lvmInitialCRC), crc32.IEEETable, p)
}

type diskArea struct{ off, size uint64 }

// pvLabel is what the label sector and pv_header say.
type pvLabel struct {
	sector  int
	uuid    string // 32 characters, no dashes
	devSize uint64
	data    []diskArea
	mdas    []diskArea
}

// findPVLabel looks for a label in sectors 0–3 of r. It returns nil, nil
// when there is none.
func findPVLabel(r io.ReaderAt, size int64) (*pvLabel, error) {
	buf := make([]byte, 4*lvmSector)
	n, err := r.ReadAt(buf, 0)
	if err != nil && n < len(buf) {
		buf = buf[:n-n%lvmSector]
	}
	for s := 0; (s+1)*lvmSector <= len(buf); s++ {
		sec := buf[s*lvmSector : (s+1)*lvmSector]
		if string(sec[:8]) != lvmLabelID {
			continue
		}
		return decodePVLabel(sec, s)
	}
	return nil, nil
}

func decodePVLabel(sec []byte, s int) (*pvLabel, error) {
	le := binary.LittleEndian
	base := int64(s) * lvmSector
	if got, want := lvmCRC(sec[20:lvmSector]), le.Uint32(sec[16:]); got != want {
		return nil, fmt.Errorf("lvm: label at %#x: CRC %#08x, computed %#08x", base, want, got)
	}
	if string(sec[24:32]) != lvmLabelType {
		return nil, fmt.Errorf("lvm: label at %#x: type %q, want %q", base, sec[24:32], lvmLabelType)
	}
	off := le.Uint32(sec[20:])
	// pv_header: 32-byte UUID, 8-byte size, then the disk_locn lists.
	if off < 32 || off > lvmSector-32-8-16 {
		return nil, fmt.Errorf("lvm: label at %#x: pv_header offset %d outside the label sector", base, off)
	}
	ph := sec[off:]
	l := &pvLabel{sector: s, uuid: string(ph[:32]), devSize: le.Uint64(ph[32:])}
	for _, c := range l.uuid {
		if !isLVMNameChar(byte(c)) {
			return nil, fmt.Errorf("lvm: pv_header at %#x: PV UUID %q has invalid characters", base+int64(off), l.uuid)
		}
	}
	p := ph[40:]
	pos := base + int64(off) + 40
	for list := 0; list < 2; list++ {
		for i := 0; ; i++ {
			if len(p) < 16 {
				return nil, fmt.Errorf("lvm: pv_header at %#x: disk area list runs past the label sector", base+int64(off))
			}
			a := diskArea{le.Uint64(p), le.Uint64(p[8:])}
			p, pos = p[16:], pos+16
			if a.off == 0 && a.size == 0 {
				break
			}
			if i >= maxDiskAreas {
				return nil, fmt.Errorf("lvm: pv_header disk area at %#x: more than %d areas", pos-16, maxDiskAreas)
			}
			if list == 0 {
				l.data = append(l.data, a)
			} else {
				l.mdas = append(l.mdas, a)
			}
		}
	}
	return l, nil
}

// rawLocn is one slot of the mda_header's list: where the metadata text is,
// relative to the start of the metadata area.
type rawLocn struct {
	off, size uint64
	checksum  uint32
	flags     uint32
}

// readMetadata reads the current metadata text of one metadata area.
// area is where the pv_header says the area is, relative to the PV.
func readMetadata(r io.ReaderAt, pvSize int64, area diskArea) ([]byte, error) {
	if area.off > uint64(pvSize) || area.size > uint64(pvSize)-area.off || area.size < 2*mdaHeaderSize {
		return nil, fmt.Errorf("lvm: metadata area %#x+%#x outside the PV (%#x bytes) or too small", area.off, area.size, pvSize)
	}
	hdr := make([]byte, mdaHeaderSize)
	if _, err := r.ReadAt(hdr, int64(area.off)); err != nil {
		return nil, fmt.Errorf("lvm: mda_header at %#x: %w", area.off, err)
	}
	rl, err := decodeMDAHeader(hdr, area)
	if err != nil {
		return nil, err
	}
	if rl == nil {
		return nil, nil
	}
	// The text may wrap around the end of the ring buffer, continuing right
	// after the header.
	text := make([]byte, rl.size)
	first := rl.size
	if rl.off+rl.size > area.size {
		first = area.size - rl.off
	}
	at := int64(area.off + rl.off)
	if _, err := r.ReadAt(text[:first], at); err != nil {
		return nil, fmt.Errorf("lvm: metadata text at %#x: %w", at, err)
	}
	if first < rl.size {
		at2 := int64(area.off + mdaHeaderSize)
		if _, err := r.ReadAt(text[first:], at2); err != nil {
			return nil, fmt.Errorf("lvm: metadata text (wrapped part) at %#x: %w", at2, err)
		}
	}
	if got := lvmCRC(text); got != rl.checksum {
		return nil, fmt.Errorf("lvm: metadata text at %#x (%d bytes): CRC %#08x, computed %#08x", at, rl.size, rl.checksum, got)
	}
	if i := strings.IndexByte(string(text), 0); i >= 0 {
		text = text[:i]
	}
	return text, nil
}

// decodeMDAHeader checks an mda_header and returns its first raw_locn, or
// nil when the area holds no metadata (new PV, or an ignored area).
func decodeMDAHeader(hdr []byte, area diskArea) (*rawLocn, error) {
	le := binary.LittleEndian
	if got, want := lvmCRC(hdr[4:mdaHeaderSize]), le.Uint32(hdr); got != want {
		return nil, fmt.Errorf("lvm: mda_header at %#x: CRC %#08x, computed %#08x", area.off, want, got)
	}
	if string(hdr[4:20]) != lvmMDAMagic {
		return nil, fmt.Errorf("lvm: mda_header at %#x: bad magic %q", area.off, hdr[4:20])
	}
	if v := le.Uint32(hdr[20:]); v != 1 {
		return nil, fmt.Errorf("lvm: mda_header at %#x: version %d, want 1", area.off, v)
	}
	start, size := le.Uint64(hdr[24:]), le.Uint64(hdr[32:])
	if start != area.off || size != area.size {
		return nil, fmt.Errorf("lvm: mda_header at %#x: says area %#x+%#x, pv_header says %#x+%#x", area.off, start, size, area.off, area.size)
	}
	rl := rawLocn{le.Uint64(hdr[40:]), le.Uint64(hdr[48:]), le.Uint32(hdr[56:]), le.Uint32(hdr[60:])}
	const rawLocnIgnored = 1
	if rl.off == 0 && rl.size == 0 || rl.flags&rawLocnIgnored != 0 {
		return nil, nil
	}
	at := area.off + 40
	if rl.off < mdaHeaderSize || rl.off >= area.size {
		return nil, fmt.Errorf("lvm: raw_locn at %#x: text offset %#x outside the metadata area (%#x..%#x)", at, rl.off, mdaHeaderSize, area.size)
	}
	if rl.size == 0 || rl.size > area.size-mdaHeaderSize || rl.size > maxLVMMetadata {
		return nil, fmt.Errorf("lvm: raw_locn at %#x: text size %#x larger than the metadata area ring (%#x) or the %d-byte limit", at, rl.size, area.size-mdaHeaderSize, maxLVMMetadata)
	}
	return &rl, nil
}

func isLVMNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '_' || c == '.' || c == '-'
}
