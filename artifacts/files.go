package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path"
	"sync"
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
}

// OpenLogFile opens a log of env's guest (name relative to its root) for
// the extractor source. Anything but a regular file is refused: a FIFO or
// device planted under /var/log must not block or feed the reader. An error
// is also recorded as a warning on the file.
func (e *Env) OpenLogFile(source, name string) (*LogFile, error) {
	w := e.FileWarnings(source, "/"+name)
	fail := func(err error) (*LogFile, error) {
		w.Warn(0, 0, err.Error())
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
