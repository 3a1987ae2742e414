package audit

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Field is one key=value of a record, with its quotes removed. Value is as
// logged: hex-encoded values stay encoded (see Decode).
type Field struct {
	Key, Value string
	// Quoted reports that the value was in double quotes, which auditd
	// uses for strings it did not need to hex-encode.
	Quoted bool
}

// Record is one line of audit.log.
type Record struct {
	Node   string    // "node=" prefix, when auditd logs the host name
	Type   string    // SYSCALL, EXECVE, USER_LOGIN, …
	Time   time.Time // UTC, millisecond precision
	Serial uint64
	// Body is the text after "): " without the enriched part.
	Body string
	// Fields are the key=value pairs of Body in order; the pairs inside a
	// msg='…' of user-space records are flattened in.
	Fields []Field
	// Enriched are the interpreted fields auditd appends after a 0x1d byte
	// in its ENRICHED log format (UID="root", SYSCALL=execve, …).
	Enriched []Field
}

// Get returns the first field named key.
func (r *Record) Get(key string) (string, bool) {
	for _, f := range r.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// GetEnriched returns an enriched field (ENRICHED format only).
func (r *Record) GetEnriched(key string) (string, bool) {
	for _, f := range r.Enriched {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// maxFields bounds the fields kept per record.
const maxFields = 512

var errNotAudit = errors.New("not an audit record")

// ParseRecord parses one audit.log line:
// "[node=H ]type=T msg=audit(SECS.MS:SERIAL): k=v … [0x1d K=V …]".
func ParseRecord(line []byte) (Record, error) {
	var r Record
	b := line
	if v, rest, ok := bytes.Cut(b, []byte(" ")); ok && bytes.HasPrefix(v, []byte("node=")) {
		r.Node = string(v[len("node="):])
		b = rest
	}
	if !bytes.HasPrefix(b, []byte("type=")) {
		return r, errNotAudit
	}
	t, rest, ok := bytes.Cut(b[len("type="):], []byte(" "))
	if !ok || len(t) == 0 || len(t) > 64 {
		return r, fmt.Errorf("record type: %w", errNotAudit)
	}
	r.Type = string(t)
	rest, ok = bytes.CutPrefix(rest, []byte("msg=audit("))
	if !ok {
		return r, fmt.Errorf("no msg=audit(…): %w", errNotAudit)
	}
	end := bytes.IndexByte(rest, ')')
	if end < 0 || end > 48 {
		return r, fmt.Errorf("msg=audit(…) not closed: %w", errNotAudit)
	}
	stamp := rest[:end]
	rest = rest[end+1:]
	rest = bytes.TrimPrefix(rest, []byte(":"))
	ts, serial, ok := bytes.Cut(stamp, []byte(":"))
	if !ok {
		return r, fmt.Errorf("stamp %q has no serial", stamp)
	}
	var err error
	if r.Serial, err = strconv.ParseUint(string(serial), 10, 64); err != nil {
		return r, fmt.Errorf("serial %q: %v", serial, err)
	}
	sec, frac, _ := bytes.Cut(ts, []byte("."))
	s, err := strconv.ParseInt(string(sec), 10, 64)
	if err != nil || s < 0 || s > 1<<40 {
		return r, fmt.Errorf("seconds %q: bad value", sec)
	}
	ns := int64(0)
	if len(frac) > 0 {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		f, err := strconv.ParseUint(string(frac), 10, 32)
		if err != nil {
			return r, fmt.Errorf("fraction %q: %v", frac, err)
		}
		ns = int64(f)
		for i := len(frac); i < 9; i++ {
			ns *= 10
		}
	}
	r.Time = time.Unix(s, ns).UTC()
	body, enr, hasEnr := bytes.Cut(rest, []byte{0x1d})
	body = bytes.TrimSpace(body)
	r.Body = string(body)
	r.Fields = appendFields(r.Fields, r.Body, 0)
	if hasEnr {
		r.Enriched = appendFields(nil, string(bytes.TrimSpace(enr)), 1)
	}
	return r, nil
}

// appendFields splits "k=v k2="v 2" msg='k3=v3 …'" into fields; a
// single-quoted msg is descended into once.
func appendFields(fs []Field, s string, depth int) []Field {
	for len(s) > 0 && len(fs) < maxFields {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		eq := strings.IndexByte(s, '=')
		sp := strings.IndexByte(s, ' ')
		if eq < 0 || (sp >= 0 && sp < eq) {
			// A word without "=" (AVC's "avc:  denied  { read } for"): skip it.
			if sp < 0 {
				break
			}
			s = s[sp+1:]
			continue
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		quoted := false
		switch {
		case strings.HasPrefix(s, `"`):
			if j := strings.IndexByte(s[1:], '"'); j >= 0 {
				val, s = s[1:1+j], s[2+j:]
				quoted = true
			} else {
				val, s = s[1:], ""
			}
		case strings.HasPrefix(s, "'"):
			j := strings.IndexByte(s[1:], '\'')
			inner := s[1:]
			if j >= 0 {
				inner, s = s[1:1+j], s[2+j:]
			} else {
				s = ""
			}
			if depth == 0 && key == "msg" {
				fs = appendFields(fs, inner, depth+1)
				continue
			}
			val, quoted = inner, true
		default:
			if sp := strings.IndexByte(s, ' '); sp >= 0 {
				val, s = s[:sp], s[sp+1:]
			} else {
				val, s = s, ""
			}
		}
		fs = append(fs, Field{Key: key, Value: val, Quoted: quoted})
	}
	return fs
}

// Decode returns a field's value with auditd's hex encoding undone: auditd
// writes a string holding a space, quote or control byte as bare uppercase
// hex (cmd=6C73202D6C, a1=2F746D70…, proctitle with NUL-separated argv).
// Quoted values and values that are not hex are returned as they are.
func Decode(f Field) string {
	if f.Quoted || len(f.Value) < 2 || len(f.Value)%2 != 0 || !isUpperHex(f.Value) {
		return f.Value
	}
	b, err := hex.DecodeString(f.Value)
	if err != nil {
		return f.Value
	}
	if f.Key == "proctitle" {
		b = bytes.TrimRight(b, "\x00")
		b = bytes.ReplaceAll(b, []byte{0}, []byte{' '})
	}
	return string(b)
}

func isUpperHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// encodedKeys are the fields auditd may hex-encode; others (SYSCALL's
// a0…a3 registers, arch, inode numbers) are hex numbers, not strings.
var encodedKeys = map[string]bool{
	"cmd": true, "proctitle": true, "name": true, "cwd": true, "exe": true, "comm": true,
	"acct": true, "data": true, "path": true, "key": true, "old": true, "new": true,
	"id": true, "grp": true, "new_group": true, "dir": true, "file": true, "watch": true,
	"ocomm": true, "root_dir": true, "vm": true, "hostname": true, "terminal": true,
}

// Value is the decoded value of the first field named key.
func (r *Record) Value(key string) string {
	for _, f := range r.Fields {
		if f.Key == key {
			if encodedKeys[key] || (r.Type == "EXECVE" && isArgKey(key)) {
				return Decode(f)
			}
			return f.Value
		}
	}
	return ""
}

// isArgKey matches EXECVE's a0, a1, … and a1[0], a1[1], ….
func isArgKey(k string) bool {
	if len(k) < 2 || k[0] != 'a' {
		return false
	}
	i := 1
	for i < len(k) && k[i] >= '0' && k[i] <= '9' {
		i++
	}
	if i == 1 {
		return false
	}
	if i == len(k) {
		return true
	}
	if k[i] != '[' || k[len(k)-1] != ']' {
		return false
	}
	for _, c := range k[i+1 : len(k)-1] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(k) > i+2
}

// maxArgs and maxArgBytes bound what Args assembles.
const (
	maxArgs     = 4096
	maxArgBytes = 1 << 20
)

// Args decodes an EXECVE record's argv: a0, a1 … and the split form of
// long arguments (a1_len=N a1[0]=… a1[1]=…).
func Args(r *Record) []string {
	var args []string
	total := 0
	idx := -1
	for _, f := range r.Fields {
		if !isArgKey(f.Key) {
			continue
		}
		n, part := argIndex(f.Key)
		if n < 0 || n >= maxArgs {
			continue
		}
		v := Decode(f)
		total += len(v)
		if total > maxArgBytes {
			break
		}
		switch {
		case n == idx && part:
			args[len(args)-1] += v
		case n > idx:
			for len(args) < n { // a missing argument keeps its place
				args = append(args, "")
			}
			args = append(args, v)
			idx = n
		}
	}
	return args
}

func argIndex(k string) (int, bool) {
	i := 1
	for i < len(k) && k[i] >= '0' && k[i] <= '9' {
		i++
	}
	n, err := strconv.Atoi(k[1:i])
	if err != nil {
		return -1, false
	}
	return n, i < len(k)
}
