package timeline

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// File is one filesystem object as the timeline sees it: enough to write a
// TSK bodyfile line and its MACB events.
type File struct {
	Path     string    `json:"path"`  // guest path, "/etc/passwd"
	Inode    string    `json:"inode"` // as TSK prints it: "12", or "35-128-1" on NTFS
	RawMode  uint32    `json:"mode"`  // st_mode bits (type + permissions)
	UID      uint32    `json:"uid"`
	GID      uint32    `json:"gid"`
	Size     int64     `json:"size"`
	Atime    time.Time `json:"atime"`
	Mtime    time.Time `json:"mtime"`
	Ctime    time.Time `json:"ctime"`
	Btime    time.Time `json:"btime"`
	Target   string    `json:"target,omitempty"` // symlink target
	Deleted  bool      `json:"deleted,omitempty"`
	Evidence Evidence  `json:"evidence"`
}

// Name is the file's name as TSK's fls -m writes it.
func (f *File) Name() string {
	n := f.Path
	if f.Target != "" {
		n += " -> " + f.Target
	}
	if f.Deleted {
		n += " (deleted)"
	}
	return n
}

// ModeString renders st_mode as TSK does in bodyfiles: the name type, a
// slash, then the meta type and permission bits ("r/rrw-r--r--").
func ModeString(m uint32) string {
	t := byte('-')
	switch m & 0o170000 {
	case 0o100000:
		t = 'r'
	case 0o040000:
		t = 'd'
	case 0o120000:
		t = 'l'
	case 0o020000:
		t = 'c'
	case 0o060000:
		t = 'b'
	case 0o010000:
		t = 'p'
	case 0o140000:
		t = 's'
	}
	b := []byte{t, '/', t, '-', '-', '-', '-', '-', '-', '-', '-', '-'}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if m&(1<<(8-i)) != 0 {
			b[3+i] = rwx[i]
		}
	}
	special := func(i int, bit, exec uint32, set, unset byte) {
		if m&bit != 0 {
			if m&exec != 0 {
				b[i] = set
			} else {
				b[i] = unset
			}
		}
	}
	special(5, 0o4000, 0o100, 's', 'S')
	special(8, 0o2000, 0o010, 's', 'S')
	special(11, 0o1000, 0o001, 't', 'T')
	return string(b)
}

var epoch = time.Unix(0, 0)

var macbDesc = [4]string{"Content Modification Time", "Last Access Time", "Metadata Modification Time", "Creation Time"}

// Events turns a file into MACB events: one per distinct time, carrying
// the letters that share it as mactime prints them ("m.c."). Zero times
// (absent on the filesystem) and times of exactly the Unix epoch (what
// mkfs.xfs -p and many tools leave in a field they never set) give no
// event; the bodyfile still carries them.
func (f *File) Events(emit func(Event) error) error {
	times := [4]time.Time{f.Mtime, f.Atime, f.Ctime, f.Btime}
	var done [4]bool
	for i := range times {
		if done[i] || times[i].IsZero() || times[i].Equal(epoch) {
			continue
		}
		letters := []byte("....")
		var descs []string
		for j := i; j < 4; j++ {
			if !done[j] && times[j].Equal(times[i]) {
				done[j] = true
				letters[j] = "macb"[j]
				descs = append(descs, macbDesc[j])
			}
		}
		ev := Event{
			Time:          times[i],
			TimestampDesc: strings.Join(descs, "; "),
			Message:       f.Name(),
			Source:        "fs",
			Path:          f.Path,
			Evidence:      f.Evidence,
			Attrs: map[string]string{
				"macb":  string(letters),
				"inode": f.Inode,
				"mode":  ModeString(f.RawMode),
				"uid":   strconv.FormatUint(uint64(f.UID), 10),
				"gid":   strconv.FormatUint(uint64(f.GID), 10),
				"size":  strconv.FormatInt(f.Size, 10),
			},
		}
		if ev.Evidence.Path == "" {
			ev.Evidence.Path = f.Path
		}
		if err := emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// BodyfileLine renders a file as one TSK 3.x bodyfile line
// (MD5|name|inode|mode_as_string|UID|GID|size|atime|mtime|ctime|crtime),
// as fls -m writes it, without the newline.
func BodyfileLine(f *File) string { return string(AppendBodyfile(nil, f)) }

// AppendBodyfile appends a file's bodyfile line (without newline) to b;
// a walk of a large filesystem writes one per object, so it avoids fmt.
func AppendBodyfile(b []byte, f *File) []byte {
	b = append(b, "0|"...)
	b = append(b, bodyField(f.Name())...)
	b = append(b, '|')
	b = append(b, f.Inode...)
	b = append(b, '|')
	b = append(b, ModeString(f.RawMode)...)
	b = append(b, '|')
	b = strconv.AppendUint(b, uint64(f.UID), 10)
	b = append(b, '|')
	b = strconv.AppendUint(b, uint64(f.GID), 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, f.Size, 10)
	for _, t := range [4]time.Time{f.Atime, f.Mtime, f.Ctime, f.Btime} {
		b = append(b, '|')
		b = strconv.AppendInt(b, unixOrZero(t), 10)
	}
	return b
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// bodyWriter writes TSK 3.x bodyfile lines. A bodyfile holds one line per
// file, so files are best written whole with WriteFile; an event becomes a
// line with its time as mtime and "[source] description: message" as name,
// which mactime shows in place (a filesystem event thus shows only its own
// letters).
type bodyWriter struct {
	w   *bufio.Writer
	buf []byte
}

// WriteFile writes a whole file's line.
func (b *bodyWriter) WriteFile(f *File) error {
	b.buf = append(AppendBodyfile(b.buf[:0], f), '\n')
	_, err := b.w.Write(b.buf)
	return err
}

func (b *bodyWriter) Write(e *Event) error {
	var t [4]int64 // a m c b
	name, inode, mode, uid, gid, size := "", "0", "-/----------", "0", "0", "0"
	if e.Source == "fs" && len(e.Attrs["macb"]) == 4 {
		l, sec := e.Attrs["macb"], e.Time.Unix()
		for i, field := range [4]int{1, 0, 2, 3} { // letter m→mtime field, a→atime, c→ctime, b→crtime
			if l[i] != '.' {
				t[field] = sec
			}
		}
		name = e.Message
		inode, mode, uid, gid, size = e.Attrs["inode"], e.Attrs["mode"], e.Attrs["uid"], e.Attrs["gid"], e.Attrs["size"]
	} else {
		t[1] = e.Time.Unix()
		name = "[" + e.Source + "] " + e.TimestampDesc + ": " + e.Message
	}
	_, err := fmt.Fprintf(b.w, "0|%s|%s|%s|%s|%s|%s|%d|%d|%d|%d\n", bodyField(name), inode, mode, uid, gid, size, t[0], t[1], t[2], t[3])
	return err
}

// FileWriter is implemented by writers that can write a filesystem object
// whole (the bodyfile writer).
type FileWriter interface {
	WriteFile(*File) error
}

func (b *bodyWriter) Close() error { return b.w.Flush() }

// bodyField keeps a name on one line and out of the separator; TSK itself
// writes names raw, so only the two characters that would break the line
// format are replaced.
func bodyField(s string) string {
	if !strings.ContainsAny(s, "|\n") {
		return s
	}
	return strings.NewReplacer("|", `\|`, "\n", `\n`).Replace(s)
}
