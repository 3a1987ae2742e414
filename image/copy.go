package image

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
)

// CopyChunk is the unit Copy reads: large and aligned to every cluster,
// grain and block size in use, so each read maps to few file reads and
// whole compressed units.
const CopyChunk = 4 << 20

var zeroChunk = make([]byte, CopyChunk)

// WriteTo writes the whole virtual disk to w (see Copy).
func (im *Image) WriteTo(w io.Writer) (int64, error) { return Copy(w, im, im.size, nil) }

// Copy writes the first size bytes of src to dst, in order. Chunks are read
// by a few goroutines at once — this is what makes compressed images
// inflate on every core — with memory bounded to a small multiple of
// CopyChunk per worker. progress, if not nil, is called after each chunk
// with the number of bytes written so far.
//
// When dst is a regular *os.File positioned at its end (a new output file),
// all-zero chunks are skipped with Seek and the file is truncated to size at
// the end, so a sparse disk dumps to a sparse file.
func Copy(dst io.Writer, src io.ReaderAt, size int64, progress func(done int64)) (int64, error) {
	if size <= 0 {
		return 0, nil
	}
	sparse := sparseTarget(dst)
	workers := min(max(runtime.GOMAXPROCS(0), 2), 16)
	window := workers * 2
	nchunks := (size + CopyChunk - 1) / CopyChunk

	type result struct {
		buf *[]byte
		n   int
		err error
	}
	type job struct {
		i  int64
		ch chan result
	}
	pool := sync.Pool{New: func() any { b := make([]byte, CopyChunk); return &b }}
	jobs := make(chan job)
	slots := make(chan chan result, window)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				bp := pool.Get().(*[]byte)
				off := j.i * CopyChunk
				n := int(min(CopyChunk, size-off))
				m, err := src.ReadAt((*bp)[:n], off)
				if m == n && errors.Is(err, io.EOF) {
					err = nil
				} else if err == nil && m < n {
					err = io.ErrUnexpectedEOF
				}
				if err != nil {
					err = fmt.Errorf("reading at %#x: %w", off+int64(m), err)
				}
				j.ch <- result{bp, n, err}
			}
		}()
	}
	go func() {
		defer close(slots)
		defer close(jobs)
		for i := int64(0); i < nchunks; i++ {
			ch := make(chan result, 1)
			select {
			case slots <- ch:
			case <-stop:
				return
			}
			select {
			case jobs <- job{i, ch}:
			case <-stop:
				return
			}
		}
	}()
	finish := func() {
		close(stop)
		for range slots { // results channels are buffered: workers never block on them
		}
		wg.Wait()
	}

	var done int64
	for ch := range slots {
		r := <-ch
		if r.err != nil {
			pool.Put(r.buf)
			finish()
			return done, r.err
		}
		buf := (*r.buf)[:r.n]
		var err error
		if sparse != nil && bytes.Equal(buf, zeroChunk[:len(buf)]) {
			_, err = sparse.Seek(int64(len(buf)), io.SeekCurrent)
		} else {
			err = writeAll(dst, buf)
		}
		pool.Put(r.buf)
		if err != nil {
			finish()
			return done, err
		}
		done += int64(r.n)
		if progress != nil {
			progress(done)
		}
	}
	wg.Wait()
	if sparse != nil {
		// Skipped zeros at the end leave the file short until truncated.
		end, err := sparse.Seek(0, io.SeekCurrent)
		if err == nil {
			err = sparse.Truncate(end)
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// sparseTarget returns dst as a file that may be written sparsely: a
// regular file whose position is at its end, so skipping leaves holes that
// read as zeros.
func sparseTarget(dst io.Writer) *os.File {
	f, ok := dst.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil || pos != fi.Size() {
		return nil
	}
	return f
}

// writeSize is the most written in one call. Measured dumping 1 GiB to
// ext4 here: in 4 MiB writes the kernel spent 3.3 s, in 1 MiB writes
// 1.2 s, in 256 KiB or 64 KiB writes 0.4 s.
const writeSize = 256 << 10

func writeAll(w io.Writer, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), writeSize)
		if _, err := w.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}
