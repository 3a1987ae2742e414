package volume

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

const (
	gptSig          = "EFI PART"
	gptMinHeader    = 92
	maxGPTEntryArea = 1 << 20 // 8192 entries of 128 bytes; the spec's minimum is 16 KiB
)

type gptHeader struct {
	off        int64 // byte offset the header was read from
	headerCRC  uint32
	current    uint64
	backup     uint64
	firstUse   uint64
	lastUse    uint64
	diskGUID   string
	entriesLBA uint64
	numEntries uint32
	entrySize  uint32
	entriesCRC uint32
}

// gptTable is a header and its parsed, used entries.
type gptTable struct {
	hdr   gptHeader
	parts []part
}

// detectGPTSectorSize returns 512 or 4096 when "EFI PART" is at LBA 1 for
// that sector size, else 0.
func detectGPTSectorSize(r io.ReaderAt, diskSize int64) int {
	for _, ss := range []int{512, 4096} {
		sig := make([]byte, 8)
		if int64(ss)*2 > diskSize {
			continue
		}
		if _, err := r.ReadAt(sig, int64(ss)); err == nil && string(sig) == gptSig {
			return ss
		}
	}
	return 0
}

// parseGPTHeader reads and checks the header at byte offset off.
func parseGPTHeader(r io.ReaderAt, off int64, ss int) (gptHeader, error) {
	sec := make([]byte, ss)
	if _, err := r.ReadAt(sec, off); err != nil {
		return gptHeader{}, fmt.Errorf("gpt: header at %#x: %w", off, err)
	}
	return decodeGPTHeader(sec, off)
}

func decodeGPTHeader(sec []byte, off int64) (gptHeader, error) {
	le := binary.LittleEndian
	if string(sec[:8]) != gptSig {
		return gptHeader{}, fmt.Errorf("gpt: header at %#x: no %q signature", off, gptSig)
	}
	hsize := le.Uint32(sec[12:])
	if hsize < gptMinHeader || int(hsize) > len(sec) {
		return gptHeader{}, fmt.Errorf("gpt: header at %#x: header size %d outside %d..%d", off, hsize, gptMinHeader, len(sec))
	}
	h := gptHeader{
		off:        off,
		headerCRC:  le.Uint32(sec[16:]),
		current:    le.Uint64(sec[24:]),
		backup:     le.Uint64(sec[32:]),
		firstUse:   le.Uint64(sec[40:]),
		lastUse:    le.Uint64(sec[48:]),
		diskGUID:   guidString(sec[56:72]),
		entriesLBA: le.Uint64(sec[72:]),
		numEntries: le.Uint32(sec[80:]),
		entrySize:  le.Uint32(sec[84:]),
		entriesCRC: le.Uint32(sec[88:]),
	}
	c := bytes.Clone(sec[:hsize])
	clear(c[16:20])
	if got := crc32.ChecksumIEEE(c); got != h.headerCRC {
		return h, fmt.Errorf("gpt: header at %#x: header CRC32 %#08x, computed %#08x", off, h.headerCRC, got)
	}
	if h.entrySize < 128 || h.entrySize%128 != 0 || h.entrySize&(h.entrySize-1) != 0 {
		return h, fmt.Errorf("gpt: header at %#x: partition entry size %d is not 128×2^n", off, h.entrySize)
	}
	if uint64(h.numEntries)*uint64(h.entrySize) > maxGPTEntryArea {
		return h, fmt.Errorf("gpt: header at %#x: %d entries of %d bytes exceed the %d-byte limit", off, h.numEntries, h.entrySize, maxGPTEntryArea)
	}
	if h.firstUse > h.lastUse {
		return h, fmt.Errorf("gpt: header at %#x: first usable LBA %d after last usable LBA %d", off, h.firstUse, h.lastUse)
	}
	return h, nil
}

// readGPTEntries reads the entry array, checks its CRC and returns the used
// entries with their bounds checked against the disk and each other.
func readGPTEntries(r io.ReaderAt, h gptHeader, ss int, diskSize int64) ([]part, error) {
	n := int64(h.numEntries) * int64(h.entrySize)
	off := int64(h.entriesLBA) * int64(ss)
	if h.entriesLBA > uint64(diskSize)/uint64(ss) || off > diskSize-n {
		return nil, fmt.Errorf("gpt: header at %#x: entry array at LBA %d (+%d bytes) lies past the disk end %#x", h.off, h.entriesLBA, n, diskSize)
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("gpt: entry array at %#x: %w", off, err)
	}
	if got := crc32.ChecksumIEEE(buf); got != h.entriesCRC {
		return nil, fmt.Errorf("gpt: entry array at %#x: CRC32 %#08x, header at %#x says %#08x", off, got, h.off, h.entriesCRC)
	}
	le := binary.LittleEndian
	var parts []part
	for i := 0; i < int(h.numEntries); i++ {
		e := buf[i*int(h.entrySize):][:128]
		typ := guidString(e[0:16])
		if typ == zeroGUID {
			continue
		}
		first, last := le.Uint64(e[32:]), le.Uint64(e[40:])
		where := fmt.Sprintf("gpt: entry %d at %#x", i+1, off+int64(i)*int64(h.entrySize))
		if last < first {
			return nil, fmt.Errorf("%s: last LBA %d before first LBA %d", where, last, first)
		}
		maxLBA := uint64(diskSize) / uint64(ss)
		if last >= maxLBA {
			return nil, fmt.Errorf("%s: partition LBA %d–%d ends past the disk end (%d sectors)", where, first, last, maxLBA)
		}
		p := part{
			index: i + 1, start: int64(first) * int64(ss), size: int64(last-first+1) * int64(ss),
			typeName: gptTypeName(typ), typeID: typ, uuid: guidString(e[16:32]),
			name: utf16Name(e[56:128]), where: where,
		}
		parts = append(parts, p)
	}
	if err := checkOverlap(parts); err != nil {
		return nil, err
	}
	return parts, nil
}

// parseGPT reads the primary GPT and falls back to the backup header at the
// last LBA. Warnings describe a bad primary or backup.
func parseGPT(r io.ReaderAt, diskSize int64, ss int) (*gptTable, []string, error) {
	var warns []string
	lastLBA := diskSize/int64(ss) - 1
	primary, perr := readGPT(r, int64(ss), ss, diskSize)
	backup, berr := readGPT(r, lastLBA*int64(ss), ss, diskSize)
	if perr == nil {
		if primary.hdr.current != 1 {
			warns = append(warns, fmt.Sprintf("gpt: primary header at %#x says it is at LBA %d", primary.hdr.off, primary.hdr.current))
		}
		switch {
		case berr != nil && primary.hdr.backup != uint64(lastLBA):
			// The disk was grown or the image truncated; try where the
			// primary says the backup is before calling it bad.
			if alt, err := readGPT(r, int64(primary.hdr.backup)*int64(ss), ss, diskSize); err == nil {
				backup, berr = alt, nil
				warns = append(warns, fmt.Sprintf("gpt: backup header at LBA %d, not at the last LBA %d", primary.hdr.backup, lastLBA))
			} else {
				warns = append(warns, fmt.Sprintf("backup GPT unusable: %v", berr))
			}
		case berr != nil:
			warns = append(warns, fmt.Sprintf("backup GPT unusable: %v", berr))
		}
		if berr == nil && !sameParts(primary.parts, backup.parts) {
			warns = append(warns, fmt.Sprintf("gpt: backup entries (header at %#x) differ from the primary ones; using the primary", backup.hdr.off))
		}
		return primary, append(warns, outsideUsable(primary, ss)...), nil
	}
	if berr != nil {
		return nil, nil, fmt.Errorf("%w; backup: %w", perr, berr)
	}
	warns = append(warns, fmt.Sprintf("primary GPT unusable (%v); read the backup header at %#x", perr, backup.hdr.off))
	return backup, append(warns, outsideUsable(backup, ss)...), nil
}

// outsideUsable reports entries reaching into the GPT's own structures:
// readable, but not something a partitioning tool writes.
func outsideUsable(t *gptTable, ss int) []string {
	var w []string
	for _, p := range t.parts {
		first, last := uint64(p.start/int64(ss)), uint64((p.start+p.size)/int64(ss)-1)
		if first < t.hdr.firstUse || last > t.hdr.lastUse {
			w = append(w, fmt.Sprintf("%s: LBA %d–%d outside the usable LBAs %d–%d of the header at %#x", p.where, first, last, t.hdr.firstUse, t.hdr.lastUse, t.hdr.off))
		}
	}
	return w
}

func readGPT(r io.ReaderAt, off int64, ss int, diskSize int64) (*gptTable, error) {
	if off < int64(ss) || off > diskSize-int64(ss) {
		return nil, fmt.Errorf("gpt: header at %#x: outside the disk (%#x bytes)", off, diskSize)
	}
	h, err := parseGPTHeader(r, off, ss)
	if err != nil {
		return nil, err
	}
	parts, err := readGPTEntries(r, h, ss, diskSize)
	if err != nil {
		return nil, err
	}
	return &gptTable{hdr: h, parts: parts}, nil
}

func sameParts(a, b []part) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.index != y.index || x.start != y.start || x.size != y.size || x.typeID != y.typeID || x.uuid != y.uuid || x.name != y.name {
			return false
		}
	}
	return true
}

const zeroGUID = "00000000-0000-0000-0000-000000000000"

// guidString formats a mixed-endian GUID as lowercase text.
func guidString(b []byte) string {
	le := binary.LittleEndian
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", le.Uint32(b[0:]), le.Uint16(b[4:]), le.Uint16(b[6:]), b[8:10], b[10:16])
}

func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

var gptTypeNames = map[string]string{
	"c12a7328-f81f-11d2-ba4b-00a0c93ec93b": "EFI System",
	"21686148-6449-6e6f-744e-656564454649": "BIOS boot",
	"0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux filesystem",
	"e6d6d379-f507-44c2-a23c-238f2a3df928": "Linux LVM",
	"0657fd6d-a4ab-43c4-84e5-0933c84b4f4f": "Linux swap",
	"a19d880f-05fc-4d3b-a006-743f0f84911e": "Linux RAID",
	"4f68bce3-e8cd-4db1-96e7-fbcaf984b709": "Linux root (x86-64)",
	"44479540-f297-41b2-9af7-d131d5f0458a": "Linux root (x86)",
	"b921b045-1df0-41c3-af44-4c6f280d3fae": "Linux root (ARM-64)",
	"933ac7e1-2eb4-4f13-b844-0e14e2aef915": "Linux home",
	"4d21b016-b534-45c2-a9fb-5c16e091fd2d": "Linux variable data",
	"7ec6f557-3bc5-4aca-b293-16ef5df639d1": "Linux temporary data",
	"3b8f8425-20e0-4f3b-907f-1a25a76f98e8": "Linux server data",
	"bc13c2ff-59e6-4262-a352-b275fd6f7172": "Linux extended boot",
	"ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": "Microsoft basic data",
	"e3c9e316-0b5c-4db8-817d-f92df00215ae": "Microsoft reserved",
	"de94bba4-06d1-4d40-a16a-bfd50179d6ac": "Windows recovery environment",
	"5808c8aa-7e8f-42e0-85d2-e1e90434cfb3": "Microsoft LDM metadata",
	"af9b60a0-1431-4f62-bc68-3311714a69ad": "Microsoft LDM data",
	"516e7cb4-6ecf-11d6-8ff8-00022d09712b": "FreeBSD",
	"48465300-0000-11aa-aa11-00306543ecac": "Apple HFS/HFS+",
	"7c3457ef-0000-11aa-aa11-00306543ecac": "Apple APFS",
	"6a85cf4d-1dd2-11b2-99a6-080020736631": "Solaris /usr & Apple ZFS",
}

func gptTypeName(g string) string {
	if n, ok := gptTypeNames[g]; ok {
		return n
	}
	return "unknown " + g
}

var errNoTable = errors.New("no partition table")

// normGUID lowercases a GUID and drops braces, for comparisons.
func normGUID(s string) string { return strings.ToLower(strings.Trim(s, "{}")) }
