package ext4

import (
	"encoding/binary"
	"time"
)

// Inode flags this reader acts on.
const (
	flagIndex      = 0x1000
	flagHugeFile   = 0x40000
	flagExtents    = 0x80000
	flagEAInode    = 0x200000
	flagInlineData = 0x10000000
)

// File type bits of i_mode.
const (
	sIFMT   = 0xF000
	sIFSOCK = 0xC000
	sIFLNK  = 0xA000
	sIFREG  = 0x8000
	sIFBLK  = 0x6000
	sIFDIR  = 0x4000
	sIFCHR  = 0x2000
	sIFIFO  = 0x1000
)

// Inode is one decoded on-disk inode.
type Inode struct {
	Num     uint64
	Offset  int64 // byte offset of the inode in the volume
	Mode    uint16
	UID     uint32
	GID     uint32
	Size    uint64
	Links   uint16
	Flags   uint32
	Blocks  uint64 // i_blocks as stored (512-byte or fs-block units)
	FileACL uint64 // external xattr block
	Block   [60]byte
	Atime   time.Time
	Mtime   time.Time
	Ctime   time.Time
	Btime   time.Time // zero when the inode has no room for i_crtime
	Dtime   uint32

	extra []byte // bytes after the 128-byte base, for in-inode xattrs
}

// decodeTime joins a 32-bit seconds field with its _extra word: the low two
// bits extend the signed seconds past 2038, the upper 30 are nanoseconds.
func decodeTime(sec uint32, extra uint32, hasExtra bool) time.Time {
	s := int64(int32(sec))
	var ns int64
	if hasExtra {
		s += int64(extra&3) << 32
		ns = int64(extra >> 2)
		if ns > 999999999 {
			ns = 999999999 // corrupt; keep the time representable
		}
	}
	return time.Unix(s, ns).UTC()
}

// parseInode decodes an inode of the given on-disk size (b holds exactly
// that many bytes).
func parseInode(num uint64, off int64, b []byte) *Inode {
	in := new(Inode)
	decodeInode(in, num, off, b)
	return in
}

// decodeInode fills in; callers on the hot path keep it on their stack.
func decodeInode(in *Inode, num uint64, off int64, b []byte) {
	le := binary.LittleEndian
	*in = Inode{
		Num:     num,
		Offset:  off,
		Mode:    le.Uint16(b[0x0:]),
		UID:     uint32(le.Uint16(b[0x2:])) | uint32(le.Uint16(b[0x78:]))<<16,
		GID:     uint32(le.Uint16(b[0x18:])) | uint32(le.Uint16(b[0x7A:]))<<16,
		Size:    uint64(le.Uint32(b[0x4:])) | uint64(le.Uint32(b[0x6C:]))<<32,
		Links:   le.Uint16(b[0x1A:]),
		Flags:   le.Uint32(b[0x20:]),
		Blocks:  uint64(le.Uint32(b[0x1C:])) | uint64(le.Uint16(b[0x74:]))<<32,
		FileACL: uint64(le.Uint32(b[0x68:])) | uint64(le.Uint16(b[0x76:]))<<32,
		Dtime:   le.Uint32(b[0x14:]),
	}
	copy(in.Block[:], b[0x28:0x64])
	var extraSize int
	if len(b) > 128 {
		extraSize = int(le.Uint16(b[0x80:]))
		if 128+extraSize > len(b) || extraSize&3 != 0 {
			extraSize = 0 // corrupt i_extra_isize: trust only the base inode
		}
		in.extra = b[128+extraSize:]
	}
	has := func(off int) bool { return off+4 <= 128+extraSize }
	word := func(off int) uint32 {
		if has(off) {
			return le.Uint32(b[off:])
		}
		return 0
	}
	in.Ctime = decodeTime(le.Uint32(b[0xC:]), word(0x84), has(0x84))
	in.Mtime = decodeTime(le.Uint32(b[0x10:]), word(0x88), has(0x88))
	in.Atime = decodeTime(le.Uint32(b[0x8:]), word(0x8C), has(0x8C))
	if has(0x90) {
		in.Btime = decodeTime(le.Uint32(b[0x90:]), word(0x94), has(0x94))
	}
}

func (in *Inode) isDir() bool     { return in.Mode&sIFMT == sIFDIR }
func (in *Inode) isSymlink() bool { return in.Mode&sIFMT == sIFLNK }
func (in *Inode) isRegular() bool { return in.Mode&sIFMT == sIFREG }
