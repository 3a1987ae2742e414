package xfs

import (
	"encoding/binary"
	"flag"
	"io"
	"os"
	"testing"
)

// memVol is a volume of a given size that holds data at off and zeros
// elsewhere, so fuzz inputs stay small while block numbers stay valid.
type memVol struct {
	data []byte
	off  int64
	size int64
}

func (m *memVol) ReadAt(b []byte, off int64) (int, error) {
	if off >= m.size {
		return 0, io.EOF
	}
	n := len(b)
	if rest := m.size - off; int64(n) > rest {
		n = int(rest)
	}
	clear(b[:n])
	// Overlap of [off, off+n) with the data at [m.off, m.off+len).
	lo, hi := max(off, m.off), min(off+int64(n), m.off+int64(len(m.data)))
	if lo < hi {
		copy(b[lo-off:hi-off], m.data[lo-m.off:hi-m.off])
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// Fuzz geometry: 2 AGs of 1024 4-KiB blocks; inode 128 sits at block 16
// (v5, 512-byte inodes) or 8 (v4, 256-byte inodes); the fuzz input starts
// there and its bytes from 4096 on are the blocks that follow.
const (
	fuzzIno      = 128
	fuzzAgBlocks = 1024
)

func fuzzSuperblock(v5 bool) []byte {
	b := make([]byte, 512)
	be := binary.BigEndian
	be.PutUint32(b[0:], sbMagic)
	be.PutUint32(b[4:], 4096)
	be.PutUint64(b[8:], 2*fuzzAgBlocks)
	be.PutUint64(b[56:], fuzzIno)
	be.PutUint32(b[84:], fuzzAgBlocks)
	be.PutUint32(b[88:], 2)
	b[120], b[121], b[192] = 12, 9, 0
	b[124] = 10
	if v5 {
		be.PutUint16(b[100:], 0xb4a5)
		be.PutUint16(b[102:], 512)
		be.PutUint16(b[104:], 512)
		be.PutUint16(b[106:], 8)
		b[122], b[123] = 9, 3
		be.PutUint32(b[216:], incompatFtype|incompatBigtime)
	} else {
		be.PutUint16(b[100:], 0xb4a4)
		be.PutUint16(b[102:], 512)
		be.PutUint16(b[104:], 256)
		be.PutUint16(b[106:], 16)
		b[122], b[123] = 8, 4
		be.PutUint32(b[200:], features2Ftype)
	}
	return b
}

// fuzzFS builds a filesystem whose inode 128 and following blocks are data.
func fuzzFS(v5 bool, data []byte) *FS {
	sb, err := parseSuperblock(fuzzSuperblock(v5))
	if err != nil {
		panic(err)
	}
	off, _ := sb.inodeLoc(fuzzIno)
	vol := &memVol{data: data, off: off, size: int64(sb.dblocks) << sb.blockLog}
	return newFS(vol, vol.size, sb, 8)
}

// exercise runs every reader on inode 128, bounding what it reads.
func exercise(x *FS) {
	ip, err := x.readInode(fuzzIno)
	if err != nil {
		return
	}
	x.stat(ip)
	x.xattrs(ip)
	if ip.isDir() {
		x.readDir(ip)
	}
	if ip.isSymlink() {
		x.readLink(ip)
	}
	if exts, err := x.forkExtents(ip, false); err == nil {
		b := make([]byte, 64<<10)
		x.readMapped(exts, b, 0)
		x.readMapped(exts, b, ip.size/2)
	}
}

// relocated copies inode ino of x and the blocks its forks map (up to a
// few dozen) into the fuzz layout, rewriting block numbers and owners.
func relocated(t testing.TB, x *FS, ino uint64) []byte {
	ip, err := x.readInode(ino)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := x.cache.get(ip.off, int(x.sb.inodeSize))
	out := make([]byte, 4096, 64*4096) // appends must not move out: forks are rewritten in place
	copy(out, raw)
	be := binary.BigEndian
	lit := 100
	if x.sb.v5() {
		lit = 176
		be.PutUint64(out[152:], fuzzIno)
	}
	base := func() uint64 { // fuzz fsb of the next block appended to out
		start, _ := fuzzFS(x.sb.v5(), nil).sb.inodeLoc(fuzzIno)
		return uint64(start/4096) + uint64(len(out)/4096)
	}
	appendBlocks := func(lin, n uint64) uint64 {
		fsb := base()
		for i := uint64(0); i < n && len(out) < 48*4096; i++ {
			b, err := x.block(lin + i)
			if err != nil {
				t.Fatal(err)
			}
			blk := append([]byte(nil), b...)
			if x.sb.v5() {
				switch be.Uint32(blk) {
				case dir3BlockMagic, dir3DataMagic:
					be.PutUint64(blk[40:], fuzzIno)
				case bmap3Magic:
					be.PutUint64(blk[56:], fuzzIno)
				}
			}
			out = append(out, blk...)
		}
		return fsb
	}
	// relocateRecs rewrites extent records in place and appends their blocks.
	relocateRecs := func(recs []byte, n int) {
		for i := 0; i < n && (i+1)*16 <= len(recs); i++ {
			r := recs[i*16:]
			off, fsb, count, unwritten := decodeExtent(r)
			lin, err := x.sb.linear(fsb, count)
			if err != nil {
				t.Fatal(err)
			}
			nf := appendBlocks(lin, min(count, 8))
			l0 := off<<9 | nf>>43
			if unwritten {
				l0 |= 1 << 63
			}
			be.PutUint64(r, l0)
			be.PutUint64(r[8:], nf<<21|min(count, 8))
		}
	}
	fork := func(format uint8, f []byte, n uint64) {
		switch format {
		case fmtExtents:
			relocateRecs(f, int(n))
		case fmtBtree:
			maxrecs := (len(f) - 4) / 16
			ptr := f[4+maxrecs*8:]
			lin, err := x.sb.linear(be.Uint64(ptr), 1)
			if err != nil {
				t.Fatal(err)
			}
			at := len(out)
			be.PutUint64(ptr, appendBlocks(lin, 1))
			hdr := 24
			if x.sb.v5() {
				hdr = 72
			}
			leaf := out[at:]
			relocateRecs(leaf[hdr:], min(int(be.Uint16(leaf[6:])), 6))
			be.PutUint16(leaf[6:], min(be.Uint16(leaf[6:]), 6))
		}
	}
	dsize := int(x.sb.inodeSize) - lit
	if ip.afork != nil {
		dsize = len(ip.dfork)
	}
	fork(ip.format, out[lit:lit+dsize], ip.nextents)
	if ip.afork != nil {
		fork(ip.aformat, out[lit+dsize:x.sb.inodeSize], ip.anextents)
	}
	return out
}

// fuzzWorker reports whether this process is a fuzzing worker. Workers get
// their inputs from the coordinator, so they skip building seed images
// (which would stall every worker for seconds).
func fuzzWorker() bool {
	w := flag.Lookup("test.fuzzworker")
	return w != nil && w.Value.String() == "true"
}

func fuzzSeeds(f *testing.F, variant string) [][]byte {
	if fuzzWorker() {
		return nil
	}
	x := openImage(f, buildImage(f, variant)+"/xfs.img")
	var seeds [][]byte
	for _, p := range []string{"short", "block", "leaf", "node", "frag", "hello.txt", "xattrs", "bigattrs", "links/rel", "links/long", "fifo", "big"} {
		fi, err := x.Lstat(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, relocated(f, x, inoOf(fi)))
	}
	return seeds
}

// FuzzInode feeds an inode and the blocks after it to every reader: inode
// core, data and attribute forks (local, extents, B+tree), directories of
// every format, symlinks and attributes.
func FuzzInode(f *testing.F) {
	for _, v := range []string{"v5", "v4"} {
		for _, s := range fuzzSeeds(f, v) {
			f.Add(v == "v5", s)
		}
	}
	f.Fuzz(func(t *testing.T, v5 bool, data []byte) {
		if len(data) > 256<<10 {
			return
		}
		x := fuzzFS(v5, data)
		exercise(x)
		// The same bytes through the io/fs surface, as the root.
		x.root, _ = x.readInode(fuzzIno)
		if x.root != nil && x.root.isDir() {
			ents, _ := x.ReadDir(".")
			for i, e := range ents {
				if i > 64 {
					break
				}
				e.Info()
				if f, err := x.Open(e.Name()); err == nil {
					io.Copy(io.Discard, io.LimitReader(f, 1<<20))
				}
			}
		}
	})
}

// FuzzSuperblock checks that any superblock either fails to parse or
// gives geometry whose conversions stay in range.
func FuzzSuperblock(f *testing.F) {
	f.Add(fuzzSuperblock(true))
	f.Add(fuzzSuperblock(false))
	for _, v := range []string{"v5", "v4"} {
		if fuzzWorker() {
			break
		}
		b := make([]byte, 512)
		r, err := os.Open(buildImage(f, v) + "/xfs.img")
		if err != nil {
			f.Fatal(err)
		}
		r.ReadAt(b, 0)
		r.Close()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sb, err := parseSuperblock(b)
		if err != nil {
			return
		}
		sb.features()
		for _, ino := range []uint64{sb.rootIno, 0, 1 << 40, ^uint64(0)} {
			if off, err := sb.inodeLoc(ino); err == nil && (off < 0 || off >= int64(sb.dblocks)<<sb.blockLog) {
				t.Fatalf("inode %d at %d outside the filesystem", ino, off)
			}
		}
		for _, fsb := range []uint64{0, 1 << 20, ^uint64(0)} {
			if lin, err := sb.linear(fsb, 1); err == nil && lin >= sb.dblocks {
				t.Fatalf("block %d maps to %d", fsb, lin)
			}
		}
	})
}

// FuzzDirBlock parses directory data blocks (block, leaf and node
// directories all keep entries in them) and short-form directories.
func FuzzDirBlock(f *testing.F) {
	for _, v := range []string{"v5", "v4"} {
		if fuzzWorker() {
			break
		}
		x := openImage(f, buildImage(f, v)+"/xfs.img")
		for _, p := range []string{"block", "leaf", "node", "short"} {
			fi, _ := x.Lstat(p)
			ip, err := x.readInode(inoOf(fi))
			if err != nil {
				f.Fatal(err)
			}
			if ip.format == fmtLocal {
				f.Add(v == "v5", true, uint64(0), append([]byte(nil), ip.dfork[:ip.size]...))
				continue
			}
			exts, _ := x.forkExtents(ip, false)
			b, _ := x.block(exts[0].lin)
			f.Add(v == "v5", true, ip.ino, append([]byte(nil), b...))
		}
	}
	f.Fuzz(func(t *testing.T, v5, ftype bool, owner uint64, b []byte) {
		if len(b) > 64<<10 {
			return
		}
		parseShortformDir(b, ftype)
		parseDirBlock(b, nil, v5, ftype, owner)
		parseShortformAttrs(b)
	})
}

// FuzzBmbt feeds a B+tree root and the blocks below it.
func FuzzBmbt(f *testing.F) {
	for _, v := range []string{"v5", "v4"} {
		if fuzzWorker() {
			break
		}
		x := openImage(f, buildImage(f, v)+"/xfs.img")
		fi, _ := x.Lstat("frag")
		f.Add(v == "v5", relocated(f, x, inoOf(fi)))
	}
	f.Fuzz(func(t *testing.T, v5 bool, data []byte) {
		if len(data) > 256<<10 {
			return
		}
		x := fuzzFS(v5, data)
		ip, err := x.readInode(fuzzIno)
		if err != nil {
			return
		}
		ip.format = fmtBtree // whatever the inode says, walk it as a tree
		x.bmbtRecords(ip, ip.dfork, "data")
		x.forkExtents(ip, false)
	})
}

// FuzzInobt feeds the start of AG 0 (superblock, AGI, inode B+tree
// blocks) to the free-inode walk behind Deleted.
func FuzzInobt(f *testing.F) {
	for _, v := range []string{"v5", "v4"} {
		if fuzzWorker() {
			break
		}
		r, err := os.Open(buildImage(f, v) + "/xfs.img")
		if err != nil {
			f.Fatal(err)
		}
		b := make([]byte, 64<<10)
		r.ReadAt(b, 0)
		r.Close()
		f.Add(v == "v5", b)
	}
	f.Fuzz(func(t *testing.T, v5 bool, data []byte) {
		if len(data) > 256<<10 {
			return
		}
		sb, err := parseSuperblock(fuzzSuperblock(v5))
		if err != nil {
			t.Fatal(err)
		}
		vol := &memVol{data: data, size: int64(sb.dblocks) << sb.blockLog}
		x := newFS(vol, vol.size, sb, 8)
		n := 0
		x.freeInodes(0, func(uint64) { n++ })
		if n > 1<<20 {
			t.Fatalf("%d free inodes from %d bytes", n, len(data))
		}
		x.Deleted()
	})
}
