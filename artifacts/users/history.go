package users

import (
	"bufio"
	"bytes"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Time kinds of a HistoryEntry.
const (
	// TimeRecorded: the shell wrote the time (bash HISTTIMEFORMAT "#epoch"
	// lines, zsh EXTENDED_HISTORY, fish "when:").
	TimeRecorded = "recorded"
	// TimeBefore: the shell wrote no time; Time is an upper bound — the
	// next recorded time in the file, or the file's modification time.
	TimeBefore = "before"
)

// HistoryEntry is one command of a shell history.
type HistoryEntry struct {
	Line int64 `json:"line"` // first line of the command in the file
	// Time is when the command was started (TimeKind "recorded") or a time
	// it ran before (TimeKind "before"); nil when neither is known.
	Time     *time.Time `json:"time,omitempty"`
	TimeKind string     `json:"time_kind"`
	// Command as written; a multi-line command keeps its "\n".
	Command string   `json:"command"`
	Elapsed *int64   `json:"elapsed,omitempty"` // zsh: seconds the command ran
	Paths   []string `json:"paths,omitempty"`   // fish: paths the command named
}

// maxHistoryEntries bounds the entries kept per history file; more are
// counted and dropped with a warning (histories are usually capped by
// HISTFILESIZE at a few thousand).
const maxHistoryEntries = 200000

// lineReader yields lines of any length from r, cutting ones longer than
// maxLine (their first maxLine bytes are kept and the cut reported).
type lineReader struct {
	br   *bufio.Reader
	n    int64
	long []int64
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10)}
}

func (lr *lineReader) next() (string, bool) {
	var buf []byte
	cut := false
	for {
		chunk, err := lr.br.ReadSlice('\n')
		if len(buf)+len(chunk) <= maxLine {
			buf = append(buf, chunk...)
		} else {
			if !cut {
				buf = append(buf, chunk[:maxLine-len(buf)]...)
			}
			cut = true
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && len(buf) == 0 && !cut {
			return "", false
		}
		lr.n++
		if cut {
			lr.long = append(lr.long, lr.n)
		}
		buf = bytes.TrimSuffix(bytes.TrimSuffix(buf, []byte{'\n'}), []byte{'\r'})
		return string(buf), true
	}
}

func (lr *lineReader) errors() []LineError {
	var errs []LineError
	for _, n := range lr.long {
		errs = append(errs, LineError{n, "line longer than 64 KiB cut"})
	}
	return errs
}

var bashStamp = regexp.MustCompile(`^#([0-9]{1,12})$`)

// ParseBashHistory reads a bash (or sh/ash) history. Where HISTTIMEFORMAT
// was set, "#<epoch>" lines give each command's start, and every line up
// to the next stamp belongs to that command (multi-line commands). Lines
// with no stamp are separate commands bounded by the next stamp or, after
// the last one, by mtime (zero when unknown).
func ParseBashHistory(r io.Reader, mtime time.Time) ([]HistoryEntry, []LineError) {
	lr := newLineReader(r)
	var out []HistoryEntry
	var errs []LineError
	var cur *HistoryEntry // the stamped entry being continued
	dropped := 0
	add := func(e HistoryEntry) *HistoryEntry {
		if len(out) >= maxHistoryEntries {
			dropped++
			return nil
		}
		out = append(out, e)
		return &out[len(out)-1]
	}
	for {
		l, ok := lr.next()
		if !ok {
			break
		}
		if m := bashStamp.FindStringSubmatch(l); m != nil {
			sec, _ := strconv.ParseInt(m[1], 10, 64)
			t := time.Unix(sec, 0).UTC()
			cur = add(HistoryEntry{Line: lr.n + 1, Time: &t, TimeKind: TimeRecorded})
			if cur != nil {
				cur.Line = lr.n + 1
			}
			continue
		}
		if cur != nil {
			if cur.Command == "" && cur.Line == lr.n {
				cur.Command = l
			} else {
				cur.Command += "\n" + l
			}
			continue
		}
		if strings.TrimSpace(l) == "" {
			continue
		}
		add(HistoryEntry{Line: lr.n, TimeKind: TimeBefore, Command: l})
	}
	return endHistory(out, errs, lr, dropped, mtime)
}

// endHistory finishes a history parser's result: untimed entries get their
// bound (boundUntimed), and the reader's errors and the count of commands
// dropped past maxHistoryEntries are added to errs.
func endHistory(out []HistoryEntry, errs []LineError, lr *lineReader, dropped int, mtime time.Time) ([]HistoryEntry, []LineError) {
	boundUntimed(out, mtime)
	errs = append(errs, lr.errors()...)
	if dropped > 0 {
		errs = append(errs, LineError{lr.n, strconv.Itoa(dropped) + " commands beyond the first " + strconv.Itoa(maxHistoryEntries) + " dropped"})
	}
	return out, errs
}

// boundUntimed gives each untimed entry the earliest of the recorded times
// after it and mtime: it ran before all of them.
func boundUntimed(es []HistoryEntry, mtime time.Time) {
	var next *time.Time
	if !mtime.IsZero() {
		m := mtime.UTC()
		next = &m
	}
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].TimeKind == TimeRecorded {
			if t := es[i].Time; t != nil && (next == nil || t.Before(*next)) {
				next = t
			}
			continue
		}
		es[i].Time = next
	}
}

var zshStamp = regexp.MustCompile(`^: ?([0-9]{1,12}):([0-9]{1,12});`)

// ParseZshHistory reads a zsh history, with EXTENDED_HISTORY stamps
// (": <start>:<elapsed>;<command>") or without. zsh writes a newline
// inside a command as "\" + newline; such lines are joined with "\n" and
// the escaping backslash removed. Meta-encoded bytes (0x83 x) are decoded.
func ParseZshHistory(r io.Reader, mtime time.Time) ([]HistoryEntry, []LineError) {
	lr := newLineReader(r)
	var out []HistoryEntry
	var errs []LineError
	cont := false
	dropped := 0
	for {
		l, ok := lr.next()
		if !ok {
			break
		}
		l = unmetafy(l)
		more := strings.HasSuffix(l, `\`)
		if more {
			l = l[:len(l)-1]
		}
		switch {
		case cont && len(out) > 0:
			out[len(out)-1].Command += "\n" + l
		case len(out) >= maxHistoryEntries:
			dropped++
		default:
			if m := zshStamp.FindStringSubmatch(l); m != nil {
				sec, _ := strconv.ParseInt(m[1], 10, 64)
				el, _ := strconv.ParseInt(m[2], 10, 64)
				t := time.Unix(sec, 0).UTC()
				out = append(out, HistoryEntry{Line: lr.n, Time: &t, TimeKind: TimeRecorded, Command: l[len(m[0]):], Elapsed: &el})
			} else if strings.TrimSpace(l) != "" || more {
				out = append(out, HistoryEntry{Line: lr.n, TimeKind: TimeBefore, Command: l})
			} else {
				more = false
			}
		}
		cont = more
	}
	return endHistory(out, errs, lr, dropped, mtime)
}

func unmetafy(s string) string {
	if strings.IndexByte(s, 0x83) < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == 0x83 && i+1 < len(s) {
			i++
			b = append(b, s[i]^32)
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// ParseFishHistory reads fish's history file (a YAML subset:
// "- cmd: …", "  when: <epoch>", "  paths:" then "    - path").
func ParseFishHistory(r io.Reader, mtime time.Time) ([]HistoryEntry, []LineError) {
	lr := newLineReader(r)
	var out []HistoryEntry
	var errs []LineError
	inPaths := false
	dropped := 0
	for {
		l, ok := lr.next()
		if !ok {
			break
		}
		switch {
		case strings.HasPrefix(l, "- cmd:"):
			inPaths = false
			if len(out) >= maxHistoryEntries {
				dropped++
				continue
			}
			out = append(out, HistoryEntry{Line: lr.n, TimeKind: TimeBefore, Command: fishUnescape(strings.TrimPrefix(strings.TrimPrefix(l, "- cmd:"), " "))})
		case len(out) == 0 || dropped > 0:
		case strings.HasPrefix(l, "  when:"):
			inPaths = false
			if sec, err := strconv.ParseInt(strings.TrimSpace(l[len("  when:"):]), 10, 64); err == nil && sec >= 0 && sec < 1<<40 {
				t := time.Unix(sec, 0).UTC()
				out[len(out)-1].Time, out[len(out)-1].TimeKind = &t, TimeRecorded
			} else {
				errs = append(errs, LineError{lr.n, "bad when: value"})
			}
		case strings.HasPrefix(l, "  paths:"):
			inPaths = true
		case inPaths && strings.HasPrefix(l, "    - "):
			if e := &out[len(out)-1]; len(e.Paths) < 1000 {
				e.Paths = append(e.Paths, fishUnescape(l[len("    - "):]))
			}
		}
	}
	return endHistory(out, errs, lr, dropped, mtime)
}

// fishUnescape undoes fish's escaping of "\n" and "\\" in history values.
func fishUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			case '\\':
				b.WriteByte('\\')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// LessEntry is one item of a .lesshst: a search pattern or a shell
// command run from less.
type LessEntry struct {
	Line  int64  `json:"line"`
	Kind  string `json:"kind"` // "search", "shell", "mark"
	Value string `json:"value"`
}

// ParseLesshst reads less's history file.
func ParseLesshst(data []byte) []LessEntry {
	var out []LessEntry
	var errs []LineError
	kind := ""
	lines(data, func(n int64, l string) {
		switch {
		case l == ".search":
			kind = "search"
		case l == ".shell":
			kind = "shell"
		case l == ".mark":
			kind = "mark"
		case strings.HasPrefix(l, "."):
			kind = ""
		case kind == "search" || kind == "shell":
			if strings.HasPrefix(l, `"`) {
				out = append(out, LessEntry{n, kind, l[1:]})
			}
		case kind == "mark":
			out = append(out, LessEntry{n, kind, l})
		}
	}, &errs)
	return out
}

// ViminfoEntry is a file, command or search remembered by vim.
type ViminfoEntry struct {
	Line  int64      `json:"line"`
	Kind  string     `json:"kind"` // "file" (marks history "> path"), "mark" ('0–'9, jumplist), "command", "search"
	Value string     `json:"value"`
	Time  *time.Time `json:"time,omitempty"` // when vim recorded it, if it did (vim 8+)
}

// ParseViminfo reads the parts of a .viminfo that tell what was edited or
// run: files with their last-use time, numbered marks, command-line and
// search history.
func ParseViminfo(data []byte) []ViminfoEntry {
	var out []ViminfoEntry
	section := ""
	var n int64
	for _, l := range strings.Split(string(data), "\n") {
		n++
		if len(l) > maxLine {
			continue
		}
		l = strings.TrimRight(l, "\r")
		last := len(out) - 1
		switch {
		case strings.HasPrefix(l, "# "):
			h := strings.ToLower(l)
			switch {
			case strings.HasPrefix(h, "# command line history"):
				section = "command"
			case strings.HasPrefix(h, "# search string history"):
				section = "search"
			case strings.HasPrefix(h, "# file marks"), strings.HasPrefix(h, "# jumplist"):
				section = "mark"
			case strings.HasPrefix(h, "# history of marks within files"):
				section = "file"
			default:
				section = ""
			}
		case section == "file" && strings.HasPrefix(l, "> "):
			out = append(out, ViminfoEntry{Line: n, Kind: "file", Value: l[2:]})
		case section == "file" && strings.HasPrefix(l, "\t*\t") && last >= 0 && out[last].Kind == "file":
			f := strings.Fields(l[3:])
			if len(f) > 0 {
				out[last].Time = epoch(f[0])
			}
		case section == "command" && strings.HasPrefix(l, ":"),
			section == "search" && (strings.HasPrefix(l, "?") || strings.HasPrefix(l, "/")):
			out = append(out, ViminfoEntry{Line: n, Kind: section, Value: l[1:]})
		case section == "mark" && (strings.HasPrefix(l, "'") || strings.HasPrefix(l, "-'")):
			f := strings.SplitN(strings.TrimSpace(l), "  ", 4)
			if len(f) == 4 {
				out = append(out, ViminfoEntry{Line: n, Kind: "mark", Value: strings.TrimSpace(f[3])})
			}
		case strings.HasPrefix(l, "|") && last >= 0 && out[last].Time == nil && out[last].Line == n-1:
			// "|2,0,<time>,…" (history) or "|4,<mark>,<line>,<col>,<time>,…" (marks).
			f := strings.Split(l, ",")
			switch {
			case strings.HasPrefix(l, "|2,") && len(f) > 2:
				out[last].Time = epoch(f[2])
			case strings.HasPrefix(l, "|4,") && len(f) > 4:
				out[last].Time = epoch(f[4])
			}
		}
	}
	return out
}

func epoch(s string) *time.Time {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || v <= 0 || v > 1<<40 {
		return nil
	}
	t := time.Unix(v, 0).UTC()
	return &t
}
