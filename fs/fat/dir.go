package fat

import (
	"encoding/binary"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/coldcase-dfir/coldcase/fs/internal/fsutil"
)

const (
	attrReadOnly = 0x01
	attrHidden   = 0x02
	attrSystem   = 0x04
	attrVolume   = 0x08
	attrDir      = 0x10
	attrArchive  = 0x20
	attrLFN      = 0x0f

	slotDeleted = 0xe5
	entrySize   = 32

	// maxDirBytes bounds one directory: FAT allows 65536 entries of 32
	// bytes. A longer chain is read only this far.
	maxDirBytes = 65536 * entrySize
	// maxLFNSlots is 255 UTF-16 units in 13-unit slots.
	maxLFNSlots = 20
)

// node is one directory entry (or the root).
type node struct {
	name    string // long name, or 8.3 name with case flags applied
	short   string // 8.3 name as stored ("FOO.TXT")
	attr    byte
	cluster uint32
	size    int64 // files: size field; directories: allocated bytes
	mtime   time.Time
	atime   time.Time
	btime   time.Time
	inode   uint64
	off     int64 // byte offset of the 8.3 slot in the volume (0 for the root)
	deleted bool
	hasLFN  bool
}

func (n *node) isDir() bool { return n.attr&attrDir != 0 }

// dirListing is what one directory holds.
type dirListing struct {
	live    []*node
	deleted []*node
	label   string
	hasLbl  bool
}

// lfnRun collects the long-name slots that precede an 8.3 slot.
type lfnRun struct {
	units    [maxLFNSlots][13]uint16
	count    int // slots announced by the first (0x40) slot
	next     int // sequence number expected next; 0 when complete
	checksum byte
	active   bool
}

func (r *lfnRun) reset() { r.active = false; r.count = 0; r.next = 0 }

// add takes one live LFN slot.
func (r *lfnRun) add(e []byte) {
	seq := int(e[0] & 0x1f)
	if e[0]&0x40 != 0 {
		if seq == 0 || seq > maxLFNSlots {
			r.reset()
			return
		}
		r.active, r.count, r.next, r.checksum = true, seq, seq, e[13]
	} else if !r.active || seq != r.next || e[13] != r.checksum {
		r.reset()
		return
	}
	r.units[seq-1] = lfnUnits(e)
	r.next--
}

// name returns the long name when the run is complete and belongs to the
// 8.3 slot whose checksum is sum.
func (r *lfnRun) name(sum byte) (string, bool) {
	if !r.active || r.next != 0 || r.checksum != sum {
		return "", false
	}
	var u []uint16
	for i := 0; i < r.count; i++ {
		u = append(u, r.units[i][:]...)
	}
	return decodeLFN(u), true
}

func lfnUnits(e []byte) (u [13]uint16) {
	for i, o := range [13]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
		u[i] = binary.LittleEndian.Uint16(e[o:])
	}
	return u
}

// decodeLFN turns UTF-16 units (surrogate pairs included) into a string,
// stopping at the NUL terminator; the 0xFFFF padding after it is ignored.
// Unpaired surrogates become U+FFFD.
func decodeLFN(u []uint16) string {
	for i, c := range u {
		if c == 0 {
			u = u[:i]
			break
		}
	}
	return string(utf16.Decode(u))
}

// shortChecksum is the VFAT checksum of an 11-byte 8.3 name.
func shortChecksum(name []byte) byte {
	var s byte
	for _, c := range name[:11] {
		s = (s>>1 | s<<7) + c
	}
	return s
}

// shortName renders an 8.3 slot's name: "BASE.EXT", lower-cased per the
// NT flags (byte 12: 0x08 base, 0x10 extension), bytes as code page 437.
func shortName(e []byte, applyCase bool) string {
	base := append([]byte(nil), e[0:8]...)
	if base[0] == 0x05 { // a real 0xE5 first byte, escaped
		base[0] = 0xe5
	}
	ext := append([]byte(nil), e[8:11]...)
	if applyCase {
		if e[12]&0x08 != 0 {
			lowerASCII(base)
		}
		if e[12]&0x10 != 0 {
			lowerASCII(ext)
		}
	}
	b := strings.TrimRight(decodeOEM(base), " ")
	x := strings.TrimRight(decodeOEM(ext), " ")
	if x != "" {
		return b + "." + x
	}
	return b
}

func lowerASCII(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// parseDir decodes the slots of one directory. slotOff maps a slot index
// to its byte offset in the volume (slots of a directory are contiguous
// only within a cluster), which also gives the TSK inode of an entry.
// Parsing stops at the first never-used slot (first byte 0), as DOS does.
func parseDir(buf []byte, slotOff func(int) int64, b *bpb) *dirListing {
	l := &dirListing{}
	var run lfnRun
	var del []([]uint16) // deleted LFN slots in on-disk order
	var delSum byte
	for i := 0; i+entrySize <= len(buf); i += entrySize {
		e := buf[i : i+entrySize]
		attr := e[11]
		switch {
		case e[0] == 0:
			return l
		case e[0] == slotDeleted && attr&0x3f == attrLFN:
			// Deleted long-name slots lose their sequence byte; keep
			// those with one checksum, in order, for the 8.3 slot after.
			if len(del) > 0 && e[13] != delSum || len(del) >= maxLFNSlots {
				del = del[:0]
			}
			delSum = e[13]
			u := lfnUnits(e)
			del = append(del, u[:])
			run.reset()
			continue
		case attr&0x3f == attrLFN:
			run.add(e)
			del = del[:0]
			continue
		}
		// An 8.3 slot (live or deleted).
		lfn, okLFN := "", false
		deleted := e[0] == slotDeleted
		if deleted {
			if len(del) > 0 {
				var u []uint16
				for j := len(del) - 1; j >= 0; j-- {
					u = append(u, del[j]...)
				}
				lfn, okLFN = decodeLFN(u), true
			}
		} else {
			lfn, okLFN = run.name(shortChecksum(e))
		}
		run.reset()
		del = del[:0]
		if attr&attrVolume != 0 && attr&attrDir == 0 {
			if !deleted && !l.hasLbl {
				l.label = strings.TrimRight(decodeOEM(e[0:11]), " ")
				l.hasLbl = true
			}
			continue
		}
		if e[0] == '.' && (string(e[0:11]) == ".          " || string(e[0:11]) == "..         ") {
			continue
		}
		n := &node{
			short:   shortName(e, false),
			attr:    attr,
			cluster: uint32(binary.LittleEndian.Uint16(e[26:])),
			size:    int64(binary.LittleEndian.Uint32(e[28:])),
			mtime:   dosTime(binary.LittleEndian.Uint16(e[24:]), binary.LittleEndian.Uint16(e[22:]), 0),
			atime:   dosTime(binary.LittleEndian.Uint16(e[18:]), 0, 0),
			btime:   dosTime(binary.LittleEndian.Uint16(e[16:]), binary.LittleEndian.Uint16(e[14:]), e[13]),
			off:     slotOff(i / entrySize),
			deleted: deleted,
			hasLFN:  okLFN && lfn != "",
		}
		if b.bits == 32 {
			n.cluster |= uint32(binary.LittleEndian.Uint16(e[20:])) << 16
		}
		n.inode = b.inode(n.off)
		if n.hasLFN {
			n.name = lfn
		} else {
			n.name = shortName(e, true)
		}
		if deleted {
			// The first character of the 8.3 name is lost; TSK shows '_'.
			n.short = firstUnknown(n.short)
			if !n.hasLFN {
				n.name = firstUnknown(n.name)
			}
		}
		n.name = fsutil.SafeName(n.name)
		if deleted {
			l.deleted = append(l.deleted, n)
		} else {
			l.live = append(l.live, n)
		}
	}
	return l
}

func firstUnknown(s string) string {
	r := []rune(s)
	if len(r) > 0 {
		r[0] = '_'
	}
	return string(r)
}
