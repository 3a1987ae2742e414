// Package fat reads FAT12, FAT16 and FAT32 filesystems (EFI system
// partitions, USB sticks, old boot volumes) read-only from an io.ReaderAt,
// as an io/fs.FS with forensic metadata.
//
// Inode numbers follow The Sleuth Kit's FAT scheme so that they can be
// checked with fls/istat/icat: the root directory is 2, and every 32-byte
// directory slot of the data area has number 3 + (sector − first sector
// after the FATs)·(entries per sector) + slot index in the sector; a file's
// number is the slot of its short (8.3) entry.
//
// FAT records local time without a zone. Times are returned as those wall
// clock values labelled UTC ("UTC-naive"); whoever knows the guest's zone
// may reinterpret them. Modification time has 2 s resolution, access time
// is a date only, birth (creation) time has 10 ms resolution. FAT has no
// inode change time, owners or permissions: Ctime is zero, UID/GID are 0,
// and the mode is 0777 (0555 when read-only), as TSK reports it.
//
// A directory's size is the bytes of its cluster chain (the fixed root
// area on FAT12/16), as TSK reports it. Deleted returns the 0xE5 entries
// of live directories; deleted directories are not descended into, as
// their clusters are free for reuse.
//
// Names come from the VFAT long-name entries when their sequence and
// checksum are intact, otherwise from the 8.3 entry with the NT
// lower-case flags applied; 8.3 bytes are decoded as code page 437.
// Lookups fall back to a case-insensitive match and to the 8.3 name, as
// FAT itself is case-insensitive.
package fat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	cfs "github.com/coldcase-dfir/coldcase/fs"
)

func init() {
	cfs.Register(cfs.Driver{
		Name:  "vfat",
		Probe: Probe,
		Open: func(r io.ReaderAt, size int64) (cfs.FS, error) {
			return Open(r, size)
		},
	})
}

// Errors callers may test for with errors.Is.
var (
	ErrNotFAT  = errors.New("not a FAT filesystem")
	ErrLoop    = errors.New("cluster chain loops")
	ErrCorrupt = errors.New("corrupt structure")
)

// bpb holds the BIOS parameter block fields the reader uses, already
// validated and with derived layout values.
type bpb struct {
	bytesPerSector uint32
	secPerClus     uint32
	reserved       uint32
	numFATs        uint32
	rootEntCnt     uint32
	totSec         uint32
	fatSz          uint32 // sectors per FAT
	rootClus       uint32 // FAT32 only
	bits           int    // 12, 16 or 32
	serial         uint32
	label          string // BPB label, trimmed; "" for "NO NAME"
	oem            string
	fsInfo         uint32
	firstFATSect   uint32
	firstDataSect  uint32 // first sector after the FATs (TSK's firstdatasect)
	rootDirSectors uint32
	firstClusSect  uint32 // sector of cluster 2
	clusterCount   uint32 // data clusters; valid cluster numbers are 2..clusterCount+1
	clusterSize    int64
}

// parseBPB validates a boot sector (at least 512 bytes) and derives the
// layout. Every count is checked against the others so that later
// arithmetic cannot overflow or point before the data area.
func parseBPB(b []byte) (*bpb, error) {
	if len(b) < 512 {
		return nil, fmt.Errorf("fat: boot sector: %d bytes, need 512: %w", len(b), ErrNotFAT)
	}
	if !(b[0] == 0xEB && b[2] == 0x90) && b[0] != 0xE9 && b[0] != 0xEB {
		return nil, fmt.Errorf("fat: boot sector at 0x0: no x86 jump instruction (%#02x): %w", b[0], ErrNotFAT)
	}
	le16 := func(o int) uint32 { return uint32(binary.LittleEndian.Uint16(b[o:])) }
	le32 := func(o int) uint32 { return binary.LittleEndian.Uint32(b[o:]) }
	p := &bpb{
		bytesPerSector: le16(11),
		secPerClus:     uint32(b[13]),
		reserved:       le16(14),
		numFATs:        uint32(b[16]),
		rootEntCnt:     le16(17),
		totSec:         le16(19),
		fatSz:          le16(22),
		oem:            strings.TrimRight(string(b[3:11]), " \x00"),
	}
	switch p.bytesPerSector {
	case 512, 1024, 2048, 4096:
	default:
		return nil, fmt.Errorf("fat: boot sector at 0xb: bytes per sector %d: %w", p.bytesPerSector, ErrNotFAT)
	}
	if p.secPerClus == 0 || p.secPerClus&(p.secPerClus-1) != 0 {
		return nil, fmt.Errorf("fat: boot sector at 0xd: sectors per cluster %d: %w", p.secPerClus, ErrNotFAT)
	}
	p.clusterSize = int64(p.secPerClus) * int64(p.bytesPerSector)
	if p.clusterSize > 256<<10 {
		return nil, fmt.Errorf("fat: boot sector at 0xd: cluster size %d: %w", p.clusterSize, ErrNotFAT)
	}
	if p.reserved == 0 {
		return nil, fmt.Errorf("fat: boot sector at 0xe: no reserved sectors: %w", ErrNotFAT)
	}
	if p.numFATs == 0 || p.numFATs > 4 {
		return nil, fmt.Errorf("fat: boot sector at 0x10: %d FATs: %w", p.numFATs, ErrNotFAT)
	}
	if p.totSec == 0 {
		p.totSec = le32(32)
	}
	if p.totSec == 0 {
		return nil, fmt.Errorf("fat: boot sector at 0x13/0x20: total sectors is 0: %w", ErrNotFAT)
	}
	fat32Layout := p.fatSz == 0
	ext := 36 // extended BPB (serial, label) offset for FAT12/16
	if fat32Layout {
		p.fatSz = le32(36)
		p.rootClus = le32(44)
		p.fsInfo = le16(48)
		ext = 64
		if p.fatSz == 0 {
			return nil, fmt.Errorf("fat: boot sector at 0x24: sectors per FAT is 0: %w", ErrNotFAT)
		}
		if p.rootEntCnt != 0 {
			return nil, fmt.Errorf("fat: boot sector at 0x11: FAT32 with %d fixed root entries: %w", p.rootEntCnt, ErrNotFAT)
		}
	} else if p.rootEntCnt == 0 {
		return nil, fmt.Errorf("fat: boot sector at 0x11: FAT12/16 without root entries: %w", ErrNotFAT)
	}
	if b[ext+2] == 0x29 { // extended boot signature: serial and label present
		p.serial = binary.LittleEndian.Uint32(b[ext+3:])
		l := strings.TrimRight(string(b[ext+7:ext+18]), " \x00")
		if l != "NO NAME" {
			p.label = decodeOEM([]byte(l))
		}
	}
	p.rootDirSectors = (p.rootEntCnt*32 + p.bytesPerSector - 1) / p.bytesPerSector
	p.firstFATSect = p.reserved
	// 64-bit arithmetic: numFATs·fatSz can exceed 32 bits on hostile input.
	meta := uint64(p.reserved) + uint64(p.numFATs)*uint64(p.fatSz) + uint64(p.rootDirSectors)
	if meta >= uint64(p.totSec) {
		return nil, fmt.Errorf("fat: boot sector: reserved+FAT+root sectors %d reach past the %d sectors of the filesystem: %w", meta, p.totSec, ErrNotFAT)
	}
	p.firstDataSect = p.reserved + p.numFATs*p.fatSz
	p.firstClusSect = p.firstDataSect + p.rootDirSectors
	p.clusterCount = (p.totSec - uint32(meta)) / p.secPerClus
	if p.clusterCount == 0 {
		return nil, fmt.Errorf("fat: boot sector: no data clusters: %w", ErrNotFAT)
	}
	switch {
	case fat32Layout:
		p.bits = 32
	case p.clusterCount < 4085:
		p.bits = 12
	case p.clusterCount < 65525:
		p.bits = 16
	default:
		return nil, fmt.Errorf("fat: boot sector: FAT16 layout with %d clusters: %w", p.clusterCount, ErrNotFAT)
	}
	if p.bits == 32 && p.clusterCount > 0x0FFFFFF5 {
		return nil, fmt.Errorf("fat: boot sector: %d clusters: %w", p.clusterCount, ErrNotFAT)
	}
	// The FAT must have an entry for every cluster; a short one would make
	// entry reads land in the next FAT or the data area.
	entries := uint64(p.fatSz) * uint64(p.bytesPerSector) * 8 / uint64(p.bits)
	if entries < uint64(p.clusterCount)+2 {
		return nil, fmt.Errorf("fat: boot sector: FAT of %d sectors holds %d entries, %d clusters: %w", p.fatSz, entries, p.clusterCount, ErrNotFAT)
	}
	if p.bits == 32 && !p.validCluster(p.rootClus) {
		return nil, fmt.Errorf("fat: boot sector at 0x2c: root cluster %d outside 2..%d: %w", p.rootClus, p.clusterCount+1, ErrNotFAT)
	}
	return p, nil
}

func (p *bpb) validCluster(c uint32) bool { return c >= 2 && c-2 < p.clusterCount }

// clusterOffset is the byte offset of cluster c, which must be valid.
func (p *bpb) clusterOffset(c uint32) int64 {
	return (int64(p.firstClusSect) + int64(c-2)*int64(p.secPerClus)) * int64(p.bytesPerSector)
}

// inode is TSK's address of the directory slot at byte offset off.
func (p *bpb) inode(off int64) uint64 {
	bps := int64(p.bytesPerSector)
	sect := off / bps
	return uint64(3 + (sect-int64(p.firstDataSect))*(bps/32) + (off%bps)/32)
}

// Probe reports whether the volume starts with a FAT boot sector.
func Probe(r io.ReaderAt, size int64) bool {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && size >= 512) {
		return false
	}
	// NTFS and exFAT also carry an x86 jump and a BPB-like header; their
	// zero FAT counts fail parseBPB, but the OEM ids make it explicit.
	if string(b[3:11]) == "NTFS    " || string(b[3:11]) == "EXFAT   " {
		return false
	}
	_, err := parseBPB(b)
	return err == nil
}

// FS is an open FAT filesystem. It is safe for concurrent use.
type FS struct {
	r    io.ReaderAt
	size int64
	b    *bpb
	fat  *fatTable
	root *node
	info cfs.Info
	dc   dirCache
}

// Open reads the boot sector of a FAT volume of size bytes.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	buf := make([]byte, 512)
	if _, err := r.ReadAt(buf, 0); err != nil {
		return nil, fmt.Errorf("fat: reading boot sector: %w", err)
	}
	b, err := parseBPB(buf)
	if err != nil {
		return nil, err
	}
	f := &FS{r: r, size: size, b: b, dc: dirCache{m: map[uint64]*dirListing{}}}
	f.fat = newFATTable(r, b)
	f.root = &node{
		name:  ".",
		attr:  attrDir,
		inode: 2,
	}
	if b.bits == 32 {
		f.root.cluster = b.rootClus
	}
	fsBytes := int64(b.totSec) * int64(b.bytesPerSector)
	f.info = cfs.Info{
		Type:      "vfat",
		UUID:      fmt.Sprintf("%04X-%04X", b.serial>>16, b.serial&0xffff),
		Size:      fsBytes,
		BlockSize: int(b.clusterSize),
		Notes: []string{
			fmt.Sprintf("FAT%d, %d clusters of %d bytes", b.bits, b.clusterCount, b.clusterSize),
			"times are the volume's local wall-clock time labelled UTC (FAT stores no zone)",
		},
	}
	if fsBytes > size {
		f.info.Notes = append(f.info.Notes, fmt.Sprintf("filesystem claims %d bytes, volume has %d: truncated", fsBytes, size))
	}
	// FAT16 and FAT32 keep a clean-shutdown bit in FAT entry 1 (FAT12
	// has none).
	if v, err := f.fat.entry(1); err == nil {
		f.info.Dirty = (b.bits == 16 && v&0x8000 == 0) || (b.bits == 32 && v&0x08000000 == 0)
	}
	rootSize, err := f.dirSize(f.root)
	if err != nil {
		return nil, fmt.Errorf("fat: root directory: %w", err)
	}
	f.root.size = rootSize
	f.info.Label = b.label
	if l, ok := f.rootLabel(); ok {
		f.info.Label = l
	}
	return f, nil
}

// Info describes the filesystem.
func (f *FS) Info() cfs.Info {
	i := f.info
	i.Notes = append([]string(nil), f.info.Notes...)
	return i
}

// Bits is 12, 16 or 32.
func (f *FS) Bits() int { return f.b.bits }

// ClusterCount is the number of data clusters.
func (f *FS) ClusterCount() int { return int(f.b.clusterCount) }

// readFull reads len(p) bytes at off, naming the structure on failure.
func (f *FS) readFull(p []byte, off int64, what string) error {
	if off < 0 || off+int64(len(p)) > f.size {
		return fmt.Errorf("fat: %s at %#x+%d: past the end of the volume (%d bytes): %w", what, off, len(p), f.size, ErrCorrupt)
	}
	n, err := f.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("fat: %s at %#x: %w", what, off, err)
}

// dosTime converts a FAT date and time (and the 10 ms creation count) to
// a UTC-naive time. A zero date, or fields out of range, give the zero
// time: they are unset rather than a real 1980 date.
func dosTime(date, tim uint16, tenms byte) time.Time {
	if date == 0 {
		return time.Time{}
	}
	day := int(date & 0x1f)
	mon := int(date>>5) & 0xf
	year := int(date>>9) + 1980
	sec := int(tim&0x1f) * 2
	min := int(tim>>5) & 0x3f
	hour := int(tim >> 11)
	if day == 0 || mon == 0 || mon > 12 || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}
	}
	ns := 0
	if tenms <= 199 {
		sec += int(tenms) / 100
		ns = int(tenms%100) * 10_000_000
	}
	return time.Date(year, time.Month(mon), day, hour, min, sec, ns, time.UTC)
}
