// Package ntfs reads NTFS volumes read-only as an io/fs.FS with forensic
// metadata, on top of Velocidex's go-ntfs parser (the one Velociraptor
// uses).
//
// Conventions:
//   - Inode numbers are MFT entry numbers (TSK prints "entry-type-id";
//     the entry is the first part).
//   - Mtime, Atime, Ctime and Btime come from $STANDARD_INFORMATION
//     (Ctime is "MFT entry modified"); the $FILE_NAME times of the name
//     the file was reached by are in Stat.Extra as fn_mtime, fn_atime,
//     fn_ctime and fn_btime. All are UTC with 100 ns resolution.
//   - Alternate data streams are not directory entries. Streams lists a
//     file's named $DATA streams, and Open/Stat accept "path:stream" for
//     one of them (a name holding ':' that exists as a file wins).
//   - Symbolic links and junctions are reparse points; Stat.Target holds
//     their substitute name and Mode has ModeSymlink. Open follows them
//     only when the target lies on this volume ("\??\C:\x" and absolute
//     targets resolve against this volume's root).
//   - The volume label is $Volume's $VOLUME_NAME; the UUID is the 64-bit
//     volume serial in 16 hex digits, as blkid prints it.
//
// go-ntfs is a third-party parser that was not written for hostile input
// and is not fuzzed by us beyond our own targets, so every call into it is
// guarded: a panic becomes an error naming the MFT entry, and sizes that
// drive its loops are checked first.
package ntfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf16"

	"www.velocidex.com/golang/go-ntfs/parser"

	cfs "github.com/coldcase-dfir/coldcase/fs"
)

func init() {
	cfs.Register(cfs.Driver{
		Name:  "ntfs",
		Probe: Probe,
		Open: func(r io.ReaderAt, size int64) (cfs.FS, error) {
			return Open(r, size)
		},
	})
}

// Errors callers may test for with errors.Is.
var (
	ErrNotNTFS = errors.New("not an NTFS filesystem")
	ErrCorrupt = errors.New("corrupt structure")
	ErrLoop    = errors.New("directory cycle")
)

const (
	attrStandardInformation = 0x10
	attrFileName            = 0x30
	attrVolumeName          = 0x60
	attrData                = 0x80
	attrIndexRoot           = 0x90
	attrIndexAllocation     = 0xa0
	attrReparsePoint        = 0xc0

	rootEntry   = 5
	volumeEntry = 3

	// maxIndexBytes bounds a directory's $INDEX_ALLOCATION; go-ntfs walks
	// it in 4 KiB steps up to the size the attribute claims.
	maxIndexBytes = 1 << 30
	maxEntries    = 1 << 20 // entries of one directory
	// maxCachedEntries bounds the directory-listing cache.
	maxCachedEntries = 1 << 18
)

// bootSector holds what we check ourselves before trusting go-ntfs.
type bootSector struct {
	bytesPerSector uint16
	clusterSize    int64
	totalSectors   uint64
	serial         uint64
	recordSize     int64
}

func parseBoot(b []byte) (*bootSector, error) {
	if len(b) < 512 {
		return nil, fmt.Errorf("ntfs: boot sector: %d bytes: %w", len(b), ErrNotNTFS)
	}
	if string(b[3:11]) != "NTFS    " {
		return nil, fmt.Errorf("ntfs: boot sector at 0x3: OEM id %q: %w", b[3:11], ErrNotNTFS)
	}
	bs := &bootSector{
		bytesPerSector: binary.LittleEndian.Uint16(b[11:]),
		totalSectors:   binary.LittleEndian.Uint64(b[0x28:]),
		serial:         binary.LittleEndian.Uint64(b[0x48:]),
	}
	switch bs.bytesPerSector {
	case 512, 1024, 2048, 4096:
	default:
		return nil, fmt.Errorf("ntfs: boot sector at 0xb: bytes per sector %d: %w", bs.bytesPerSector, ErrNotNTFS)
	}
	spc := int64(b[13])
	if spc > 0x80 { // 2^(256-n) sectors, for clusters beyond 64 KiB
		if 256-spc > 12 {
			return nil, fmt.Errorf("ntfs: boot sector at 0xd: sectors per cluster %#x: %w", b[13], ErrNotNTFS)
		}
		spc = 1 << (256 - spc)
	}
	if spc == 0 || spc&(spc-1) != 0 {
		return nil, fmt.Errorf("ntfs: boot sector at 0xd: sectors per cluster %d: %w", spc, ErrNotNTFS)
	}
	bs.clusterSize = spc * int64(bs.bytesPerSector)
	if bs.totalSectors == 0 || bs.totalSectors > 1<<48 {
		return nil, fmt.Errorf("ntfs: boot sector at 0x28: %d sectors: %w", bs.totalSectors, ErrNotNTFS)
	}
	rs := int8(b[0x40])
	switch {
	case rs < 0 && rs >= -31:
		bs.recordSize = 1 << uint(-rs)
	case rs > 0:
		bs.recordSize = int64(rs) * bs.clusterSize
	}
	if bs.recordSize < 256 || bs.recordSize > 32768 {
		return nil, fmt.Errorf("ntfs: boot sector at 0x40: MFT record size %d: %w", bs.recordSize, ErrNotNTFS)
	}
	if binary.LittleEndian.Uint16(b[510:]) != 0xaa55 {
		return nil, fmt.Errorf("ntfs: boot sector at 0x1fe: no 55AA signature: %w", ErrNotNTFS)
	}
	return bs, nil
}

// Probe reports whether the volume starts with an NTFS boot sector.
func Probe(r io.ReaderAt, size int64) bool {
	b := make([]byte, 512)
	if n, _ := r.ReadAt(b, 0); n < 512 {
		return false
	}
	_, err := parseBoot(b)
	return err == nil
}

// FS is an open NTFS volume. It is safe for concurrent use (calls into
// go-ntfs are serialised).
type FS struct {
	r        io.ReaderAt
	size     int64
	boot     *bootSector
	mu       sync.Mutex
	ctx      *parser.NTFSContext
	mftCount int64 // MFT entries, from $MFT's size
	info     cfs.Info
	lcMu     sync.Mutex
	lc       map[int64][]dirent // cache of directory listings…
	lcN      int                // …bounded by the entries it holds
}

// guard runs fn, turning a panic inside go-ntfs into an error that names
// the MFT entry being read.
func guard(entry int64, what string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("ntfs: MFT entry %d: %s: parser panic: %v: %w", entry, what, r, ErrCorrupt)
		}
	}()
	return fn()
}

// Open reads the boot sector and $MFT of an NTFS volume.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	b := make([]byte, 512)
	if n, err := r.ReadAt(b, 0); n < 512 {
		return nil, fmt.Errorf("ntfs: reading boot sector: %w", err)
	}
	bs, err := parseBoot(b)
	if err != nil {
		return nil, err
	}
	f := &FS{r: r, size: size, boot: bs, lc: map[int64][]dirent{}}
	err = guard(0, "bootstrap $MFT", func() error {
		ctx, err := parser.GetNTFSContext(&boundedReader{r, size}, 0)
		if err != nil {
			return fmt.Errorf("ntfs: $MFT: %w: %w", err, ErrCorrupt)
		}
		f.ctx = ctx
		return nil
	})
	if err != nil {
		return nil, err
	}
	mft, err := f.entry(0)
	if err != nil {
		return nil, err
	}
	var mftBytes int64
	err = guard(0, "$MFT size", func() error {
		a, err := mft.GetAttribute(f.ctx, attrData, -1, "")
		if err != nil {
			return fmt.Errorf("ntfs: MFT entry 0: no $DATA: %w", ErrCorrupt)
		}
		mftBytes = a.DataSize()
		return nil
	})
	if err != nil {
		return nil, err
	}
	f.mftCount = mftBytes / bs.recordSize
	if f.mftCount < 16 || mftBytes > size {
		return nil, fmt.Errorf("ntfs: MFT entry 0: $MFT of %d bytes on a %d-byte volume: %w", mftBytes, size, ErrCorrupt)
	}
	fsBytes := int64(bs.totalSectors) * int64(bs.bytesPerSector)
	f.info = cfs.Info{
		Type:      "ntfs",
		UUID:      fmt.Sprintf("%016X", bs.serial),
		Size:      fsBytes,
		BlockSize: int(bs.clusterSize),
		Notes: []string{
			fmt.Sprintf("%d MFT entries of %d bytes", f.mftCount, bs.recordSize),
			"times are UTC from $STANDARD_INFORMATION; $FILE_NAME times in Stat.Extra fn_*",
			"alternate data streams: Streams(path), open as path:stream",
		},
	}
	if fsBytes > size {
		f.info.Notes = append(f.info.Notes, fmt.Sprintf("filesystem claims %d bytes, volume has %d: truncated", fsBytes, size))
	}
	if lbl, err := f.volumeLabel(); err == nil {
		f.info.Label = lbl
	} else {
		f.info.Notes = append(f.info.Notes, "no volume label: "+err.Error())
	}
	return f, nil
}

// Info describes the volume.
func (f *FS) Info() cfs.Info {
	i := f.info
	i.Notes = append([]string(nil), f.info.Notes...)
	return i
}

// entry loads MFT entry id (checked against the $MFT size).
func (f *FS) entry(id int64) (*parser.MFT_ENTRY, error) {
	if f.mftCount > 0 && (id < 0 || id >= f.mftCount) {
		return nil, fmt.Errorf("ntfs: MFT entry %d: outside the %d entries of $MFT: %w", id, f.mftCount, ErrCorrupt)
	}
	var e *parser.MFT_ENTRY
	err := guard(id, "read", func() error {
		var err error
		f.mu.Lock()
		defer f.mu.Unlock()
		e, err = f.ctx.GetMFT(id)
		if err != nil {
			return fmt.Errorf("ntfs: MFT entry %d at $MFT offset %#x: %w: %w", id, id*f.boot.recordSize, err, ErrCorrupt)
		}
		return nil
	})
	return e, err
}

// entryAttrs reads MFT entry id and its attributes.
func (f *FS) entryAttrs(id int64) (*parser.MFT_ENTRY, []*parser.NTFS_ATTRIBUTE, error) {
	e, err := f.entry(id)
	if err != nil {
		return nil, nil, err
	}
	as, err := f.attrs(id, e)
	return e, as, err
}

// attrs lists an entry's attributes (with $ATTRIBUTE_LIST expanded).
func (f *FS) attrs(id int64, e *parser.MFT_ENTRY) ([]*parser.NTFS_ATTRIBUTE, error) {
	var out []*parser.NTFS_ATTRIBUTE
	err := guard(id, "attributes", func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		out = e.EnumerateAttributes(f.ctx)
		return nil
	})
	return out, err
}

// attrContent reads up to max bytes of a resident or non-resident
// attribute's content.
func (f *FS) attrContent(id int64, a *parser.NTFS_ATTRIBUTE, max int64) ([]byte, error) {
	var buf []byte
	err := guard(id, "attribute content", func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		n := a.DataSize()
		if n < 0 || n > max {
			return fmt.Errorf("ntfs: MFT entry %d: attribute %#x of %d bytes (limit %d): %w", id, a.Type().Value, n, max, ErrCorrupt)
		}
		buf = make([]byte, n)
		got, err := a.Data(f.ctx).ReadAt(buf, 0)
		if int64(got) < n && err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("ntfs: MFT entry %d: attribute %#x: %w", id, a.Type().Value, err)
		}
		return nil
	})
	return buf, err
}

func (f *FS) volumeLabel() (string, error) {
	_, as, err := f.entryAttrs(volumeEntry)
	if err != nil {
		return "", err
	}
	for _, a := range as {
		if a.Type().Value == attrVolumeName {
			b, err := f.attrContent(volumeEntry, a, 512)
			if err != nil {
				return "", err
			}
			return utf16le(b), nil
		}
	}
	return "", nil
}

func utf16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// filetime converts a Windows FILETIME (100 ns since 1601) to UTC; 0 is
// "not set" and gives the zero time.
func filetime(ft uint64) time.Time {
	if ft == 0 {
		return time.Time{}
	}
	const epochDiff = 11644473600 // seconds from 1601 to 1970
	return time.Unix(int64(ft/1e7)-epochDiff, int64(ft%1e7)*100).UTC()
}

// boundedReader makes reads past the volume end fail instead of
// returning whatever the underlying reader has there (go-ntfs trusts
// run lists).
type boundedReader struct {
	r    io.ReaderAt
	size int64
}

func (b *boundedReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= b.size {
		return 0, io.EOF
	}
	if rest := b.size - off; int64(len(p)) > rest {
		n, err := b.r.ReadAt(p[:rest], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return b.r.ReadAt(p, off)
}
