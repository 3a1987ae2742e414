package utmp

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net/netip"
	"strconv"
	"strings"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/timeline"
)

func init() {
	artifacts.Register(artifacts.Extractor{Name: "utmp", Order: 20, Run: Run})
}

// FileSummary tells what was read from one accounting file.
type FileSummary struct {
	Path     string `json:"path"`
	Source   string `json:"source"` // wtmp, btmp, utmp, lastlog
	Layout   string `json:"layout"`
	Records  int    `json:"records"` // valid records, empty ones included
	Events   int    `json:"events"`
	Corrupt  int    `json:"corrupt_records,omitempty"`
	Trailing int    `json:"trailing_bytes,omitempty"` // partial record at the end
	Error    string `json:"error,omitempty"`
}

// Summary is what Run returns: one line per file read.
type Summary struct {
	Files []FileSummary `json:"files"`
}

// Bases are the accounting files Run reads, with their rotations.
var Bases = []struct{ Path, Source string }{
	{"var/log/wtmp", "wtmp"},
	{"var/log/btmp", "btmp"},
	{"var/run/utmp", "utmp"},
	{"run/utmp", "utmp"},
}

// Run reads wtmp, btmp, utmp (with rotations) and lastlog from the guest
// tree and emits their events.
func Run(ctx context.Context, env *artifacts.Env) (any, error) {
	sum := &Summary{}
	seen := map[string]bool{}
	bigEndian := false // byte order of the guest, as its accounting files show it
	for _, b := range Bases {
		for _, p := range artifacts.Rotated(env.FS, b.Path) {
			if err := ctx.Err(); err != nil {
				return sum, err
			}
			// /var/run is usually a link to /run: read the file once.
			if fi, err := iofs.Stat(env.FS, p); err != nil || !fi.Mode().IsRegular() || seen[canonical(env.FS, p)] {
				continue
			}
			seen[canonical(env.FS, p)] = true
			fs := readUtmpFile(ctx, env, p, b.Source)
			if fs.Records > 0 && strings.HasSuffix(fs.Layout, "-be") {
				bigEndian = true
			}
			sum.Files = append(sum.Files, fs)
		}
	}
	if fi, err := iofs.Stat(env.FS, "var/log/lastlog"); err == nil && fi.Mode().IsRegular() {
		sum.Files = append(sum.Files, readLastlogFile(ctx, env, "var/log/lastlog", bigEndian))
	}
	return sum, nil
}

func canonical(fsys iofs.FS, p string) string {
	if strings.HasPrefix(p, "var/run/") {
		if rl, ok := fsys.(iofs.ReadLinkFS); ok {
			if t, err := rl.ReadLink("var/run"); err == nil && strings.Trim(t, "/.") == "run" {
				return strings.TrimPrefix(p, "var/")
			}
		}
	}
	return p
}

func readUtmpFile(ctx context.Context, env *artifacts.Env, p, source string) FileSummary {
	fs := FileSummary{Path: "/" + p, Source: source}
	fw := env.FileWarnings(source, "/"+p)
	defer fw.Flush()
	rc, err := artifacts.OpenLog(env.FS, p)
	if err != nil {
		fs.Error = fw.Fail(err)
		return fs
	}
	defer rc.Close()
	// OpenLog leaves bzip2 (logrotate's compresscmd bzip2) to us.
	br := bufio.NewReader(rc)
	var in io.Reader = br
	if magic, _ := br.Peek(3); string(magic) == "BZh" {
		in = bzip2.NewReader(br)
	}
	r, err := NewStreamReader(in)
	if err != nil {
		fs.Error = fw.Fail(err)
		return fs
	}
	fs.Layout = r.Layout().Name
	evidence := env.Evidence(p)
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			fs.Error = ctx.Err().Error()
			return fs
		}
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		var ce *CorruptRecordError
		if errors.As(err, &ce) {
			fs.Corrupt++
			fw.AtOffset(ce.Offset, ce.Error())
			continue
		}
		if err != nil {
			fs.Error = fw.Fail(err)
			break
		}
		fs.Records++
		ev, ok := RecordEvent(rec, source)
		if !ok {
			continue
		}
		ev.Evidence = evidence
		ev.Evidence.Offset = rec.Offset
		if err := env.Emit(ev); err != nil {
			fs.Error = err.Error()
			return fs
		}
		fs.Events++
	}
	fs.Trailing = r.Trailing()
	return fs
}

// RecordEvent turns a record into its timeline event (without evidence),
// following the conventions of the package documentation. It returns false
// for records that carry no event.
func RecordEvent(rec *Record, source string) (timeline.Event, bool) {
	if rec.Type == Empty || rec.Time.IsZero() {
		return timeline.Event{}, false
	}
	desc := ""
	switch {
	case source == "btmp":
		desc = "Failed login"
	case rec.Type == UserProcess:
		desc = "Login"
	case rec.Type == DeadProcess:
		desc = "Logout"
	case rec.Type == BootTime:
		desc = "Boot"
	case rec.Type == RunLevel && rec.User == "shutdown":
		desc = "Shutdown"
	case rec.Type == RunLevel:
		desc = "Run level"
	case rec.Type == NewTime || rec.Type == OldTime:
		desc = "Clock change"
	case rec.Type == InitProcess:
		desc = "Init process"
	case rec.Type == LoginProcess:
		desc = "Login process"
	default:
		desc = "Accounting"
	}
	ev := timeline.Event{
		Time:          rec.Time,
		TimestampDesc: desc,
		Source:        source,
		User:          rec.User,
		IP:            rec.RemoteIP(),
		Attrs:         make(map[string]string, 5),
	}
	ev.Attrs["tty"] = rec.Line
	ev.Attrs["type"] = rec.Type.String()
	ev.Attrs["pid"] = strconv.Itoa(int(rec.PID))
	if rec.Host != "" {
		ev.Attrs["host"] = rec.Host
	}
	if rec.Session != 0 {
		ev.Attrs["session"] = strconv.FormatInt(rec.Session, 10)
	}
	ev.Message = recordMessage(desc, rec, ev.IP)
	return ev, true
}

func recordMessage(desc string, rec *Record, ip string) string {
	var b strings.Builder
	b.WriteString(desc)
	if rec.User != "" {
		b.WriteString(" " + rec.User)
	}
	switch rec.Type {
	case BootTime, RunLevel:
		if rec.Line != "" && rec.Line != "~" {
			b.WriteString(" (" + rec.Line + ")")
		}
	default:
		if rec.Line != "" {
			b.WriteString(" on " + rec.Line)
		}
		if rec.Host != "" {
			b.WriteString(" from " + rec.Host)
		} else if ip != "" {
			b.WriteString(" from " + ip)
		}
	}
	if rec.PID != 0 {
		b.WriteString(" pid " + strconv.Itoa(int(rec.PID)))
	}
	return b.String()
}

func readLastlogFile(ctx context.Context, env *artifacts.Env, p string, bigEndian bool) FileSummary {
	fs := FileSummary{Path: "/" + p, Source: "lastlog"}
	fw := env.FileWarnings("lastlog", "/"+p)
	defer fw.Flush()
	ra, size, closer, err := artifacts.OpenReaderAt(env.FS, p)
	if err != nil {
		fs.Error = fw.Fail(err)
		return fs
	}
	defer closer.Close()
	lr, err := NewLastlogReader(ra, size)
	if err == nil && bigEndian && !lr.Layout().BigEndian {
		// Without a type field lastlog's byte order is a guess; the wtmp's
		// is not.
		lr, err = NewLastlogReaderLayout(ra, size, LastlogLayout{Size: lr.Layout().Size, BigEndian: true})
	}
	if err != nil {
		fs.Error = fw.Fail(err)
		return fs
	}
	fs.Layout = fmt.Sprintf("lastlog-%d", lr.Layout().Size)
	if lr.Layout().BigEndian {
		fs.Layout += "-be"
	}
	names := passwdNames(env.FS)
	evidence := env.Evidence(p)
	for {
		if ctx.Err() != nil {
			fs.Error = ctx.Err().Error()
			return fs
		}
		e, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fs.Error = err.Error()
			fw.AtOffset(lr.off, err.Error())
			break
		}
		fs.Records++
		if e.Time.IsZero() {
			continue
		}
		ev := LastlogEvent(e, names[e.UID])
		ev.Evidence = evidence
		ev.Evidence.Offset = e.Offset
		if err := env.Emit(ev); err != nil {
			fs.Error = err.Error()
			return fs
		}
		fs.Events++
	}
	return fs
}

// LastlogEvent turns a lastlog entry into its event (without evidence);
// user is the UID's name, or "" to use the UID.
func LastlogEvent(e *LastlogEntry, user string) timeline.Event {
	uid := strconv.FormatUint(uint64(e.UID), 10)
	if user == "" {
		user = uid
	}
	ev := timeline.Event{
		Time:          e.Time,
		TimestampDesc: "Last login",
		Source:        "lastlog",
		User:          user,
		Attrs:         map[string]string{"uid": uid, "tty": e.Line},
	}
	msg := "Last login " + user
	if e.Line != "" {
		msg += " on " + e.Line
	}
	if e.Host != "" {
		ev.Attrs["host"] = e.Host
		msg += " from " + e.Host
		if a, err := netip.ParseAddr(e.Host); err == nil {
			ev.IP = a.Unmap().String()
		}
	}
	ev.Message = msg
	return ev
}

// passwdNames maps UIDs to names from the guest's /etc/passwd; the full
// users extractor lives elsewhere, this only labels lastlog records.
func passwdNames(fsys iofs.FS) map[uint32]string {
	names := map[uint32]string{}
	b, err := artifacts.ReadSmall(fsys, "etc/passwd")
	if err != nil {
		return names
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := strings.Split(string(line), ":")
		if len(f) < 3 || f[0] == "" || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := names[uint32(uid)]; !dup { // first entry wins, as getpwuid
			names[uint32(uid)] = f[0]
		}
	}
	return names
}
