// Package rpmdb reads the rpm package database of RPM-family guests
// (RHEL, CentOS, Alma, Rocky, Fedora) without rpm: the header blobs rpm
// stores per installed package, and the containers that hold them —
// sqlite (rpmdb.sqlite, RHEL 9, Fedora ≥ 33) through the small reader in
// package rpmdb/sqlite, and Berkeley DB hash files (Packages, CentOS 7,
// RHEL 8) through a reader of BDB hash pages of its own.
//
// A header blob is what rpm keeps in the database: the on-disk header
// without its 8-byte magic — index count and data length (big-endian
// int32s), that many 16-byte index entries (tag, type, offset, count), then
// the data store. Every offset, count and length is checked against the
// blob; entries that do not fit are errors, not guesses.
//
// It also reads the package managers' transaction histories — dnf's
// history.sqlite and yum 3's history-*.sqlite — which tell who (login
// uid) ran which command when, and what it changed. SUSE's NDB format
// (Packages.db) is found but not read.
package rpmdb

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Header tags read here (rpmtag.h).
const (
	TagHeaderImage      = 61
	TagHeaderSignatures = 62
	TagHeaderImmutable  = 63
	TagName             = 1000
	TagVersion          = 1001
	TagRelease          = 1002
	TagEpoch            = 1003
	TagSummary          = 1004
	TagBuildTime        = 1006
	TagBuildHost        = 1007
	TagInstallTime      = 1008
	TagSize             = 1009
	TagVendor           = 1011
	TagPackager         = 1015
	TagFileSizes        = 1028
	TagFileModes        = 1030
	TagFileRdevs        = 1033
	TagFileMtimes       = 1034
	TagFileDigests      = 1035
	TagFileLinkTos      = 1036
	TagFileFlags        = 1037
	TagFileUserName     = 1039
	TagFileGroupName    = 1040
	TagSourceRPM        = 1044
	TagArch             = 1022
	TagOldFilenames     = 1027
	TagDirIndexes       = 1116
	TagBaseNames        = 1117
	TagDirNames         = 1118
	TagInstallTID       = 1128
	TagFileDigestAlgo   = 5011
	TagLongFileSizes    = 5008
)

// Entry data types (rpm's rpmTagType).
const (
	TypeNull        = 0
	TypeChar        = 1
	TypeInt8        = 2
	TypeInt16       = 3
	TypeInt32       = 4
	TypeInt64       = 5
	TypeString      = 6
	TypeBin         = 7
	TypeStringArray = 8
	TypeI18NString  = 9
)

// Limits. rpm itself refuses headers over 256 MiB and 64 Ki index
// entries (hdrchkTags/hdrchkData); ours are tighter, since a package
// header larger than this is not one rpm wrote.
const (
	MaxHeaderSize = 64 << 20
	maxIndex      = 1 << 16
)

// ErrHeader is wrapped by every header format error.
var ErrHeader = errors.New("rpm header")

type entry struct {
	typ    uint32
	offset uint32
	count  uint32
}

// Header is a parsed header blob. Its accessors return zero values for
// tags that are absent or of another type.
type Header struct {
	data    []byte // the data store
	entries map[uint32]entry
}

// ParseHeader parses a header blob as stored in the rpm database. It keeps
// a reference to blob.
func ParseHeader(blob []byte) (*Header, error) {
	if len(blob) < 8 {
		return nil, fmt.Errorf("%w: %d bytes, need at least 8", ErrHeader, len(blob))
	}
	if len(blob) > MaxHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds the %d limit", ErrHeader, len(blob), MaxHeaderSize)
	}
	il := binary.BigEndian.Uint32(blob[0:])
	dl := binary.BigEndian.Uint32(blob[4:])
	if il == 0 || il > maxIndex {
		return nil, fmt.Errorf("%w: index count %d at offset 0 out of range", ErrHeader, il)
	}
	need := 8 + uint64(il)*16 + uint64(dl)
	if need > uint64(len(blob)) {
		return nil, fmt.Errorf("%w: index count %d and data length %d need %d bytes, blob has %d", ErrHeader, il, dl, need, len(blob))
	}
	h := &Header{data: blob[8+il*16 : need], entries: make(map[uint32]entry, il)}
	// Overlapping string entries could make validation scan the store once
	// per entry; rpm never writes overlaps, so a budget of twice the store
	// is plenty.
	budget := 2*uint64(dl) + 4096
	for i := uint32(0); i < il; i++ {
		off := 8 + i*16
		e := blob[off : off+16]
		tag := binary.BigEndian.Uint32(e[0:])
		en := entry{typ: binary.BigEndian.Uint32(e[4:]), offset: binary.BigEndian.Uint32(e[8:]), count: binary.BigEndian.Uint32(e[12:])}
		if tag >= TagHeaderImage && tag <= TagHeaderImmutable {
			// Region markers: their trailer points backwards by design
			// (negative offset); the entries they cover follow anyway.
			continue
		}
		if err := h.check(en, &budget); err != nil {
			return nil, fmt.Errorf("%w: index entry %d (tag %d) at offset %#x: %v", ErrHeader, i, tag, off, err)
		}
		// Entries appended after the immutable region when the package
		// was installed ("dribbles") replace same-tag entries, as in rpm.
		h.entries[tag] = en
	}
	return h, nil
}

func typeSize(t uint32) uint64 {
	switch t {
	case TypeChar, TypeInt8, TypeBin:
		return 1
	case TypeInt16:
		return 2
	case TypeInt32:
		return 4
	case TypeInt64:
		return 8
	}
	return 0
}

// check validates one entry against the data store.
func (h *Header) check(e entry, budget *uint64) error {
	dl := uint64(len(h.data))
	if uint64(e.offset) > dl {
		return fmt.Errorf("data offset %#x past the %d-byte data store", e.offset, dl)
	}
	switch e.typ {
	case TypeNull:
		return nil
	case TypeString:
		if e.count != 1 {
			return fmt.Errorf("string with count %d", e.count)
		}
		fallthrough
	case TypeStringArray, TypeI18NString:
		if e.count == 0 || uint64(e.count) > dl-uint64(e.offset) {
			return fmt.Errorf("%d strings at data offset %#x exceed the data store", e.count, e.offset)
		}
		// The strings must all end within the store.
		p := uint64(e.offset)
		for n := uint32(0); n < e.count; n++ {
			i := indexNUL(h.data[p:])
			if i < 0 {
				return fmt.Errorf("string %d at data offset %#x not terminated", n, p)
			}
			p += uint64(i) + 1
			if uint64(i)+1 > *budget {
				return fmt.Errorf("string entries overlap beyond reason (at data offset %#x)", p)
			}
			*budget -= uint64(i) + 1
		}
		return nil
	}
	sz := typeSize(e.typ)
	if sz == 0 {
		return fmt.Errorf("unknown type %d", e.typ)
	}
	if uint64(e.count)*sz > dl-uint64(e.offset) {
		return fmt.Errorf("%d items of type %d at data offset %#x exceed the %d-byte data store", e.count, e.typ, e.offset, dl)
	}
	return nil
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// Has reports whether tag is present.
func (h *Header) Has(tag uint32) bool { _, ok := h.entries[tag]; return ok }

// Tags returns the number of distinct tags.
func (h *Header) Tags() int { return len(h.entries) }

// String returns a STRING or the first of a STRING_ARRAY/I18NSTRING.
func (h *Header) String(tag uint32) string {
	e, ok := h.entries[tag]
	if !ok || (e.typ != TypeString && e.typ != TypeStringArray && e.typ != TypeI18NString) {
		return ""
	}
	b := h.data[e.offset:]
	return string(b[:indexNUL(b)])
}

// Strings returns a STRING_ARRAY (or a STRING as one element).
func (h *Header) Strings(tag uint32) []string {
	e, ok := h.entries[tag]
	if !ok || (e.typ != TypeString && e.typ != TypeStringArray && e.typ != TypeI18NString) {
		return nil
	}
	out := make([]string, 0, e.count) // count ≤ data length, checked
	b := h.data[e.offset:]
	for n := uint32(0); n < e.count; n++ {
		i := indexNUL(b)
		out = append(out, string(b[:i]))
		b = b[i+1:]
	}
	return out
}

// Ints returns an INT8/CHAR, INT16, INT32 or INT64 array widened to
// uint64.
func (h *Header) Ints(tag uint32) []uint64 {
	e, ok := h.entries[tag]
	if !ok {
		return nil
	}
	sz := typeSize(e.typ)
	if sz == 0 || e.typ == TypeBin {
		return nil
	}
	out := make([]uint64, e.count) // count*sz ≤ data length, checked
	b := h.data[e.offset:]
	for i := range out {
		switch sz {
		case 1:
			out[i] = uint64(b[i])
		case 2:
			out[i] = uint64(binary.BigEndian.Uint16(b[2*i:]))
		case 4:
			out[i] = uint64(binary.BigEndian.Uint32(b[4*i:]))
		case 8:
			out[i] = binary.BigEndian.Uint64(b[8*i:])
		}
	}
	return out
}

// Int returns the first integer of tag.
func (h *Header) Int(tag uint32) (uint64, bool) {
	e, ok := h.entries[tag]
	if !ok || e.count == 0 {
		return 0, false
	}
	sz := typeSize(e.typ)
	if sz == 0 || e.typ == TypeBin {
		return 0, false
	}
	b := h.data[e.offset:]
	switch sz {
	case 1:
		return uint64(b[0]), true
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), true
	case 4:
		return uint64(binary.BigEndian.Uint32(b)), true
	}
	return binary.BigEndian.Uint64(b), true
}

// Bytes returns a BIN entry.
func (h *Header) Bytes(tag uint32) []byte {
	e, ok := h.entries[tag]
	if !ok || e.typ != TypeBin {
		return nil
	}
	return h.data[e.offset : e.offset+e.count]
}
