package image

import (
	"container/list"
	"sync"
)

// lru is a small byte-budgeted cache shared by the goroutines reading one
// image. Values are immutable once stored; callers must not modify them.
type lru[K comparable, V any] struct {
	mu     sync.Mutex
	budget int64
	used   int64
	ll     *list.List
	items  map[K]*list.Element
	sizeOf func(V) int64
}

type lruEntry[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](budget int64, sizeOf func(V) int64) *lru[K, V] {
	return &lru[K, V]{budget: budget, ll: list.New(), items: map[K]*list.Element{}, sizeOf: sizeOf}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lru[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return
	}
	c.items[k] = c.ll.PushFront(&lruEntry[K, V]{k, v})
	c.used += c.sizeOf(v)
	// Keep at least the newest entry even when it alone exceeds the budget.
	for c.used > c.budget && c.ll.Len() > 1 {
		old := c.ll.Back()
		ent := old.Value.(*lruEntry[K, V])
		c.ll.Remove(old)
		delete(c.items, ent.key)
		c.used -= c.sizeOf(ent.val)
	}
}

func bytesLen(b []byte) int64 { return int64(len(b)) }

// One table cache and one cache of inflated units serve a whole chain, so
// memory stays within their budgets however deep the chain is.
const (
	tableCacheBudget = 32 << 20 // L2 tables, grain tables, sector bitmaps
	unitCacheBudget  = 32 << 20 // decompressed clusters and grains
)

type cacheKey struct {
	file int // which structure of the chain
	off  int64
}

// fileCache is one structure's view of a shared cache.
type fileCache struct {
	c  *lru[cacheKey, []byte]
	id int
}

func (f fileCache) get(off int64) ([]byte, bool) { return f.c.get(cacheKey{f.id, off}) }
func (f fileCache) put(off int64, b []byte)      { f.c.put(cacheKey{f.id, off}, b) }

// caches are the shared caches of one Image.
type caches struct {
	tables, units *lru[cacheKey, []byte]
	ids           int
}

func (c *caches) view(l **lru[cacheKey, []byte], budget int64) fileCache {
	if *l == nil {
		*l = newLRU[cacheKey](budget, bytesLen)
	}
	c.ids++
	return fileCache{*l, c.ids}
}

func (c *caches) tableCache() fileCache { return c.view(&c.tables, tableCacheBudget) }
func (c *caches) unitCache() fileCache  { return c.view(&c.units, unitCacheBudget) }
