// Package journal reads systemd journal files (system.journal,
// user-1000.journal, archived *@*.journal and dirty *.journal~) without
// systemd, following systemd's JOURNAL_FILE_FORMAT: regular and compact
// files, xz, lz4 and zstd compressed data objects, keyed and unkeyed hash
// tables, and files truncated or damaged mid-way, whose entries are read
// up to the damage.
//
// Entries are found the way journalctl finds them, through the header's
// chain of entry arrays; every offset in the chain is bounds-checked, and
// the chain must move forward through the file (journald only appends), so
// a cycle ends it. Nothing is sized by the file: objects, fields and
// decompressed payloads have fixed limits.
//
// # Events
//
// The "journal" extractor reads /var/log/journal/*.journal{,~} and
// /var/log/journal/<machine-id>/*.journal{,~} and emits one event per
// entry: Source "journal", TimestampDesc "Journal entry", Time the entry's
// realtime (__REALTIME_TIMESTAMP, UTC), Message MESSAGE, Host _HOSTNAME.
// User is left empty: _UID is numeric, and resolving it to a name is the
// users extractor's job; it is in Attrs "uid". Other Attrs: "pid" (_PID),
// "comm" (_COMM), "exe" (_EXE), "identifier" (SYSLOG_IDENTIFIER),
// "boot_id" (the entry's boot id, 32 hex digits), "hostname" (_HOSTNAME),
// "unit" (_SYSTEMD_UNIT), "transport" (_TRANSPORT), "priority" (PRIORITY),
// "seqnum" (the entry's sequence number), each only when present.
// Evidence.Offset is the byte offset of the entry object in the file;
// Evidence.Line is 0.
package journal

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// Object types.
const (
	objUnused = iota
	objData
	objField
	objEntry
	objDataHashTable
	objFieldHashTable
	objEntryArray
	objTag
)

// Object flags: how a data object's payload is compressed.
const (
	objCompressedXZ   = 1 << 0
	objCompressedLZ4  = 1 << 1
	objCompressedZSTD = 1 << 2
)

// Incompatible header flags.
const (
	FlagCompressedXZ   = 1 << 0
	FlagCompressedLZ4  = 1 << 1
	FlagKeyedHash      = 1 << 2
	FlagCompressedZSTD = 1 << 3
	FlagCompact        = 1 << 4
	knownIncompatible  = FlagCompressedXZ | FlagCompressedLZ4 | FlagKeyedHash | FlagCompressedZSTD | FlagCompact
)

// Limits that keep a hostile file from sizing our allocations.
var (
	// MaxFieldSize bounds a data object's payload, compressed or not.
	MaxFieldSize = 64 << 20
	// MaxEntryItems bounds the fields of one entry (journald writes at most
	// a few hundred).
	MaxEntryItems = 1 << 16
)

const (
	headerMinSize  = 208 // up to n_data, the first field added after the initial design
	objHeaderSize  = 16
	dataHeaderSize = 64 // payload offset of a regular data object; compact adds 8
	entryItemsOff  = 64
	arrayItemsOff  = 24
	fieldNameOff   = 40
)

var signature = []byte("LPKSHHRH")

// Header is a journal file's header. Fields a file's header_size does not
// cover (older writers) are zero.
type Header struct {
	Compatible                               uint32
	Incompatible                             uint32
	State                                    uint8 // 0 offline, 1 online, 2 archived
	FileID                                   [16]byte
	MachineID                                [16]byte
	TailEntryBootID                          [16]byte
	SeqnumID                                 [16]byte
	HeaderSize                               uint64
	ArenaSize                                uint64
	DataHashTableOffset, DataHashTableSize   uint64
	FieldHashTableOffset, FieldHashTableSize uint64
	TailObjectOffset                         uint64
	NObjects, NEntries                       uint64
	TailEntrySeqnum, HeadEntrySeqnum         uint64
	EntryArrayOffset                         uint64
	HeadEntryRealtime, TailEntryRealtime     uint64
	TailEntryMonotonic                       uint64
	NData, NFields, NTags, NEntryArrays      uint64
}

// Compact reports whether the file uses the compact format (32-bit
// offsets in entries and entry arrays).
func (h *Header) Compact() bool { return h.Incompatible&FlagCompact != 0 }

// StateName is the header's state as journalctl --header prints it.
func (h *Header) StateName() string {
	switch h.State {
	case 0:
		return "OFFLINE"
	case 1:
		return "ONLINE"
	case 2:
		return "ARCHIVED"
	}
	return fmt.Sprintf("state %d", h.State)
}

// FlagNames lists the incompatible flags by name.
func (h *Header) FlagNames() []string {
	var out []string
	for _, f := range []struct {
		bit  uint32
		name string
	}{{FlagCompressedXZ, "COMPRESSED-XZ"}, {FlagCompressedLZ4, "COMPRESSED-LZ4"}, {FlagKeyedHash, "KEYED-HASH"},
		{FlagCompressedZSTD, "COMPRESSED-ZSTD"}, {FlagCompact, "COMPACT"}} {
		if h.Incompatible&f.bit != 0 {
			out = append(out, f.name)
		}
	}
	return out
}

// File is an open journal file.
type File struct {
	Header Header
	// Warn, when set, receives problems that did not stop reading: a field
	// that could not be read, a corrupt entry skipped.
	Warn func(offset int64, msg string)

	r     io.ReaderAt
	size  int64
	cache blockCache
	zstd  *zstd.Decoder
	data  map[uint64][]byte // small decoded data payloads by offset
}

// Open reads a journal file's header. The file is read lazily afterwards.
func Open(r io.ReaderAt, size int64) (*File, error) {
	f := &File{r: r, size: size, data: map[uint64][]byte{}}
	f.cache.init(r, size)
	var b [272]byte
	n, err := r.ReadAt(b[:], 0)
	if n < headerMinSize {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("journal: header: %w", err)
	}
	if !bytes.Equal(b[:8], signature) {
		return nil, errors.New("journal: header: signature is not LPKSHHRH")
	}
	h := &f.Header
	le := binary.LittleEndian
	h.Compatible = le.Uint32(b[8:])
	h.Incompatible = le.Uint32(b[12:])
	h.State = b[16]
	copy(h.FileID[:], b[24:])
	copy(h.MachineID[:], b[40:])
	copy(h.TailEntryBootID[:], b[56:])
	copy(h.SeqnumID[:], b[72:])
	h.HeaderSize = le.Uint64(b[88:])
	if h.HeaderSize < headerMinSize || h.HeaderSize > uint64(size) {
		return nil, fmt.Errorf("journal: header: header_size %d outside [%d, file size %d]", h.HeaderSize, headerMinSize, size)
	}
	if unknown := h.Incompatible &^ knownIncompatible; unknown != 0 {
		return nil, fmt.Errorf("journal: header: unknown incompatible flags %#x", unknown)
	}
	// Only the part header_size covers is the header; the rest may be the
	// first object.
	hb := b[:min(int(h.HeaderSize), len(b), n)]
	u64 := func(off int) uint64 {
		if off+8 > len(hb) {
			return 0
		}
		return le.Uint64(hb[off:])
	}
	h.ArenaSize = u64(96)
	h.DataHashTableOffset, h.DataHashTableSize = u64(104), u64(112)
	h.FieldHashTableOffset, h.FieldHashTableSize = u64(120), u64(128)
	h.TailObjectOffset = u64(136)
	h.NObjects, h.NEntries = u64(144), u64(152)
	h.TailEntrySeqnum, h.HeadEntrySeqnum = u64(160), u64(168)
	h.EntryArrayOffset = u64(176)
	h.HeadEntryRealtime, h.TailEntryRealtime = u64(184), u64(192)
	h.TailEntryMonotonic = u64(200)
	h.NData, h.NFields, h.NTags, h.NEntryArrays = u64(208), u64(216), u64(224), u64(232)
	return f, nil
}

// Size is the size of the file as opened.
func (f *File) Size() int64 { return f.size }

// Truncated reports whether the file is shorter than its header says it
// should be (header_size + arena_size).
func (f *File) Truncated() bool {
	return f.Header.HeaderSize+f.Header.ArenaSize > uint64(f.size)
}

func (f *File) warn(off int64, format string, args ...any) {
	if f.Warn != nil {
		f.Warn(off, fmt.Sprintf(format, args...))
	}
}

// ErrBeyondEOF marks a structure that lies past the end of the file: the
// file was truncated (or the offset is corrupt).
var ErrBeyondEOF = errors.New("beyond end of file")

// objectHeader reads and checks the header of the object at off: aligned,
// after the file header, of the wanted type, at least min bytes long and
// inside the file. It returns the object's size and flags.
func (f *File) objectHeader(off uint64, typ uint8, minSize uint64) (size uint64, flags uint8, err error) {
	if off%8 != 0 || off < f.Header.HeaderSize {
		return 0, 0, fmt.Errorf("object at %#x: misplaced offset", off)
	}
	if off > uint64(f.size) || uint64(f.size)-off < objHeaderSize {
		return 0, 0, fmt.Errorf("object at %#x: %w (file size %#x)", off, ErrBeyondEOF, f.size)
	}
	var b [objHeaderSize]byte
	if err := f.cache.readAt(b[:], int64(off)); err != nil {
		return 0, 0, fmt.Errorf("object at %#x: %w", off, err)
	}
	size = binary.LittleEndian.Uint64(b[8:])
	if b[0] != typ {
		return 0, 0, fmt.Errorf("object at %#x: type %d, want %d", off, b[0], typ)
	}
	if size < minSize {
		return 0, 0, fmt.Errorf("object at %#x: size %d too small for type %d", off, size, typ)
	}
	if size > uint64(f.size)-off {
		return size, b[1], fmt.Errorf("object at %#x: size %d: %w (file size %#x)", off, size, ErrBeyondEOF, f.size)
	}
	return size, b[1], nil
}

// Field is one FIELD=value pair of an entry. Value must not be modified:
// it may be shared with other entries.
type Field struct {
	Name  string
	Value []byte
}

// Entry is one journal entry.
type Entry struct {
	Offset    int64 // of the entry object
	Seqnum    uint64
	Realtime  uint64 // µs since the epoch, UTC
	Monotonic uint64 // µs since boot
	BootID    [16]byte
	Fields    []Field
}

// Time is the entry's realtime.
func (e *Entry) Time() time.Time { return time.UnixMicro(int64(e.Realtime)).UTC() }

// BootIDString is the boot id as 32 hex digits, as journalctl prints it.
func (e *Entry) BootIDString() string { return hex.EncodeToString(e.BootID[:]) }

// Get returns the value of the first field with the given name.
func (e *Entry) Get(name string) (string, bool) {
	for _, fl := range e.Fields {
		if fl.Name == name {
			return string(fl.Value), true
		}
	}
	return "", false
}

// readEntry reads the entry object at off and its fields. An error means
// the entry could not be read at all; unreadable fields are warned about
// and left out.
func (f *File) readEntry(off uint64, e *Entry) error {
	size, _, err := f.objectHeader(off, objEntry, entryItemsOff)
	if err != nil {
		return fmt.Errorf("entry: %w", err)
	}
	itemSize := uint64(16)
	if f.Header.Compact() {
		itemSize = 4
	}
	n := (size - entryItemsOff) / itemSize
	if n > uint64(MaxEntryItems) {
		return fmt.Errorf("entry at %#x: %d items, more than %d", off, n, MaxEntryItems)
	}
	b := make([]byte, entryItemsOff+n*itemSize)
	if err := f.cache.readAt(b, int64(off)); err != nil {
		return fmt.Errorf("entry at %#x: %w", off, err)
	}
	le := binary.LittleEndian
	*e = Entry{
		Offset:    int64(off),
		Seqnum:    le.Uint64(b[16:]),
		Realtime:  le.Uint64(b[24:]),
		Monotonic: le.Uint64(b[32:]),
		Fields:    make([]Field, 0, n),
	}
	copy(e.BootID[:], b[40:56])
	for i := uint64(0); i < n; i++ {
		p := b[entryItemsOff+i*itemSize:]
		var doff uint64
		if f.Header.Compact() {
			doff = uint64(le.Uint32(p))
		} else {
			doff = le.Uint64(p)
		}
		payload, err := f.readData(doff)
		if err != nil {
			f.warn(int64(off), "entry at %#x, item %d: %v", off, i, err)
			continue
		}
		name, value, ok := bytes.Cut(payload, []byte{'='})
		if !ok {
			f.warn(int64(doff), "data object at %#x: payload has no '='", doff)
			continue
		}
		e.Fields = append(e.Fields, Field{Name: string(name), Value: value})
	}
	return nil
}

// smallData is the largest payload kept in the data cache: the fields
// that repeat (host, boot id, unit, comm) are short.
const (
	smallData    = 256
	maxDataCache = 8192
)

// readData returns the decoded payload ("NAME=value") of a data object.
func (f *File) readData(off uint64) ([]byte, error) {
	if p, ok := f.data[off]; ok {
		return p, nil
	}
	start := uint64(dataHeaderSize)
	if f.Header.Compact() {
		start += 8
	}
	size, flags, err := f.objectHeader(off, objData, start)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	plen := size - start
	if plen > uint64(MaxFieldSize) {
		return nil, fmt.Errorf("data object at %#x: payload of %d bytes exceeds the %d limit", off, plen, MaxFieldSize)
	}
	raw := make([]byte, plen)
	if err := f.cache.readAt(raw, int64(off+start)); err != nil {
		return nil, fmt.Errorf("data object at %#x: %w", off, err)
	}
	payload, err := f.decompress(raw, flags)
	if err != nil {
		return nil, fmt.Errorf("data object at %#x: %w", off, err)
	}
	if len(payload) <= smallData {
		if len(f.data) >= maxDataCache {
			clear(f.data)
		}
		f.data[off] = payload
	}
	return payload, nil
}

func (f *File) decompress(raw []byte, flags uint8) ([]byte, error) {
	switch flags & (objCompressedXZ | objCompressedLZ4 | objCompressedZSTD) {
	case 0:
		return raw, nil
	case objCompressedXZ:
		zr, err := xz.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, int64(MaxFieldSize)+1))
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		if len(out) > MaxFieldSize {
			return nil, fmt.Errorf("xz: decompressed payload exceeds the %d limit", MaxFieldSize)
		}
		return out, nil
	case objCompressedLZ4:
		// systemd prefixes the LZ4 block with its decompressed size.
		if len(raw) < 8 {
			return nil, errors.New("lz4: payload shorter than its size prefix")
		}
		n := binary.LittleEndian.Uint64(raw)
		if n > uint64(MaxFieldSize) {
			return nil, fmt.Errorf("lz4: decompressed size %d exceeds the %d limit", n, MaxFieldSize)
		}
		out := make([]byte, n)
		m, err := lz4.UncompressBlock(raw[8:], out)
		if err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if uint64(m) != n {
			return nil, fmt.Errorf("lz4: %d bytes decompressed, size prefix says %d", m, n)
		}
		return out, nil
	case objCompressedZSTD:
		if f.zstd == nil {
			d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxMemory(uint64(MaxFieldSize)))
			if err != nil {
				return nil, fmt.Errorf("zstd: %w", err)
			}
			f.zstd = d
		}
		out, err := f.zstd.DecodeAll(raw, nil)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("payload with several compression flags (%#x)", flags)
}

// Close releases the decoders; it does not close the underlying reader.
func (f *File) Close() error {
	if f.zstd != nil {
		f.zstd.Close()
		f.zstd = nil
	}
	return nil
}

// Entries returns an iterator over the file's entries in the order of the
// header's entry array chain (seqnum order).
func (f *File) Entries() *Iterator {
	return &Iterator{f: f, next: f.Header.EntryArrayOffset}
}

// Iterator walks the entry array chain.
type Iterator struct {
	f     *File
	next  uint64 // next entry array to load, 0 at the end of the chain
	arr   uint64 // current entry array
	nItem uint64 // its item count (within the file)
	idx   uint64
	items []byte // a window of the current array's items
	iOff  uint64 // item index of items[0]
	cut   bool   // the current array runs past the end of the file
	last  uint64 // offset of the previous entry
	seen  uint64 // entries returned or skipped
	entry Entry
	err   error
	done  bool
}

// Next advances to the next entry. It returns false at the end of the
// chain or at damage; Err tells which.
func (it *Iterator) Next() bool {
	if it.done {
		return false
	}
	for {
		off, ok := it.nextItem()
		if !ok {
			it.done = true
			return false
		}
		// Entries never repeat nor go backwards: journald appends.
		if off <= it.last {
			it.fail(fmt.Errorf("journal: entry array at %#x: entry offset %#x does not follow %#x", it.arr, off, it.last))
			return false
		}
		it.last = off
		it.seen++
		if err := it.f.readEntry(off, &it.entry); err != nil {
			if errors.Is(err, ErrBeyondEOF) {
				// Truncation: every later entry is further out.
				it.fail(fmt.Errorf("journal: %w", err))
				return false
			}
			it.f.warn(int64(off), "%v; entry skipped", err)
			continue
		}
		return true
	}
}

// Entry is the current entry; it is overwritten by the next call to Next.
func (it *Iterator) Entry() *Entry { return &it.entry }

// Err is the damage that ended iteration early, nil when the chain was
// read to its end. Entries returned before it are valid.
func (it *Iterator) Err() error { return it.err }

func (it *Iterator) fail(err error) {
	it.err = err
	it.done = true
}

const itemWindow = 4096 // bytes of entry array items read at once

// nextItem returns the next non-zero entry offset of the chain.
func (it *Iterator) nextItem() (uint64, bool) {
	f := it.f
	itemSize := uint64(8)
	if f.Header.Compact() {
		itemSize = 4
	}
	for {
		if it.arr != 0 && it.idx < it.nItem {
			i := it.idx
			if i < it.iOff || i >= it.iOff+uint64(len(it.items))/itemSize {
				n := min(it.nItem-i, itemWindow/itemSize)
				it.items = it.items[:0]
				it.items = append(it.items, make([]byte, n*itemSize)...)
				if err := f.cache.readAt(it.items, int64(it.arr+arrayItemsOff+i*itemSize)); err != nil {
					it.fail(fmt.Errorf("journal: entry array at %#x: %w", it.arr, err))
					return 0, false
				}
				it.iOff = i
			}
			p := it.items[(i-it.iOff)*itemSize:]
			it.idx++
			var off uint64
			if itemSize == 4 {
				off = uint64(binary.LittleEndian.Uint32(p))
			} else {
				off = binary.LittleEndian.Uint64(p)
			}
			if off == 0 {
				// Unused slots end an array: go to the next one.
				it.idx, it.cut = it.nItem, false
				continue
			}
			return off, true
		}
		if it.arr != 0 && it.cut {
			it.fail(fmt.Errorf("journal: entry array at %#x: %w (file size %#x)", it.arr, ErrBeyondEOF, f.size))
			return 0, false
		}
		if it.next == 0 {
			return 0, false
		}
		if it.next <= it.arr {
			it.fail(fmt.Errorf("journal: entry array at %#x: next array %#x does not follow it (cycle)", it.arr, it.next))
			return 0, false
		}
		size, _, err := f.objectHeader(it.next, objEntryArray, arrayItemsOff)
		if err != nil && !(errors.Is(err, ErrBeyondEOF) && size != 0) {
			it.fail(fmt.Errorf("journal: entry array: %w", err))
			return 0, false
		}
		var b [8]byte
		if err := f.cache.readAt(b[:], int64(it.next+16)); err != nil {
			it.fail(fmt.Errorf("journal: entry array at %#x: %w", it.next, err))
			return 0, false
		}
		it.arr = it.next
		it.next = binary.LittleEndian.Uint64(b[:])
		// A truncated array still gives the items that made it to disk.
		avail := min(size, uint64(f.size)-it.arr)
		it.nItem = (avail - arrayItemsOff) / itemSize
		it.cut = avail < size
		it.idx, it.iOff, it.items = 0, 0, it.items[:0]
		if it.nItem > uint64(f.size)/itemSize {
			it.fail(fmt.Errorf("journal: entry array at %#x: implausible item count", it.arr))
			return 0, false
		}
	}
}

// FieldNames lists the field names of the file's field hash table, as
// journalctl --fields does. Hash chains that leave the file (truncation)
// or loop are cut there; the names found are returned with an error that
// counts the cut chains.
func (f *File) FieldNames() ([]string, error) {
	h := &f.Header
	if h.FieldHashTableOffset == 0 || h.FieldHashTableSize == 0 {
		return nil, nil
	}
	tab := h.FieldHashTableOffset - objHeaderSize
	if _, _, err := f.objectHeader(tab, objFieldHashTable, objHeaderSize+h.FieldHashTableSize); err != nil {
		return nil, fmt.Errorf("journal: field hash table: %w", err)
	}
	n := h.FieldHashTableSize / 16
	var names []string
	var cut int
	var firstErr error
	// Every field object sits in one chain: a file that makes us visit more
	// objects than fit in it is hostile (chains sharing their tails).
	budget := uint64(f.size) / fieldNameOff
	item := make([]byte, 16)
	for i := uint64(0); i < n; i++ {
		if err := f.cache.readAt(item, int64(h.FieldHashTableOffset+i*16)); err != nil {
			return names, fmt.Errorf("journal: field hash table item %d: %w", i, err)
		}
		prev := uint64(0)
		for off := binary.LittleEndian.Uint64(item); off != 0; {
			err := func() error {
				if off <= prev {
					return fmt.Errorf("field object at %#x: hash chain goes backwards to %#x", prev, off)
				}
				if budget == 0 {
					return fmt.Errorf("field object at %#x: more field objects linked than the file can hold", off)
				}
				budget--
				prev = off
				size, _, err := f.objectHeader(off, objField, fieldNameOff)
				if err != nil {
					return fmt.Errorf("field: %w", err)
				}
				if size-fieldNameOff > 4096 {
					return fmt.Errorf("field object at %#x: name of %d bytes", off, size-fieldNameOff)
				}
				b := make([]byte, size)
				if err := f.cache.readAt(b, int64(off)); err != nil {
					return fmt.Errorf("field object at %#x: %w", off, err)
				}
				names = append(names, string(b[fieldNameOff:]))
				off = binary.LittleEndian.Uint64(b[24:])
				return nil
			}()
			if err != nil {
				if cut == 0 {
					firstErr = err
				}
				cut++
				break
			}
		}
	}
	if cut > 0 {
		return names, fmt.Errorf("journal: %d field hash chains cut, first: %w", cut, firstErr)
	}
	return names, nil
}

// ValidFieldName reports whether s is a field name journald would accept
// (upper-case letters, digits, underscores; not starting with a digit).
func ValidFieldName(s string) bool {
	if s == "" || len(s) > 64 || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
	}) < 0
}
