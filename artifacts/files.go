package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path"
	"sort"
	"sync"
	"time"
)

// MaxFileWarnings bounds the warnings recorded per file: a file of garbage
// would otherwise give one per record. The rest are counted in one last
// warning.
const MaxFileWarnings = 100

// FileWarnings records the warnings met in one file of the guest, at most
// MaxFileWarnings of them.
type FileWarnings struct {
	env          *Env
	source, path string
	n            int
}

// FileWarnings returns the recorder of one file's warnings; path is the
// guest path ("/var/log/…") they name, source the extractor's.
func (e *Env) FileWarnings(source, path string) *FileWarnings {
	return &FileWarnings{env: e, source: source, path: path}
}

// Warn records a warning at a 1-based line and a byte offset, each 0 when
// unknown.
func (w *FileWarnings) Warn(line, offset int64, msg string) {
	if w.n++; w.n <= MaxFileWarnings {
		w.env.Warn(Warning{Source: w.source, Path: w.path, Line: line, Offset: offset, Msg: msg})
	}
}

// AtOffset records a warning at a byte offset (0 when unknown), for binary
// files that have no lines.
func (w *FileWarnings) AtOffset(offset int64, msg string) { w.Warn(0, offset, msg) }

// Flush records how many warnings went past MaxFileWarnings, if any.
func (w *FileWarnings) Flush() {
	if w.n > MaxFileWarnings {
		w.env.Warn(Warning{Source: w.source, Path: w.path, Msg: fmt.Sprintf("%d more problems not listed", w.n-MaxFileWarnings)})
	}
}

// Fail records err, which kept the file from being read (further), and
// returns its text for the file's summary.
func (w *FileWarnings) Fail(err error) string {
	w.Warn(0, 0, err.Error())
	return err.Error()
}

// Stopped records err, which ended reading the file before its end, and
// returns its text for the file's summary. A nil error and the context's
// cancellation (the run was stopped, not the file) give "".
func (w *FileWarnings) Stopped(err error) string {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ""
	}
	w.env.Warn(Warning{Source: w.source, Path: w.path, Msg: "reading stopped: " + err.Error()})
	return err.Error()
}

// LogFile is a log of the guest open for reading, decompressed as by
// OpenLog, with the recorder of its warnings. The caller closes it.
type LogFile struct {
	io.ReadCloser
	Info iofs.FileInfo // of the file as stored, compressed or not
	*FileWarnings
	records int64
}

// Cancelled returns the context's error, asking it once every 4096 calls:
// a parser's callback calls it per record, and a long log must stop soon
// after the run is cancelled without paying for ctx.Err on every line.
func (l *LogFile) Cancelled(ctx context.Context) error {
	if l.records++; l.records&0xfff == 0 {
		return ctx.Err()
	}
	return nil
}

// Widen stretches the span from *first to *last to take in t; a zero
// *first is an empty span.
func Widen(first, last *time.Time, t time.Time) {
	if first.IsZero() || t.Before(*first) {
		*first = t
	}
	if t.After(*last) {
		*last = t
	}
}

// OpenLogFile opens a log of env's guest (name relative to its root) for
// the extractor source. Anything but a regular file is refused: a FIFO or
// device planted under /var/log must not block or feed the reader. An error
// is also recorded as a warning on the file.
func (e *Env) OpenLogFile(source, name string) (*LogFile, error) {
	w := e.FileWarnings(source, "/"+name)
	fail := func(err error) (*LogFile, error) {
		w.Fail(err)
		return nil, err
	}
	fi, err := iofs.Stat(e.FS, name)
	if err != nil {
		return fail(err)
	}
	if !fi.Mode().IsRegular() {
		return fail(fmt.Errorf("not a regular file (%v)", fi.Mode().Type()))
	}
	rc, err := OpenLog(e.FS, name)
	if err != nil {
		return fail(err)
	}
	return &LogFile{ReadCloser: rc, Info: fi, FileWarnings: w}, nil
}

// FilesIn lists the entries of a guest folder that are not folders
// (files, symlinks, …) as sorted guest paths ("/etc/cron.d/backup").
func FilesIn(fsys iofs.FS, dir string) ([]string, error) {
	dir = path.Clean("/" + dir)
	ents, err := iofs.ReadDir(fsys, trimSlash(dir))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			out = append(out, path.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// OpenReaderAt opens a file of the guest (p relative to its root) for
// random access. Files of io/fs implementations that lack ReadAt but can
// Seek are read under a lock.
func OpenReaderAt(fsys iofs.FS, p string) (io.ReaderAt, int64, io.Closer, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, 0, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	if ra, ok := f.(io.ReaderAt); ok {
		return ra, fi.Size(), f, nil
	}
	if rs, ok := f.(io.ReadSeeker); ok {
		return &seekReaderAt{rs: rs}, fi.Size(), f, nil
	}
	f.Close()
	return nil, 0, nil, fmt.Errorf("%s: file supports neither ReadAt nor Seek", path.Clean("/"+p))
}

type seekReaderAt struct {
	mu sync.Mutex
	rs io.ReadSeeker
}

func (s *seekReaderAt) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.rs.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(s.rs, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}
