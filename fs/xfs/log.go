package xfs

import (
	"encoding/binary"
	"fmt"
)

// The internal log tells whether the filesystem was cleanly unmounted: a
// clean log ends with a record holding only an unmount operation. This
// follows xlog_find_head/xlog_find_tail in simplified form (no torn-write
// repair): find where the cycle number stamped on every 512-byte log block
// drops, then look at the last record header before that point.
const (
	logMagic        = 0xfeedbabe
	logBB           = 512
	logUnmountTrans = 0x20
	logCycleSize    = 32 << 10 // XLOG_HEADER_CYCLE_SIZE
	logMaxRecordBBs = 4096     // how far back to look for the last header
)

// logState reports whether the internal log is clean, and the block of the
// last record.
func (x *FS) logState() (clean bool, last uint64, err error) {
	sb := x.sb
	if sb.logStart == 0 {
		return false, 0, fmt.Errorf("external log")
	}
	lin, err := sb.linear(sb.logStart, uint64(sb.logBlocks))
	if err != nil {
		return false, 0, fmt.Errorf("log at block %#x: %v", sb.logStart, err)
	}
	base := int64(lin) << sb.blockLog
	n := uint64(sb.logBlocks) << sb.blockLog / logBB
	if n < 2 {
		return false, 0, fmt.Errorf("log of %d blocks", sb.logBlocks)
	}
	be := binary.BigEndian
	bb := func(i uint64) ([]byte, error) {
		b, err := x.cache.get(base+int64(i%n)*logBB, logBB)
		if err != nil {
			return nil, fmt.Errorf("log block %d at %#x: %w", i%n, base+int64(i%n)*logBB, err)
		}
		return b, nil
	}
	cycle := func(i uint64) (uint32, error) {
		b, err := bb(i)
		if err != nil {
			return 0, err
		}
		if be.Uint32(b) == logMagic {
			return be.Uint32(b[4:]), nil
		}
		return be.Uint32(b), nil
	}
	c0, err := cycle(0)
	if err != nil {
		return false, 0, err
	}
	cl, err := cycle(n - 1)
	if err != nil {
		return false, 0, err
	}
	head := n // the whole log carries one cycle: the head is at the wrap
	if cl != c0 {
		lo, hi := uint64(0), n-1
		for hi-lo > 1 {
			mid := lo + (hi-lo)/2
			c, err := cycle(mid)
			if err != nil {
				return false, 0, err
			}
			if c == c0 {
				lo = mid
			} else {
				hi = mid
			}
		}
		head = hi
	}
	for k := uint64(1); k <= logMaxRecordBBs && k <= n; k++ {
		r := (head + n - k) % n
		h, err := bb(r)
		if err != nil {
			return false, 0, err
		}
		if be.Uint32(h) != logMagic {
			continue
		}
		hblks := uint64(1)
		if be.Uint32(h[8:])&2 != 0 {
			if size := uint64(be.Uint32(h[320:])); size > logCycleSize {
				hblks = (size + logCycleSize - 1) / logCycleSize
			}
		}
		after := r + hblks + (uint64(be.Uint32(h[12:]))+logBB-1)/logBB
		if after%n != head%n || be.Uint32(h[40:]) != 1 {
			return false, r, nil
		}
		op, err := bb(r + hblks)
		if err != nil {
			return false, r, err
		}
		return op[9]&logUnmountTrans != 0, r, nil
	}
	return false, 0, fmt.Errorf("no log record header within %d blocks before the head at %d", logMaxRecordBBs, head)
}
