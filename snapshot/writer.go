package snapshot

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// PartialSuffix marks a download that has not finished. Its bytes are
// trusted only up to its length: resuming re-hashes them.
const PartialSuffix = ".partial"

// sparseChunk is the granularity of hole detection: a chunk of zeros is
// skipped with a seek instead of written.
const sparseChunk = 64 << 10

// EvidenceWriter writes one evidence file into a case folder, hashing
// (SHA-256 and MD5) every byte in order as it is written. Zero regions are
// left as holes. Until Commit the data lives in NAME.partial; a writer
// opened on an existing partial file re-hashes it and continues at its end,
// which is how an interrupted download resumes.
type EvidenceWriter struct {
	dir, name string
	f         *os.File
	off       int64 // bytes hashed, and the logical end of the file
	sha, md5  hash.Hash
	hashes    io.Writer // sha, md5 and any extra hash
	zero      []byte    // 1 MiB of zeros, hashed for holes
	onWrite   func(int64)
}

// CreateEvidence opens CASE/name for writing. name must be a plain file name
// (no folders) and neither the case folder nor the file may be a symbolic
// link: evidence never lands outside the case. Extra hashes (a provider's
// own algorithm, e.g. Glance's sha512) are fed the same bytes.
func CreateEvidence(caseDir, name string, extra ...hash.Hash) (*EvidenceWriter, error) {
	if err := checkRelPath(name); err != nil || filepath.Base(name) != name {
		return nil, fmt.Errorf("evidence name %q: must be a plain file name", name)
	}
	if err := checkCaseDir(caseDir); err != nil {
		return nil, err
	}
	p := filepath.Join(caseDir, name+PartialSuffix)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o640)
	if err != nil {
		return nil, fmt.Errorf("evidence %s: %w", p, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("evidence %s: not a regular file", p)
	}
	w := &EvidenceWriter{dir: caseDir, name: name, f: f, sha: sha256.New(), md5: md5.New(), zero: make([]byte, 1<<20)}
	hs := []io.Writer{w.sha, w.md5}
	for _, h := range extra {
		hs = append(hs, h)
	}
	w.hashes = parallelHash(hs)
	// Resume: hash what an earlier run already wrote.
	n, err := io.Copy(w.hashes, io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("evidence %s: re-hashing partial download: %w", p, err)
	}
	w.off = n
	if _, err := f.Seek(n, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// checkCaseDir refuses a case folder that is a symbolic link or not a folder.
func checkCaseDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("case folder: %w", err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("case folder %s is a symbolic link", dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("case folder %s is not a folder", dir)
	}
	return nil
}

// Offset is how many bytes are already written: where a resumed download
// starts (an HTTP Range start, a copy's skip).
func (w *EvidenceWriter) Offset() int64 { return w.off }

// OnWrite calls fn with the count of every write, for a progress bar.
func (w *EvidenceWriter) OnWrite(fn func(int64)) { w.onWrite = fn }

// Write appends p, leaving whole zero chunks as holes.
func (w *EvidenceWriter) Write(p []byte) (int, error) {
	w.hashes.Write(p)
	done := 0
	for done < len(p) {
		n := min(len(p)-done, sparseChunk)
		c := p[done : done+n]
		if n == sparseChunk && allZero(c) {
			if _, err := w.f.Seek(int64(n), io.SeekCurrent); err != nil {
				return done, err
			}
		} else if _, err := w.f.Write(c); err != nil {
			return done, err
		}
		done += n
		w.off += int64(n)
	}
	if w.onWrite != nil {
		w.onWrite(int64(len(p)))
	}
	return len(p), nil
}

// WriteHole appends n zero bytes without writing them: the source said the
// region is empty.
func (w *EvidenceWriter) WriteHole(n int64) error {
	if n < 0 {
		return fmt.Errorf("evidence %s: negative hole", w.name)
	}
	for left := n; left > 0; {
		k := min(left, int64(len(w.zero)))
		w.hashes.Write(w.zero[:k])
		left -= k
	}
	if _, err := w.f.Seek(n, io.SeekCurrent); err != nil {
		return err
	}
	w.off += n
	if w.onWrite != nil {
		w.onWrite(n)
	}
	return nil
}

// ReadFrom copies r, skipping over the holes of r when r is a sparse file
// (SEEK_DATA/SEEK_HOLE), so that copying a mostly empty disk image reads and
// writes only its data.
func (w *EvidenceWriter) ReadFrom(r io.Reader) (int64, error) {
	if f, ok := r.(*os.File); ok {
		if n, err, ok := w.copySparse(f); ok {
			return n, err
		}
	}
	buf := make([]byte, 1<<20)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

const (
	seekData = 3
	seekHole = 4
)

// copySparse copies f from its current offset to its end, data region by
// data region. ok is false when the filesystem does not report holes.
func (w *EvidenceWriter) copySparse(f *os.File) (n int64, err error, ok bool) {
	start, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, nil, false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0, nil, false
	}
	size := fi.Size()
	if _, err := f.Seek(start, seekData); err != nil && !errors.Is(err, syscall.ENXIO) {
		return 0, nil, false
	}
	buf := make([]byte, 1<<20)
	pos := start
	for pos < size {
		data, err := f.Seek(pos, seekData)
		if errors.Is(err, syscall.ENXIO) {
			data = size // only a hole remains
		} else if err != nil {
			return n, err, true
		}
		if data > pos {
			if err := w.WriteHole(data - pos); err != nil {
				return n, err, true
			}
			n += data - pos
			pos = data
		}
		if pos >= size {
			break
		}
		hole, err := f.Seek(pos, seekHole)
		if err != nil {
			return n, err, true
		}
		want := hole - pos
		k, err := io.CopyBuffer(onlyWriter{w}, io.NewSectionReader(f, pos, want), buf)
		n += k
		pos += k
		if err != nil {
			return n, err, true
		}
		if k != want {
			return n, fmt.Errorf("%s: short read at %d", f.Name(), pos), true
		}
	}
	return n, nil, true
}

// onlyWriter hides ReadFrom so io.CopyBuffer does not recurse.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

// Commit makes the file its full length (trailing holes included), syncs
// it, renames NAME.partial to NAME and returns its evidence record.
func (w *EvidenceWriter) Commit() (Evidence, error) {
	if err := w.f.Truncate(w.off); err != nil {
		return Evidence{}, err
	}
	if err := w.f.Sync(); err != nil {
		return Evidence{}, err
	}
	if err := w.f.Close(); err != nil {
		return Evidence{}, err
	}
	w.f = nil
	if err := os.Rename(filepath.Join(w.dir, w.name+PartialSuffix), filepath.Join(w.dir, w.name)); err != nil {
		return Evidence{}, err
	}
	return Evidence{
		Path:      w.name,
		Size:      w.off,
		SHA256:    hex.EncodeToString(w.sha.Sum(nil)),
		MD5:       hex.EncodeToString(w.md5.Sum(nil)),
		Complete:  true,
		Collected: time.Now().UTC(),
	}, nil
}

// Partial returns the evidence record of an unfinished download: what is on
// disk so far, marked incomplete.
func (w *EvidenceWriter) Partial() Evidence {
	return Evidence{
		Path:      w.name + PartialSuffix,
		Size:      w.off,
		SHA256:    hex.EncodeToString(w.sha.Sum(nil)),
		MD5:       hex.EncodeToString(w.md5.Sum(nil)),
		Collected: time.Now().UTC(),
	}
}

// Close leaves an uncommitted download in NAME.partial for a later resume.
func (w *EvidenceWriter) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Truncate(w.off)
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

// Discard removes the partial file: its content is known to be wrong (a
// checksum mismatch) and must not be resumed.
func (w *EvidenceWriter) Discard() error {
	w.Close()
	return os.Remove(filepath.Join(w.dir, w.name+PartialSuffix))
}

// SHA256 and MD5 return the hex digests of everything written so far.
func (w *EvidenceWriter) SHA256() string { return hex.EncodeToString(w.sha.Sum(nil)) }
func (w *EvidenceWriter) MD5() string    { return hex.EncodeToString(w.md5.Sum(nil)) }

func allZero(p []byte) bool {
	for _, b := range p {
		if b != 0 {
			return false
		}
	}
	return true
}

func openNoFollow(p string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	return f, nil
}

// parallelHash feeds large writes to each hash on its own goroutine: on a
// disk image most of the time goes into hashing, and sha256 and md5 of the
// same buffer are independent.
type parallelHash []io.Writer

func (ph parallelHash) Write(p []byte) (int, error) {
	if len(p) < 256<<10 || len(ph) == 1 {
		for _, h := range ph {
			h.Write(p)
		}
		return len(p), nil
	}
	var wg sync.WaitGroup
	for _, h := range ph[1:] {
		wg.Go(func() { h.Write(p) })
	}
	ph[0].Write(p)
	wg.Wait()
	return len(p), nil
}
