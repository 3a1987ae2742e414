package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

const (
	superblockOffset = 1024
	superblockSize   = 1024
	magic            = 0xEF53
)

// Feature bits, named as in the kernel's ext4.h.
const (
	compatHasJournal = 0x4
	compatExtAttr    = 0x8
	compatResizeIno  = 0x10
	compatDirIndex   = 0x20

	incompatFiletype   = 0x2
	incompatRecover    = 0x4
	incompatJournalDev = 0x8
	incompatMetaBG     = 0x10
	incompatExtents    = 0x40
	incompat64Bit      = 0x80
	incompatMMP        = 0x100
	incompatFlexBG     = 0x200
	incompatEAInode    = 0x400
	incompatDirData    = 0x1000
	incompatCsumSeed   = 0x2000
	incompatLargeDir   = 0x4000
	incompatInlineData = 0x8000
	incompatEncrypt    = 0x10000
	incompatCasefold   = 0x20000

	roCompatSparseSuper  = 0x1
	roCompatLargeFile    = 0x2
	roCompatBtreeDir     = 0x4
	roCompatHugeFile     = 0x8
	roCompatGdtCsum      = 0x10
	roCompatDirNlink     = 0x20
	roCompatExtraIsize   = 0x40
	roCompatQuota        = 0x100
	roCompatBigalloc     = 0x200
	roCompatMetadataCsum = 0x400
)

var featureNames = []struct {
	field int // 0 compat, 1 incompat, 2 ro_compat
	bit   uint32
	name  string
}{
	{0, compatHasJournal, "has_journal"}, {0, compatExtAttr, "ext_attr"},
	{0, compatResizeIno, "resize_inode"}, {0, compatDirIndex, "dir_index"},
	{1, incompatFiletype, "filetype"}, {1, incompatRecover, "needs_recovery"},
	{1, incompatMetaBG, "meta_bg"}, {1, incompatExtents, "extent"},
	{1, incompat64Bit, "64bit"}, {1, incompatMMP, "mmp"}, {1, incompatFlexBG, "flex_bg"},
	{1, incompatEAInode, "ea_inode"}, {1, incompatDirData, "dirdata"},
	{1, incompatCsumSeed, "metadata_csum_seed"}, {1, incompatLargeDir, "large_dir"},
	{1, incompatInlineData, "inline_data"}, {1, incompatEncrypt, "encrypt"},
	{1, incompatCasefold, "casefold"},
	{2, roCompatSparseSuper, "sparse_super"}, {2, roCompatLargeFile, "large_file"},
	{2, roCompatHugeFile, "huge_file"}, {2, roCompatGdtCsum, "uninit_bg"},
	{2, roCompatDirNlink, "dir_nlink"}, {2, roCompatExtraIsize, "extra_isize"},
	{2, roCompatQuota, "quota"}, {2, roCompatBigalloc, "bigalloc"},
	{2, roCompatMetadataCsum, "metadata_csum"},
}

// Superblock holds the fields of the ext2/3/4 superblock this reader uses.
type Superblock struct {
	InodesCount     uint32
	BlocksCount     uint64
	FirstDataBlock  uint32
	LogBlockSize    uint32
	BlocksPerGroup  uint32
	InodesPerGroup  uint32
	Mtime           time.Time // last mount
	Wtime           time.Time // last write
	State           uint16
	RevLevel        uint32
	FirstIno        uint32
	InodeSize       uint16
	FeatureCompat   uint32
	FeatureIncompat uint32
	FeatureRoCompat uint32
	UUID            [16]byte
	VolumeName      string
	LastMounted     string
	LastOrphan      uint32
	HashSeed        [4]uint32
	DescSize        uint16
	FirstMetaBG     uint32
	MkfsTime        time.Time
	MinExtraIsize   uint16
	JournalInum     uint32
}

// BlockSize is the filesystem block size in bytes.
func (sb *Superblock) BlockSize() int64 { return 1024 << sb.LogBlockSize }

func unixOrZero(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

func cstring(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// errNotExt is returned when the superblock magic is absent.
var errNotExt = errors.New("no ext2/3/4 superblock magic")

// parseSuperblock decodes and sanity-checks the 1024 bytes of a superblock.
// Every field later used as a size, count or shift is bounded here.
func parseSuperblock(b []byte) (*Superblock, error) {
	if len(b) < superblockSize {
		return nil, fmt.Errorf("superblock at %#x: short (%d bytes)", superblockOffset, len(b))
	}
	le := binary.LittleEndian
	if le.Uint16(b[0x38:]) != magic {
		return nil, fmt.Errorf("superblock at %#x: %w", superblockOffset, errNotExt)
	}
	sb := &Superblock{
		InodesCount:     le.Uint32(b[0x0:]),
		BlocksCount:     uint64(le.Uint32(b[0x4:])),
		FirstDataBlock:  le.Uint32(b[0x14:]),
		LogBlockSize:    le.Uint32(b[0x18:]),
		BlocksPerGroup:  le.Uint32(b[0x20:]),
		InodesPerGroup:  le.Uint32(b[0x28:]),
		State:           le.Uint16(b[0x3A:]),
		RevLevel:        le.Uint32(b[0x4C:]),
		FirstIno:        11,
		InodeSize:       128,
		FeatureCompat:   le.Uint32(b[0x5C:]),
		FeatureIncompat: le.Uint32(b[0x60:]),
		FeatureRoCompat: le.Uint32(b[0x64:]),
		VolumeName:      cstring(b[0x78:0x88]),
		LastMounted:     cstring(b[0x88:0xC8]),
		JournalInum:     le.Uint32(b[0xE0:]),
		LastOrphan:      le.Uint32(b[0xE8:]),
		DescSize:        le.Uint16(b[0xFE:]),
		FirstMetaBG:     le.Uint32(b[0x104:]),
		MinExtraIsize:   le.Uint16(b[0x15C:]),
	}
	copy(sb.UUID[:], b[0x68:0x78])
	for i := range sb.HashSeed {
		sb.HashSeed[i] = le.Uint32(b[0xEC+4*i:])
	}
	sb.Mtime = unixOrZero(int64(le.Uint32(b[0x2C:])) | int64(b[0x275])<<32)
	sb.Wtime = unixOrZero(int64(le.Uint32(b[0x30:])) | int64(b[0x274])<<32)
	sb.MkfsTime = unixOrZero(int64(le.Uint32(b[0x108:])) | int64(b[0x276])<<32)
	if sb.RevLevel >= 1 {
		sb.FirstIno = le.Uint32(b[0x54:])
		sb.InodeSize = le.Uint16(b[0x58:])
	}
	if sb.FeatureIncompat&incompat64Bit != 0 {
		sb.BlocksCount |= uint64(le.Uint32(b[0x150:])) << 32
	}

	where := fmt.Sprintf("superblock at %#x", superblockOffset)
	switch {
	case sb.LogBlockSize > 6:
		return nil, fmt.Errorf("%s: block size 2^(10+%d) out of range", where, sb.LogBlockSize)
	case sb.InodeSize < 128 || sb.InodeSize&(sb.InodeSize-1) != 0 || int64(sb.InodeSize) > sb.BlockSize():
		return nil, fmt.Errorf("%s: inode size %d invalid", where, sb.InodeSize)
	case sb.BlocksPerGroup == 0 || int64(sb.BlocksPerGroup) > 8*sb.BlockSize():
		return nil, fmt.Errorf("%s: %d blocks per group invalid", where, sb.BlocksPerGroup)
	case sb.InodesPerGroup == 0 || int64(sb.InodesPerGroup) > 8*sb.BlockSize():
		return nil, fmt.Errorf("%s: %d inodes per group invalid", where, sb.InodesPerGroup)
	case sb.InodesCount == 0:
		return nil, fmt.Errorf("%s: no inodes", where)
	case uint64(sb.FirstDataBlock) >= sb.BlocksCount:
		return nil, fmt.Errorf("%s: first data block %d beyond %d blocks", where, sb.FirstDataBlock, sb.BlocksCount)
	case sb.BlocksCount > 1<<48:
		return nil, fmt.Errorf("%s: %d blocks is beyond ext4's limit", where, sb.BlocksCount)
	case sb.FeatureIncompat&incompatJournalDev != 0:
		return nil, fmt.Errorf("%s: external journal device, not a filesystem", where)
	}
	if sb.FeatureIncompat&incompat64Bit != 0 {
		if sb.DescSize < 64 || sb.DescSize&(sb.DescSize-1) != 0 || int64(sb.DescSize) > sb.BlockSize() {
			return nil, fmt.Errorf("%s: group descriptor size %d invalid", where, sb.DescSize)
		}
	} else {
		sb.DescSize = 32
	}
	if sb.FirstIno < 3 || sb.FirstIno > sb.InodesCount {
		sb.FirstIno = 11
	}
	return sb, nil
}

func (sb *Superblock) has(field int, bit uint32) bool {
	switch field {
	case 0:
		return sb.FeatureCompat&bit != 0
	case 1:
		return sb.FeatureIncompat&bit != 0
	}
	return sb.FeatureRoCompat&bit != 0
}

// Features lists the feature flags set, by their mke2fs names.
func (sb *Superblock) Features() []string {
	var out []string
	for _, f := range featureNames {
		if sb.has(f.field, f.bit) {
			out = append(out, f.name)
		}
	}
	return out
}

// Type tells ext2, ext3 and ext4 apart as blkid does: features beyond
// what ext3 knows make it ext4, a journal makes it ext3.
func (sb *Superblock) Type() string {
	const ext3Incompat = incompatFiletype | incompatRecover | incompatMetaBG
	const ext3RoCompat = roCompatSparseSuper | roCompatLargeFile | roCompatBtreeDir
	if sb.FeatureIncompat&^ext3Incompat != 0 || sb.FeatureRoCompat&^ext3RoCompat != 0 {
		return "ext4"
	}
	if sb.FeatureCompat&compatHasJournal != 0 {
		return "ext3"
	}
	return "ext2"
}

// UUIDString formats the filesystem UUID as blkid prints it.
func (sb *Superblock) UUIDString() string {
	u := sb.UUID
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// groupCount is the number of block groups.
func (sb *Superblock) groupCount() uint64 {
	return (sb.BlocksCount - uint64(sb.FirstDataBlock) + uint64(sb.BlocksPerGroup) - 1) / uint64(sb.BlocksPerGroup)
}

// groupHasSuper reports whether group g holds a superblock backup (and so
// a copy of the descriptors), per sparse_super.
func (sb *Superblock) groupHasSuper(g uint64) bool {
	if g <= 1 || sb.FeatureRoCompat&roCompatSparseSuper == 0 {
		return true
	}
	if g&1 == 0 {
		return false
	}
	for _, base := range []uint64{3, 5, 7} {
		n := base
		for n < g {
			n *= base
		}
		if n == g {
			return true
		}
	}
	return false
}

// groupDesc is what this reader needs of one group descriptor.
type groupDesc struct {
	InodeBitmap  uint64
	InodeTable   uint64
	Flags        uint16
	ItableUnused uint32
}

const (
	bgInodeUninit = 0x1
)

func parseGroupDesc(b []byte, is64 bool) groupDesc {
	le := binary.LittleEndian
	d := groupDesc{
		InodeBitmap:  uint64(le.Uint32(b[0x4:])),
		InodeTable:   uint64(le.Uint32(b[0x8:])),
		Flags:        le.Uint16(b[0x12:]),
		ItableUnused: uint32(le.Uint16(b[0x1C:])),
	}
	if is64 && len(b) >= 64 {
		d.InodeBitmap |= uint64(le.Uint32(b[0x24:])) << 32
		d.InodeTable |= uint64(le.Uint32(b[0x28:])) << 32
		d.ItableUnused |= uint32(le.Uint16(b[0x32:])) << 16
	}
	return d
}

// descBlock returns the block holding descriptor block number i (counted
// from the first), following meta_bg's placement when it is on.
func (sb *Superblock) descBlock(i uint64) uint64 {
	first := uint64(sb.FirstDataBlock) + 1
	if sb.FeatureIncompat&incompatMetaBG == 0 || i < uint64(sb.FirstMetaBG) {
		return first + i
	}
	perBlock := uint64(sb.BlockSize()) / uint64(sb.DescSize)
	g := i * perBlock
	b := uint64(sb.FirstDataBlock) + g*uint64(sb.BlocksPerGroup)
	if sb.groupHasSuper(g) {
		b++
	}
	return b
}
