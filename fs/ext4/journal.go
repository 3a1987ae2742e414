package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
)

// JBD2, the journal of ext3/4, is big-endian. Only what replay needs is
// read: the journal superblock, descriptor blocks with their tags, commit
// blocks and revoke blocks. Checksums are not verified; a transaction
// counts once its commit block with the expected sequence is found, as in
// the kernel's recovery without checksums.
const (
	jbdMagic = 0xC03B3998

	jbdDescriptor = 1
	jbdCommit     = 2
	jbdSuperV1    = 3
	jbdSuperV2    = 4
	jbdRevoke     = 5

	jbdIncompatRevoke = 0x1
	jbdIncompat64Bit  = 0x2
	jbdIncompatCsumV2 = 0x8
	jbdIncompatCsumV3 = 0x10

	jbdFlagEscape   = 0x1
	jbdFlagSameUUID = 0x2
	jbdFlagLastTag  = 0x8
)

const maxJournalBlocks = 1 << 24

// journal is a replay plan: which filesystem blocks the committed
// transactions rewrite, and where the newest copy lies in the volume.
type journal struct {
	transactions int
	overlay      map[uint64]journalCopy
}

type journalCopy struct {
	off    int64 // byte offset of the copy in the volume
	escape bool  // the copy's first four bytes stand for the JBD2 magic
}

// OpenReplayed opens the filesystem as the kernel would see it after
// mounting: when the journal needs recovery, the committed transactions
// are applied in memory (nothing is written). Without needs_recovery it
// is Open.
func OpenReplayed(r io.ReaderAt, size int64) (*FS, error) {
	f, err := Open(r, size)
	if err != nil || f.sb.FeatureIncompat&incompatRecover == 0 {
		return f, err
	}
	j, err := f.readJournal()
	if err != nil {
		return nil, fmt.Errorf("ext4: journal: %w", err)
	}
	rf, err := Open(newReplayReader(r, f.bs, j), size)
	if err != nil {
		return nil, fmt.Errorf("ext4: after journal replay: %w", err)
	}
	notes := rf.notes[:0]
	for _, n := range rf.notes {
		if n != noteNotReplayed {
			notes = append(notes, n)
		}
	}
	rf.notes = append(notes, fmt.Sprintf("journal needs recovery; replayed in memory: %d transactions, %d blocks", j.transactions, len(j.overlay)))
	return rf, nil
}

func (f *FS) readJournal() (*journal, error) {
	if f.sb.FeatureCompat&compatHasJournal == 0 || f.sb.JournalInum == 0 {
		return nil, errors.New("needs recovery but has no journal inode (external journal?)")
	}
	jin, err := f.inode(uint64(f.sb.JournalInum))
	if err != nil {
		return nil, err
	}
	d, err := f.dataOf(jin)
	if err != nil {
		return nil, err
	}
	jr := &jreader{f: f, runs: d.runs, ino: jin.Num}
	sb, err := jr.block(0)
	if err != nil {
		return nil, err
	}
	be := binary.BigEndian
	if be.Uint32(sb) != jbdMagic || (be.Uint32(sb[4:]) != jbdSuperV1 && be.Uint32(sb[4:]) != jbdSuperV2) {
		return nil, fmt.Errorf("inode %d: no journal superblock", jin.Num)
	}
	if bs := be.Uint32(sb[0xC:]); int64(bs) != f.bs {
		return nil, fmt.Errorf("journal block size %d differs from the filesystem's %d", bs, f.bs)
	}
	maxlen := uint64(be.Uint32(sb[0x10:]))
	first := uint64(be.Uint32(sb[0x14:]))
	seq := be.Uint32(sb[0x18:])
	start := uint64(be.Uint32(sb[0x1C:]))
	var incompat uint32
	if be.Uint32(sb[4:]) == jbdSuperV2 {
		incompat = be.Uint32(sb[0x28:])
	}
	jblocks := uint64(jin.Size) / uint64(f.bs)
	if maxlen > jblocks || first == 0 || first >= maxlen {
		return nil, fmt.Errorf("journal superblock: first %d, length %d, inode has %d blocks", first, maxlen, jblocks)
	}
	// The replay plan grows with the log; a journal longer than the volume
	// or than any mke2fs makes is refused rather than walked.
	if maxlen > uint64(f.size/f.bs) || maxlen > maxJournalBlocks {
		return nil, fmt.Errorf("journal superblock: %d blocks is more than the volume or %d", maxlen, maxJournalBlocks)
	}
	j := &journal{overlay: map[uint64]journalCopy{}}
	if start == 0 {
		return j, nil // clean journal
	}
	if start < first || start >= maxlen {
		return nil, fmt.Errorf("journal superblock: start %d outside %d..%d", start, first, maxlen)
	}

	tagBytes := 8
	switch {
	case incompat&jbdIncompatCsumV3 != 0:
		tagBytes = 16
	default:
		if incompat&jbdIncompatCsumV2 != 0 {
			tagBytes += 2
		}
		if incompat&jbdIncompat64Bit != 0 {
			tagBytes += 4
		}
	}
	tail := 0
	if incompat&(jbdIncompatCsumV2|jbdIncompatCsumV3) != 0 {
		tail = 4
	}
	next := func(b uint64) uint64 {
		if b++; b >= maxlen {
			b = first
		}
		return b
	}

	// Two passes as the kernel's recovery: the first finds the committed
	// transactions and their revokes, the second applies their blocks.
	type tag struct {
		fsBlock uint64
		escape  bool
	}
	type txn struct {
		seq  uint32
		tags []tag
		at   []uint64 // journal block of each tag's copy
	}
	revoked := map[uint64]uint32{} // fs block → newest revoking sequence
	var txns []txn
	cur := txn{seq: seq}
	pos := start
	for steps := uint64(0); steps < maxlen; {
		b, err := jr.block(pos)
		if err != nil {
			return nil, err
		}
		if be.Uint32(b) != jbdMagic || be.Uint32(b[8:]) != cur.seq {
			break // end of the log
		}
		typ := be.Uint32(b[4:])
		here := pos
		pos = next(pos)
		steps++
		switch typ {
		case jbdDescriptor:
			for p := 12; p+tagBytes <= len(b)-tail; {
				t := b[p:]
				blk := uint64(be.Uint32(t))
				var flags uint32
				if tagBytes == 16 {
					flags = be.Uint32(t[4:])
					blk |= uint64(be.Uint32(t[8:])) << 32
				} else {
					flags = uint32(be.Uint16(t[6:]))
					if tagBytes >= 12 && incompat&jbdIncompat64Bit != 0 {
						blk |= uint64(be.Uint32(t[8:])) << 32
					}
				}
				cur.tags = append(cur.tags, tag{fsBlock: blk, escape: flags&jbdFlagEscape != 0})
				cur.at = append(cur.at, pos)
				pos = next(pos)
				steps++
				p += tagBytes
				if flags&jbdFlagSameUUID == 0 {
					p += 16
				}
				if flags&jbdFlagLastTag != 0 {
					break
				}
				if steps >= maxlen {
					return nil, fmt.Errorf("descriptor at journal block %d: tags run past the journal", here)
				}
			}
		case jbdCommit:
			txns = append(txns, cur)
			cur = txn{seq: cur.seq + 1}
		case jbdRevoke:
			if incompat&jbdIncompatRevoke == 0 {
				break
			}
			n := int(be.Uint32(b[12:]))
			if n > len(b) {
				return nil, fmt.Errorf("revoke block at journal block %d: %d bytes in a %d-byte block", here, n, len(b))
			}
			w := 4
			if incompat&jbdIncompat64Bit != 0 {
				w = 8
			}
			for p := 16; p+w <= n; p += w {
				var blk uint64
				if w == 8 {
					blk = be.Uint64(b[p:])
				} else {
					blk = uint64(be.Uint32(b[p:]))
				}
				if s, ok := revoked[blk]; !ok || int32(cur.seq-s) > 0 {
					revoked[blk] = cur.seq
				}
			}
		default:
			return nil, fmt.Errorf("journal block %d: unknown block type %d", here, typ)
		}
	}
	for _, t := range txns {
		for i, tg := range t.tags {
			if s, ok := revoked[tg.fsBlock]; ok && int32(s-t.seq) >= 0 {
				continue // revoked by this or a later transaction
			}
			if tg.fsBlock >= f.sb.BlocksCount {
				return nil, fmt.Errorf("transaction %d: block %d past the filesystem's %d blocks", t.seq, tg.fsBlock, f.sb.BlocksCount)
			}
			off, err := jr.offset(t.at[i])
			if err != nil {
				return nil, err
			}
			j.overlay[tg.fsBlock] = journalCopy{off: off, escape: tg.escape}
		}
	}
	j.transactions = len(txns)
	return j, nil
}

// jreader reads journal blocks through the journal inode's block map.
type jreader struct {
	f    *FS
	runs []Run
	ino  uint64
}

func (jr *jreader) offset(lb uint64) (int64, error) {
	i, ok := findRun(jr.runs, lb)
	if !ok {
		return 0, fmt.Errorf("journal inode %d: block %d is a hole", jr.ino, lb)
	}
	r := jr.runs[i]
	return int64(r.Physical+lb-r.Logical) * jr.f.bs, nil
}

func (jr *jreader) block(lb uint64) ([]byte, error) {
	off, err := jr.offset(lb)
	if err != nil {
		return nil, err
	}
	b, err := jr.f.cache.readMeta(off, jr.f.bs)
	if err != nil {
		return nil, fmt.Errorf("journal block %d: %w", lb, err)
	}
	return b, nil
}

// replayReader is the volume with the journal's newest block copies laid
// over it. Reads are split only where a replaced block falls inside them.
// It is read-only after construction, so safe for concurrent ReadAt.
type replayReader struct {
	r    io.ReaderAt
	bs   int64
	j    *journal
	keys []uint64 // replaced blocks, sorted
}

func newReplayReader(r io.ReaderAt, bs int64, j *journal) *replayReader {
	rr := &replayReader{r: r, bs: bs, j: j, keys: make([]uint64, 0, len(j.overlay))}
	for k := range j.overlay {
		rr.keys = append(rr.keys, k)
	}
	sort.Slice(rr.keys, func(a, b int) bool { return rr.keys[a] < rr.keys[b] })
	return rr
}

func (rr *replayReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		blk := uint64(pos / rr.bs)
		// the next replaced block at or after blk
		i := sort.Search(len(rr.keys), func(i int) bool { return rr.keys[i] >= blk })
		if i == len(rr.keys) || rr.keys[i] != blk {
			end := int64(len(p))
			if i < len(rr.keys) {
				if lim := int64(rr.keys[i])*rr.bs - off; lim < end {
					end = lim
				}
			}
			m, err := rr.r.ReadAt(p[n:end], pos)
			n += m
			if err != nil {
				return n, err
			}
			continue
		}
		c := rr.j.overlay[blk]
		in := pos - int64(blk)*rr.bs
		end := min(int64(len(p)-n), rr.bs-in)
		m, err := rr.r.ReadAt(p[n:n+int(end)], c.off+in)
		if c.escape && in < 4 {
			var mg [4]byte
			binary.BigEndian.PutUint32(mg[:], jbdMagic)
			copy(p[n:n+m], mg[in:])
		}
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
