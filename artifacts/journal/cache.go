package journal

import (
	"fmt"
	"io"
)

// blockCache keeps the last few blocks of the file read: an entry and its
// data objects are usually near each other, and reading them through a
// filesystem driver one object at a time would cost a read each.
type blockCache struct {
	r      io.ReaderAt
	size   int64
	blocks [cacheBlocks]cacheBlock
	tick   uint64
}

type cacheBlock struct {
	off  int64 // -1 when empty
	n    int
	used uint64
	buf  []byte
}

const (
	cacheBlockSize = 64 << 10
	cacheBlocks    = 16
)

func (c *blockCache) init(r io.ReaderAt, size int64) {
	c.r, c.size = r, size
	for i := range c.blocks {
		c.blocks[i].off = -1
	}
}

// readAt fills p from off; reading past the end of the file is an error.
func (c *blockCache) readAt(p []byte, off int64) error {
	if off < 0 || off > c.size || int64(len(p)) > c.size-off {
		return fmt.Errorf("read of %d bytes at %#x: %w (file size %#x)", len(p), off, ErrBeyondEOF, c.size)
	}
	if len(p) > cacheBlockSize {
		n, err := c.r.ReadAt(p, off)
		if n == len(p) {
			return nil
		}
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	for len(p) > 0 {
		boff := off &^ (cacheBlockSize - 1)
		b, err := c.block(boff)
		if err != nil {
			return err
		}
		i := int(off - boff)
		if i >= b.n {
			return io.ErrUnexpectedEOF
		}
		n := copy(p, b.buf[i:b.n])
		p, off = p[n:], off+int64(n)
	}
	return nil
}

func (c *blockCache) block(boff int64) (*cacheBlock, error) {
	c.tick++
	victim := &c.blocks[0]
	for i := range c.blocks {
		b := &c.blocks[i]
		if b.off == boff {
			b.used = c.tick
			return b, nil
		}
		if b.used < victim.used {
			victim = b
		}
	}
	if victim.buf == nil {
		victim.buf = make([]byte, cacheBlockSize)
	}
	want := min(int64(cacheBlockSize), c.size-boff)
	n, err := c.r.ReadAt(victim.buf[:want], boff)
	if int64(n) < want {
		victim.off = -1
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	victim.off, victim.n, victim.used = boff, n, c.tick
	return victim, nil
}
