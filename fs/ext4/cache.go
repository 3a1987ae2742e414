package ext4

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Metadata (inode tables, directory, extent and xattr blocks) is read
// through a small LRU of aligned chunks: walking a tree touches the same
// inode-table stretch many times, and one 64 KiB read is far cheaper than
// sixteen 4 KiB ones on a qcow2 or network-backed image.
const (
	chunkShift     = 16
	chunkSize      = 1 << chunkShift
	cacheMaxChunks = 256 // 16 MiB
)

type chunk struct {
	idx  int64
	data []byte
	elem *list.Element
}

type chunkCache struct {
	r    io.ReaderAt
	size int64

	mu     sync.Mutex
	chunks map[int64]*chunk
	lru    list.List
}

func newChunkCache(r io.ReaderAt, size int64) *chunkCache {
	return &chunkCache{r: r, size: size, chunks: make(map[int64]*chunk)}
}

func (c *chunkCache) get(idx int64) ([]byte, error) {
	c.mu.Lock()
	if ch, ok := c.chunks[idx]; ok {
		c.lru.MoveToFront(ch.elem)
		c.mu.Unlock()
		return ch.data, nil
	}
	c.mu.Unlock()

	off := idx << chunkShift
	n := int64(chunkSize)
	if off+n > c.size {
		n = c.size - off
	}
	if n <= 0 {
		return nil, io.ErrUnexpectedEOF
	}
	buf := make([]byte, n)
	if m, err := c.r.ReadAt(buf, off); m < len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.chunks[idx]; ok {
		return ch.data, nil
	}
	ch := &chunk{idx: idx, data: buf}
	ch.elem = c.lru.PushFront(ch)
	c.chunks[idx] = ch
	for c.lru.Len() > cacheMaxChunks {
		old := c.lru.Remove(c.lru.Back()).(*chunk)
		delete(c.chunks, old.idx)
	}
	return buf, nil
}

// readMeta returns n bytes at off. The slice may alias the cache and must
// not be modified. Reads within one chunk are served without copying.
func (c *chunkCache) readMeta(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > c.size || n > c.size-off {
		return nil, fmt.Errorf("read of %d bytes at %#x: beyond the %d-byte volume", n, off, c.size)
	}
	first, last := off>>chunkShift, (off+n-1)>>chunkShift
	if n == 0 {
		return nil, nil
	}
	if first == last {
		data, err := c.get(first)
		if err != nil {
			return nil, fmt.Errorf("read at %#x: %w", off, err)
		}
		lo := off - first<<chunkShift
		if lo+n > int64(len(data)) {
			return nil, fmt.Errorf("read at %#x: %w", off, io.ErrUnexpectedEOF)
		}
		return data[lo : lo+n], nil
	}
	out := make([]byte, 0, n)
	for idx := first; idx <= last; idx++ {
		data, err := c.get(idx)
		if err != nil {
			return nil, fmt.Errorf("read at %#x: %w", idx<<chunkShift, err)
		}
		lo, hi := int64(0), int64(len(data))
		if idx == first {
			lo = off - first<<chunkShift
		}
		if idx == last {
			hi = off + n - last<<chunkShift
		}
		if lo > hi || hi > int64(len(data)) {
			return nil, fmt.Errorf("read at %#x: %w", off, io.ErrUnexpectedEOF)
		}
		out = append(out, data[lo:hi]...)
	}
	return out, nil
}
