package fat

import (
	"fmt"
	"io"
	"sync"
)

// fatTable reads entries of the first FAT through a small page cache, so
// memory stays bounded whatever the FAT size (a FAT32 FAT can be 1 GiB).
type fatTable struct {
	r     io.ReaderAt
	b     *bpb
	base  int64 // byte offset of FAT 0
	limit int64 // bytes in one FAT
	mu    sync.Mutex
	pages map[int64][]byte
}

const (
	fatPageSize  = 4096
	fatPageCache = 256 // 1 MiB
)

func newFATTable(r io.ReaderAt, b *bpb) *fatTable {
	return &fatTable{
		r:     r,
		b:     b,
		base:  int64(b.firstFATSect) * int64(b.bytesPerSector),
		limit: int64(b.fatSz) * int64(b.bytesPerSector),
		pages: map[int64][]byte{},
	}
}

// byteAt returns the FAT byte at offset o (relative to FAT 0).
func (t *fatTable) byteAt(o int64) (byte, error) {
	if o < 0 || o >= t.limit {
		return 0, fmt.Errorf("fat: FAT offset %#x past the FAT (%d bytes): %w", o, t.limit, ErrCorrupt)
	}
	pg := o / fatPageSize
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.pages[pg]
	if !ok {
		n := int64(fatPageSize)
		if rest := t.limit - pg*fatPageSize; rest < n {
			n = rest
		}
		p = make([]byte, n)
		got, err := t.r.ReadAt(p, t.base+pg*fatPageSize)
		if got < len(p) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("fat: reading FAT at %#x: %w", t.base+pg*fatPageSize, err)
		}
		if len(t.pages) >= fatPageCache {
			clear(t.pages) // crude but bounded; chains are read mostly in order
		}
		t.pages[pg] = p
	}
	return p[o-pg*fatPageSize], nil
}

// entry returns FAT entry c, masked to its width (28 bits on FAT32).
func (t *fatTable) entry(c uint32) (uint32, error) {
	var off int64
	switch t.b.bits {
	case 12:
		off = int64(c) + int64(c)/2
	case 16:
		off = int64(c) * 2
	default:
		off = int64(c) * 4
	}
	n := t.b.bits / 8
	if t.b.bits == 12 {
		n = 2
	}
	var v uint32
	for i := n - 1; i >= 0; i-- {
		x, err := t.byteAt(off + int64(i))
		if err != nil {
			return 0, err
		}
		v = v<<8 | uint32(x)
	}
	switch t.b.bits {
	case 12:
		if c&1 == 1 {
			v >>= 4
		}
		v &= 0xfff
	case 32:
		v &= 0x0fffffff
	}
	return v, nil
}

// isEOC reports an end-of-chain marker. Values from 0xFF8 (scaled to the
// FAT width) up are end of chain.
func (t *fatTable) isEOC(v uint32) bool {
	switch t.b.bits {
	case 12:
		return v >= 0xff8
	case 16:
		return v >= 0xfff8
	}
	return v >= 0x0ffffff8
}

// extent is a run of contiguous clusters.
type extent struct {
	first uint32
	n     uint32
}

// chain follows the cluster chain from start and returns it as extents.
// It stops after max clusters (max ≤ 0: until end of chain), so a file's
// chain is never followed further than its size needs. A chain longer than
// the volume has clusters loops; that and any entry pointing outside the
// data area are errors naming the FAT offset.
func (t *fatTable) chain(start uint32, max int64) ([]extent, int64, error) {
	b := t.b
	if !b.validCluster(start) {
		return nil, 0, fmt.Errorf("fat: first cluster %d outside 2..%d: %w", start, b.clusterCount+1, ErrCorrupt)
	}
	var ext []extent
	var n int64
	c := start
	// Brent's cycle detection: finds a loop of any shape within about
	// twice its length, in constant memory.
	tortoise, power, lam := start, int64(1), int64(0)
	for {
		if len(ext) > 0 && ext[len(ext)-1].first+ext[len(ext)-1].n == c {
			ext[len(ext)-1].n++
		} else {
			ext = append(ext, extent{c, 1})
		}
		n++
		if max > 0 && n >= max {
			return ext, n, nil
		}
		if n > int64(b.clusterCount) {
			return nil, 0, fmt.Errorf("fat: chain from cluster %d: more than %d clusters at cluster %d: %w", start, b.clusterCount, c, ErrLoop)
		}
		v, err := t.entry(c)
		if err != nil {
			return nil, 0, fmt.Errorf("fat: chain from cluster %d: %w", start, err)
		}
		if t.isEOC(v) {
			return ext, n, nil
		}
		if !b.validCluster(v) {
			return nil, 0, fmt.Errorf("fat: chain from cluster %d: FAT entry %d (FAT byte %#x) is %#x, not a data cluster: %w",
				start, c, t.base+entryOffset(b.bits, c), v, ErrCorrupt)
		}
		// A jump back into the chain read so far is a loop. Checking the
		// extents costs little for ordinary files; for very fragmented ones
		// the clusterCount bound above still ends the walk.
		if last := ext[len(ext)-1]; v != last.first+last.n && len(ext) <= 1024 {
			for _, e := range ext {
				if v >= e.first && v-e.first < e.n {
					return nil, 0, fmt.Errorf("fat: chain from cluster %d: FAT entry %d (FAT byte %#x) points back to cluster %d: %w",
						start, c, t.base+entryOffset(b.bits, c), v, ErrLoop)
				}
			}
		}
		c = v
		if c == tortoise {
			return nil, 0, fmt.Errorf("fat: chain from cluster %d: returns to cluster %d after %d clusters: %w", start, c, n, ErrLoop)
		}
		if lam++; lam == power {
			tortoise, power, lam = c, power*2, 0
		}
	}
}

func entryOffset(bits int, c uint32) int64 {
	switch bits {
	case 12:
		return int64(c) + int64(c)/2
	case 16:
		return int64(c) * 2
	}
	return int64(c) * 4
}
