package volume

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// part is one entry of a partition table, before it becomes a Volume.
type part struct {
	index     int
	start     int64 // bytes
	size      int64 // bytes
	typeName  string
	typeID    string
	name      string
	uuid      string
	container bool
	where     string // structure and offset it was read from, for errors
}

const (
	mbrSig       = 0x55aa
	maxEBRs      = 256 // Linux gives up far earlier on real disks
	mbrEntryBase = 446
)

var mbrTypeNames = map[byte]string{
	0x01: "FAT12", 0x04: "FAT16 <32M", 0x05: "Extended", 0x06: "FAT16",
	0x07: "HPFS/NTFS/exFAT", 0x0b: "W95 FAT32", 0x0c: "W95 FAT32 (LBA)",
	0x0e: "W95 FAT16 (LBA)", 0x0f: "W95 Ext'd (LBA)", 0x11: "Hidden FAT12",
	0x27: "Hidden NTFS WinRE", 0x42: "SFS", 0x82: "Linux swap", 0x83: "Linux",
	0x85: "Linux extended", 0x8e: "Linux LVM", 0xa5: "FreeBSD", 0xa6: "OpenBSD",
	0xa9: "NetBSD", 0xee: "GPT", 0xef: "EFI (FAT-12/16/32)", 0xfd: "Linux raid autodetect",
}

func isExtended(t byte) bool { return t == 0x05 || t == 0x0f || t == 0x85 }

type mbrEntry struct {
	status byte
	typ    byte
	lba    uint32
	count  uint32
}

func readMBREntries(sec []byte) [4]mbrEntry {
	var e [4]mbrEntry
	for i := range e {
		b := sec[mbrEntryBase+16*i:]
		e[i] = mbrEntry{status: b[0], typ: b[4], lba: binary.LittleEndian.Uint32(b[8:]), count: binary.LittleEndian.Uint32(b[12:])}
	}
	return e
}

// looksLikeMBR tells an MBR from a filesystem boot sector that also ends
// in 55 AA (FAT, NTFS, exFAT): status bytes are 0x00/0x80 and the sector
// does not carry a filesystem's OEM or type string.
func looksLikeMBR(sec []byte) bool {
	if len(sec) < 512 || binary.BigEndian.Uint16(sec[510:]) != mbrSig {
		return false
	}
	for _, fsMagic := range []struct {
		off int
		s   string
	}{{3, "NTFS    "}, {3, "EXFAT   "}, {0x36, "FAT"}, {0x52, "FAT32   "}} {
		if string(sec[fsMagic.off:fsMagic.off+len(fsMagic.s)]) == fsMagic.s {
			return false
		}
	}
	used := 0
	for _, e := range readMBREntries(sec) {
		if e.status != 0 && e.status != 0x80 {
			return false
		}
		if e.typ != 0 && e.count != 0 {
			if e.lba == 0 {
				return false
			}
			used++
		}
	}
	return used > 0
}

// parseMBR reads the primary table in sector 0 and the EBR chain of every
// extended partition. MBR LBAs count 512-byte sectors.
func parseMBR(r io.ReaderAt, diskSize int64, sec0 []byte) ([]part, error) {
	const ss = 512
	disksig := binary.LittleEndian.Uint32(sec0[440:])
	uuid := func(n int) string { return fmt.Sprintf("%08x-%02x", disksig, n) }
	var parts []part
	type ext struct{ start, size int64 }
	var exts []ext
	for i, e := range readMBREntries(sec0) {
		if e.typ == 0 || e.count == 0 {
			continue
		}
		where := fmt.Sprintf("mbr: partition entry %d at %#x", i+1, mbrEntryBase+16*i)
		p := part{
			index: i + 1, start: int64(e.lba) * ss, size: int64(e.count) * ss,
			typeName: mbrTypeName(e.typ), typeID: fmt.Sprintf("0x%02x", e.typ),
			uuid: uuid(i + 1), container: isExtended(e.typ), where: where,
		}
		if err := checkBounds(p, diskSize); err != nil {
			return nil, err
		}
		parts = append(parts, p)
		if p.container {
			exts = append(exts, ext{p.start, p.size})
		}
	}
	if err := checkOverlap(parts); err != nil {
		return nil, err
	}
	next := 5
	for _, x := range exts {
		logicals, err := parseEBRChain(r, x.start, x.size, &next, uuid)
		if err != nil {
			return nil, err
		}
		if err := checkOverlap(logicals); err != nil {
			return nil, err
		}
		parts = append(parts, logicals...)
	}
	// Logical partitions of different extended partitions, or a logical
	// partition reaching into a primary one, are as suspicious as two
	// overlapping primaries.
	var flat []part
	for _, p := range parts {
		if !p.container {
			flat = append(flat, p)
		}
	}
	if err := checkOverlap(flat); err != nil {
		return nil, err
	}
	return parts, nil
}

// parseEBRChain follows the linked list of extended boot records. Each
// EBR's data entries are relative to the EBR; its link entry is relative
// to the start of the outermost extended partition (as Linux reads it).
func parseEBRChain(r io.ReaderAt, extStart, extSize int64, next *int, uuid func(int) string) ([]part, error) {
	const ss = 512
	var parts []part
	seen := map[int64]bool{}
	ebr := extStart
	sec := make([]byte, ss)
	for n := 0; ; n++ {
		if n >= maxEBRs {
			return nil, fmt.Errorf("mbr: EBR chain at %#x: more than %d EBRs", extStart, maxEBRs)
		}
		if seen[ebr] {
			return nil, fmt.Errorf("mbr: EBR chain at %#x: loop back to EBR at %#x", extStart, ebr)
		}
		seen[ebr] = true
		if _, err := r.ReadAt(sec, ebr); err != nil {
			return nil, fmt.Errorf("mbr: EBR at %#x: %w", ebr, err)
		}
		if binary.BigEndian.Uint16(sec[510:]) != mbrSig {
			if n == 0 {
				return nil, nil // an empty extended partition
			}
			return nil, fmt.Errorf("mbr: EBR at %#x: no 55 AA signature", ebr)
		}
		link := int64(-1)
		for i, e := range readMBREntries(sec) {
			if e.typ == 0 || e.count == 0 {
				continue
			}
			where := fmt.Sprintf("mbr: EBR at %#x entry %d (%#x)", ebr, i+1, ebr+mbrEntryBase+int64(16*i))
			if isExtended(e.typ) {
				if link < 0 {
					link = extStart + int64(e.lba)*ss
					if int64(e.lba)*ss >= extSize {
						return nil, fmt.Errorf("%s: next EBR at %#x lies outside the extended partition %#x+%#x", where, link, extStart, extSize)
					}
				}
				continue
			}
			p := part{
				index: *next, start: ebr + int64(e.lba)*ss, size: int64(e.count) * ss,
				typeName: mbrTypeName(e.typ), typeID: fmt.Sprintf("0x%02x", e.typ),
				uuid: uuid(*next), where: where,
			}
			if p.start < extStart || p.start+p.size > extStart+extSize {
				return nil, fmt.Errorf("%s: logical partition %#x+%#x lies outside the extended partition %#x+%#x", where, p.start, p.size, extStart, extSize)
			}
			parts = append(parts, p)
			*next++
		}
		if link < 0 {
			return parts, nil
		}
		ebr = link
	}
}

func mbrTypeName(t byte) string {
	if n, ok := mbrTypeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("0x%02x", t)
}

func checkBounds(p part, diskSize int64) error {
	if p.start >= diskSize || p.size > diskSize-p.start {
		return fmt.Errorf("%s: partition %#x+%#x ends past the disk end %#x", p.where, p.start, p.size, diskSize)
	}
	return nil
}

// checkOverlap reports the first two entries that share bytes.
func checkOverlap(parts []part) error {
	s := append([]part(nil), parts...)
	sort.Slice(s, func(i, j int) bool { return s[i].start < s[j].start })
	for i := 1; i < len(s); i++ {
		if s[i].start < s[i-1].start+s[i-1].size {
			return fmt.Errorf("%s: partition %d (%#x+%#x) overlaps partition %d (%#x+%#x, %s)",
				s[i].where, s[i].index, s[i].start, s[i].size, s[i-1].index, s[i-1].start, s[i-1].size, s[i-1].where)
		}
	}
	return nil
}
