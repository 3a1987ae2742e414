package artifacts

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestFileWarningsBounded(t *testing.T) {
	env := &Env{}
	w := env.FileWarnings("test", "/var/log/x")
	for i := range MaxFileWarnings + 7 {
		w.Warn(int64(i+1), int64(i*10), "bad")
	}
	w.Flush()
	ws := env.Warnings()
	if len(ws) != MaxFileWarnings+1 {
		t.Fatalf("%d warnings, want %d", len(ws), MaxFileWarnings+1)
	}
	if ws[1] != (Warning{Source: "test", Path: "/var/log/x", Line: 2, Offset: 10, Msg: "bad"}) {
		t.Errorf("second warning %+v", ws[1])
	}
	if last := ws[len(ws)-1]; last.Msg != "7 more problems not listed" || last.Path != "/var/log/x" {
		t.Errorf("last warning %+v", last)
	}
}

func TestFileWarningsFlushUnderBound(t *testing.T) {
	env := &Env{}
	w := env.FileWarnings("test", "/f")
	w.AtOffset(0x40, "corrupt record")
	w.Flush()
	if ws := env.Warnings(); len(ws) != 1 || ws[0].Offset != 0x40 || ws[0].Line != 0 {
		t.Errorf("warnings %+v", ws)
	}
}

func TestFileWarningsStopped(t *testing.T) {
	env := &Env{}
	w := env.FileWarnings("test", "/f")
	for _, err := range []error{nil, context.Canceled, fmt.Errorf("parse: %w", context.DeadlineExceeded)} {
		if got := w.Stopped(err); got != "" {
			t.Errorf("Stopped(%v) = %q, want empty", err, got)
		}
	}
	if len(env.Warnings()) != 0 {
		t.Errorf("cancellation recorded: %+v", env.Warnings())
	}
	if got := w.Stopped(io.ErrUnexpectedEOF); got != io.ErrUnexpectedEOF.Error() {
		t.Errorf("Stopped = %q", got)
	}
	if got := w.Fail(errors.New("boom")); got != "boom" {
		t.Errorf("Fail = %q", got)
	}
	ws := env.Warnings()
	if len(ws) != 2 || ws[0].Msg != "reading stopped: unexpected EOF" || ws[1].Msg != "boom" {
		t.Errorf("warnings %+v", ws)
	}
}

func TestOpenLogFile(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("line one\n"))
	zw.Close()
	mtime := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	fsys := fstest.MapFS{
		"var/log/app.log.2.gz": {Data: gz.Bytes(), ModTime: mtime},
		"var/log/fifo":         {Mode: iofs.ModeNamedPipe},
		"var/log/dir":          {Mode: iofs.ModeDir},
	}
	env := &Env{FS: fsys}
	lf, err := env.OpenLogFile("app", "var/log/app.log.2.gz")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(lf)
	lf.Close()
	if err != nil || string(b) != "line one\n" {
		t.Errorf("read %q, %v", b, err)
	}
	if !lf.Info.ModTime().Equal(mtime) || lf.Info.Size() != int64(gz.Len()) {
		t.Errorf("info of the stored file: %v %d", lf.Info.ModTime(), lf.Info.Size())
	}
	lf.Warn(3, 0, "x")
	if ws := env.Warnings(); len(ws) != 1 || ws[0].Path != "/var/log/app.log.2.gz" || ws[0].Source != "app" {
		t.Errorf("warnings %+v", ws)
	}

	for _, name := range []string{"var/log/fifo", "var/log/dir", "var/log/missing"} {
		env := &Env{FS: fsys}
		if lf, err := env.OpenLogFile("app", name); err == nil {
			lf.Close()
			t.Errorf("%s opened", name)
			continue
		}
		if ws := env.Warnings(); len(ws) != 1 || ws[0].Path != "/"+name {
			t.Errorf("%s: warnings %+v", name, ws)
		}
	}
}

func TestLogFileCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	lf := &LogFile{}
	calls := 0
	for lf.Cancelled(ctx) == nil {
		if calls++; calls > 1<<13 {
			t.Fatal("cancellation never seen")
		}
	}
	if calls != 0xfff {
		t.Errorf("cancellation seen after %d calls, want %d", calls+1, 0x1000)
	}
}

func TestWiden(t *testing.T) {
	var first, last time.Time
	t1 := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	t0, t2 := t1.Add(-time.Hour), t1.Add(time.Hour)
	for _, at := range []time.Time{t1, t2, t0, t1} {
		Widen(&first, &last, at)
	}
	if !first.Equal(t0) || !last.Equal(t2) {
		t.Errorf("span %v – %v, want %v – %v", first, last, t0, t2)
	}
}

// seekOnly hides a file's ReadAt, as some io/fs implementations lack it.
type seekOnly struct{ fsys iofs.FS }

func (s seekOnly) Open(name string) (iofs.File, error) {
	f, err := s.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	return struct {
		iofs.File
		io.Seeker
	}{f, f.(io.Seeker)}, nil
}

// readOnly hides both ReadAt and Seek.
type readOnly struct{ fsys iofs.FS }

func (r readOnly) Open(name string) (iofs.File, error) {
	f, err := r.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	return struct{ iofs.File }{f}, nil
}

func TestOpenReaderAt(t *testing.T) {
	data := []byte("0123456789abcdef")
	base := fstest.MapFS{"var/lib/f": {Data: data}}
	for _, fsys := range []iofs.FS{base, seekOnly{base}} {
		ra, size, c, err := OpenReaderAt(fsys, "var/lib/f")
		if err != nil {
			t.Fatalf("%T: %v", fsys, err)
		}
		if size != int64(len(data)) {
			t.Errorf("%T: size %d", fsys, size)
		}
		buf := make([]byte, 4)
		if n, err := ra.ReadAt(buf, 10); n != 4 || err != nil || string(buf) != "abcd" {
			t.Errorf("%T: ReadAt(10) = %d %v %q", fsys, n, err, buf)
		}
		if n, err := ra.ReadAt(buf, 14); n != 2 || err != io.EOF {
			t.Errorf("%T: ReadAt past the end = %d %v, want 2 EOF", fsys, n, err)
		}
		c.Close()
	}
	if _, _, _, err := OpenReaderAt(readOnly{base}, "var/lib/f"); err == nil || !strings.Contains(err.Error(), "/var/lib/f: file supports neither ReadAt nor Seek") {
		t.Errorf("read-only file: %v", err)
	}
}

func TestFilesIn(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/cron.d/zz":        {Data: []byte("x")},
		"etc/cron.d/backup":    {Data: []byte("x")},
		"etc/cron.d/link":      {Data: []byte("zz"), Mode: iofs.ModeSymlink},
		"etc/cron.d/sub/inner": {Data: []byte("x")},
	}
	for _, dir := range []string{"/etc/cron.d", "etc/cron.d/", "/etc//cron.d/."} {
		got, err := FilesIn(fsys, dir)
		if err != nil {
			t.Fatal(err)
		}
		if want := "/etc/cron.d/backup /etc/cron.d/link /etc/cron.d/zz"; strings.Join(got, " ") != want {
			t.Errorf("FilesIn(%q) = %v, want %s", dir, got, want)
		}
	}
	if got, err := FilesIn(fsys, "/etc/missing"); !errors.Is(err, iofs.ErrNotExist) || got != nil {
		t.Errorf("missing folder: %v %v", got, err)
	}
}
