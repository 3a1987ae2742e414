package xfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// Superblock feature bits this reader looks at (xfs_format.h).
const (
	sbMagic = 0x58465342 // "XFSB"

	versionNumMask   = 0x000f
	versionMoreBits  = 0x8000
	versionDirV2     = 0x2000
	versionExtFlg    = 0x1000
	versionLogV2     = 0x0400
	versionAttr      = 0x0010
	versionQuota     = 0x0040
	features2Ftype   = 0x0200
	features2Crc     = 0x0100
	features2Attr2   = 0x0008
	features2Projid  = 0x0080
	features2LazySB  = 0x0002
	incompatFtype    = 0x01
	incompatSpinodes = 0x02
	incompatMetaUUID = 0x04
	incompatBigtime  = 0x08
	incompatRepair   = 0x10
	incompatNrext64  = 0x20
	incompatExchange = 0x40
	incompatParent   = 0x80
	roCompatFinobt   = 0x01
	roCompatRmapbt   = 0x02
	roCompatReflink  = 0x04
	roCompatInobtcnt = 0x08
)

// superblock holds the fields of the primary superblock (AG 0, sector 0)
// that locate and interpret everything else.
type superblock struct {
	blockSize   uint32
	dblocks     uint64
	rblocks     uint64
	uuid        [16]byte
	logStart    uint64
	rootIno     uint64
	agBlocks    uint32
	agCount     uint32
	logBlocks   uint32
	versionNum  uint16
	sectSize    uint16
	inodeSize   uint16
	inoPerBlock uint16
	label       string
	blockLog    uint8
	inodeLog    uint8
	inoPBLog    uint8
	agBlkLog    uint8
	inProgress  uint8
	icount      uint64
	ifree       uint64
	dirBlkLog   uint8
	features2   uint32
	compat      uint32
	roCompat    uint32
	incompat    uint32
	logIncompat uint32
}

const sbSize = 264

func (sb *superblock) v5() bool { return sb.versionNum&versionNumMask == 5 }

// hasFtype reports whether directory entries carry a file type byte.
func (sb *superblock) hasFtype() bool {
	if sb.v5() {
		return sb.incompat&incompatFtype != 0
	}
	return sb.versionNum&versionMoreBits != 0 && sb.features2&features2Ftype != 0
}

func (sb *superblock) bigtime() bool { return sb.v5() && sb.incompat&incompatBigtime != 0 }
func (sb *superblock) nrext64() bool { return sb.v5() && sb.incompat&incompatNrext64 != 0 }

func (sb *superblock) dirBlkSize() int { return int(sb.blockSize) << sb.dirBlkLog }

// inoBits is how many low bits of an inode number form the AG-relative inode.
func (sb *superblock) inoBits() uint { return uint(sb.agBlkLog) + uint(sb.inoPBLog) }

var errBadSuperblock = errors.New("bad superblock")

func isPow2(v uint64) bool { return v != 0 && v&(v-1) == 0 }

// parseSuperblock decodes and validates a superblock. Every derived
// quantity used later (logs, AG geometry) is checked here so that the rest
// of the reader can rely on it.
func parseSuperblock(b []byte) (*superblock, error) {
	if len(b) < sbSize {
		return nil, fmt.Errorf("superblock at 0x0: short read (%d bytes): %w", len(b), errBadSuperblock)
	}
	be := binary.BigEndian
	if be.Uint32(b[0:]) != sbMagic {
		return nil, fmt.Errorf("superblock at 0x0: magic %#x is not XFSB: %w", be.Uint32(b[0:]), errBadSuperblock)
	}
	sb := &superblock{
		blockSize:   be.Uint32(b[4:]),
		dblocks:     be.Uint64(b[8:]),
		rblocks:     be.Uint64(b[16:]),
		logStart:    be.Uint64(b[48:]),
		rootIno:     be.Uint64(b[56:]),
		agBlocks:    be.Uint32(b[84:]),
		agCount:     be.Uint32(b[88:]),
		logBlocks:   be.Uint32(b[96:]),
		versionNum:  be.Uint16(b[100:]),
		sectSize:    be.Uint16(b[102:]),
		inodeSize:   be.Uint16(b[104:]),
		inoPerBlock: be.Uint16(b[106:]),
		blockLog:    b[120],
		inodeLog:    b[122],
		inoPBLog:    b[123],
		agBlkLog:    b[124],
		inProgress:  b[126],
		icount:      be.Uint64(b[128:]),
		ifree:       be.Uint64(b[136:]),
		dirBlkLog:   b[192],
		features2:   be.Uint32(b[200:]),
		compat:      be.Uint32(b[208:]),
		roCompat:    be.Uint32(b[212:]),
		incompat:    be.Uint32(b[216:]),
		logIncompat: be.Uint32(b[220:]),
	}
	copy(sb.uuid[:], b[32:48])
	sb.label = strings.TrimRight(string(b[108:120]), "\x00")
	bad := func(field string, off int, v any) error {
		return fmt.Errorf("superblock at %#x: %s = %v: %w", off, field, v, errBadSuperblock)
	}
	switch v := sb.versionNum & versionNumMask; {
	case v == 5:
	case v == 4:
		if sb.versionNum&versionDirV2 == 0 {
			return nil, bad("versionnum (v1 directories unsupported)", 100, sb.versionNum)
		}
	default:
		return nil, bad("versionnum", 100, sb.versionNum)
	}
	if sb.blockSize < 512 || sb.blockSize > 65536 || !isPow2(uint64(sb.blockSize)) || 1<<sb.blockLog != sb.blockSize {
		return nil, bad("blocksize", 4, sb.blockSize)
	}
	if sb.sectSize < 512 || !isPow2(uint64(sb.sectSize)) || uint32(sb.sectSize) > sb.blockSize {
		return nil, bad("sectsize", 102, sb.sectSize)
	}
	if sb.inodeSize < 256 || sb.inodeSize > 2048 || !isPow2(uint64(sb.inodeSize)) || 1<<sb.inodeLog != sb.inodeSize ||
		uint32(sb.inodeSize) > sb.blockSize || (sb.v5() && sb.inodeSize < 512) {
		return nil, bad("inodesize", 104, sb.inodeSize)
	}
	if uint32(sb.inoPerBlock) != sb.blockSize/uint32(sb.inodeSize) || 1<<sb.inoPBLog != sb.inoPerBlock {
		return nil, bad("inopblock", 106, sb.inoPerBlock)
	}
	if sb.agBlocks < 64 || sb.agBlkLog > 31 || uint64(sb.agBlocks) > 1<<sb.agBlkLog ||
		uint(bits.Len32(sb.agBlocks-1)) != uint(sb.agBlkLog) {
		return nil, bad("agblocks/agblklog", 84, fmt.Sprint(sb.agBlocks, "/", sb.agBlkLog))
	}
	if sb.inoBits() > 32 {
		return nil, bad("agblklog+inopblog", 124, sb.inoBits())
	}
	if sb.agCount == 0 || sb.dblocks == 0 ||
		sb.dblocks > uint64(sb.agCount)*uint64(sb.agBlocks) ||
		sb.dblocks <= uint64(sb.agCount-1)*uint64(sb.agBlocks) {
		return nil, bad("agcount/dblocks", 88, fmt.Sprint(sb.agCount, "/", sb.dblocks))
	}
	if sb.dblocks > (1<<63-1)>>sb.blockLog {
		return nil, bad("dblocks", 8, sb.dblocks)
	}
	if sb.dirBlkSize() > 65536 {
		return nil, bad("dirblklog", 192, sb.dirBlkLog)
	}
	return sb, nil
}

// features lists the notable feature flags for Info().Notes.
func (sb *superblock) features() []string {
	var f []string
	add := func(ok bool, name string) {
		if ok {
			f = append(f, name)
		}
	}
	if sb.v5() {
		add(true, "crc")
		add(sb.incompat&incompatFtype != 0, "ftype")
		add(sb.incompat&incompatSpinodes != 0, "sparse-inodes")
		add(sb.incompat&incompatMetaUUID != 0, "meta-uuid")
		add(sb.incompat&incompatBigtime != 0, "bigtime")
		add(sb.incompat&incompatRepair != 0, "needsrepair")
		add(sb.incompat&incompatNrext64 != 0, "nrext64")
		add(sb.incompat&incompatExchange != 0, "exchange-range")
		add(sb.incompat&incompatParent != 0, "parent-pointers")
		add(sb.roCompat&roCompatFinobt != 0, "finobt")
		add(sb.roCompat&roCompatRmapbt != 0, "rmapbt")
		add(sb.roCompat&roCompatReflink != 0, "reflink")
		add(sb.roCompat&roCompatInobtcnt != 0, "inobtcount")
	} else {
		add(sb.versionNum&versionAttr != 0, "attr")
		add(sb.versionNum&versionQuota != 0, "quota")
		add(sb.versionNum&versionLogV2 != 0, "logv2")
		add(sb.versionNum&versionExtFlg != 0, "unwritten")
		if sb.versionNum&versionMoreBits != 0 {
			add(sb.features2&features2LazySB != 0, "lazy-count")
			add(sb.features2&features2Attr2 != 0, "attr2")
			add(sb.features2&features2Projid != 0, "projid32")
			add(sb.features2&features2Ftype != 0, "ftype")
		}
	}
	return f
}

// The numbers below convert between the three address spaces XFS uses:
// inode numbers (agno | agbno | slot), filesystem block numbers
// (agno | agbno, with agblklog bits for agbno) and the linear block index
// on the volume (agno*agblocks + agbno).

// inodeLoc returns the byte offset of an inode on the volume.
func (sb *superblock) inodeLoc(ino uint64) (int64, error) {
	agno := ino >> sb.inoBits()
	agino := ino & (1<<sb.inoBits() - 1)
	agbno := agino >> sb.inoPBLog
	slot := agino & (1<<sb.inoPBLog - 1)
	if agno >= uint64(sb.agCount) {
		return 0, fmt.Errorf("inode %d: AG %d beyond agcount %d", ino, agno, sb.agCount)
	}
	if agbno >= uint64(sb.agBlocks) {
		return 0, fmt.Errorf("inode %d: AG block %d beyond agblocks %d", ino, agbno, sb.agBlocks)
	}
	lin := agno*uint64(sb.agBlocks) + agbno
	if lin >= sb.dblocks || agino == 0 {
		return 0, fmt.Errorf("inode %d: outside the filesystem", ino)
	}
	return int64(lin)<<sb.blockLog + int64(slot)<<sb.inodeLog, nil
}

// linear converts a filesystem block number into the linear block index
// and checks that count blocks from it stay inside one AG and the volume.
func (sb *superblock) linear(fsb, count uint64) (uint64, error) {
	agno := fsb >> sb.agBlkLog
	agbno := fsb & (1<<sb.agBlkLog - 1)
	if agno >= uint64(sb.agCount) || agbno+count > uint64(sb.agBlocks) {
		return 0, fmt.Errorf("block %#x (+%d): outside AG geometry", fsb, count)
	}
	lin := agno*uint64(sb.agBlocks) + agbno
	if lin+count > sb.dblocks {
		return 0, fmt.Errorf("block %#x (+%d): past the end of the filesystem", fsb, count)
	}
	return lin, nil
}
