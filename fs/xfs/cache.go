package xfs

import (
	"container/list"
	"fmt"
	"io"
	"sync"
)

// pageSize is the unit of metadata reads. Inode chunks (64 inodes) and
// directory blocks are small and clustered, so one aligned 64 KiB read
// usually serves many following lookups.
const pageSize = 64 << 10

// pageCache is a bounded LRU of aligned pages of the volume. Pages are
// never modified after they are read, so callers may keep slices of them.
type pageCache struct {
	r    io.ReaderAt
	size int64
	max  int

	mu    sync.Mutex
	lru   *list.List // of *page, most recent first
	pages map[int64]*list.Element
}

type page struct {
	idx  int64
	data []byte
}

func newPageCache(r io.ReaderAt, size int64, max int) *pageCache {
	return &pageCache{r: r, size: size, max: max, lru: list.New(), pages: map[int64]*list.Element{}}
}

// get returns n bytes at off; the range must not cross a page boundary.
func (c *pageCache) get(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || off+int64(n) > c.size {
		return nil, fmt.Errorf("read %d bytes at %#x: beyond the end of the volume (%d bytes)", n, off, c.size)
	}
	idx := off / pageSize
	in := int(off % pageSize)
	if in+n > pageSize {
		return nil, fmt.Errorf("read %d bytes at %#x: crosses a cache page", n, off)
	}
	c.mu.Lock()
	if e, ok := c.pages[idx]; ok {
		c.lru.MoveToFront(e)
		p := e.Value.(*page)
		c.mu.Unlock()
		return p.data[in : in+n], nil
	}
	c.mu.Unlock()

	// Read outside the lock; a concurrent reader of the same page just
	// does the work twice.
	want := int64(pageSize)
	if rest := c.size - idx*pageSize; rest < want {
		want = rest
	}
	buf := make([]byte, want)
	got, err := c.r.ReadAt(buf, idx*pageSize)
	if got < len(buf) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		if got < in+n {
			return nil, fmt.Errorf("read at %#x: %w", idx*pageSize, err)
		}
		buf = buf[:got]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.pages[idx]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*page).data[in : in+n], nil
	}
	c.pages[idx] = c.lru.PushFront(&page{idx: idx, data: buf})
	for c.lru.Len() > c.max {
		old := c.lru.Remove(c.lru.Back()).(*page)
		delete(c.pages, old.idx)
	}
	return buf[in : in+n], nil
}
