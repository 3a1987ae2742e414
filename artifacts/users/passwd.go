package users

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coldcase-dfir/coldcase/timeline"
)

// maxLine bounds one line of a configuration file; longer lines are skipped
// with a warning rather than kept.
const maxLine = 64 << 10

// LineError is a line of a colon-separated account file that could not be
// read as a record.
type LineError struct {
	Line int64  `json:"line"`
	Msg  string `json:"message"`
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// lines calls fn for each non-blank, non-comment line with its 1-based
// number; over-long lines become LineErrors. A trailing "\r" is dropped.
func lines(data []byte, fn func(n int64, line string), errs *[]LineError) {
	var n int64
	for len(data) > 0 {
		n++
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			l, data = data, nil
		}
		if len(l) > maxLine {
			*errs = append(*errs, LineError{n, fmt.Sprintf("line of %d bytes skipped", len(l))})
			continue
		}
		l = bytes.TrimSuffix(l, []byte{'\r'})
		if t := bytes.TrimSpace(l); len(t) == 0 || t[0] == '#' {
			continue
		}
		fn(n, string(l))
	}
}

// fields calls fn with the colon-separated fields of each line (as lines
// passes them) that has exactly want of them; a line with another count is
// reported and skipped.
func fields(data []byte, want int, fn func(n int64, f []string), errs *[]LineError) {
	lines(data, func(n int64, l string) {
		f := strings.Split(l, ":")
		if len(f) != want {
			*errs = append(*errs, LineError{n, fmt.Sprintf("%d fields, want %d", len(f), want)})
			return
		}
		fn(n, f)
	}, errs)
}

// PasswdEntry is one line of /etc/passwd.
type PasswdEntry struct {
	Name     string `json:"name"`
	Password string `json:"password"` // usually "x": the hash is in shadow
	UID      uint32 `json:"uid"`
	GID      uint32 `json:"gid"`
	GECOS    string `json:"gecos"`
	Home     string `json:"home"`
	Shell    string `json:"shell"`
	Line     int64  `json:"line"`
}

// ParsePasswd reads /etc/passwd. NIS "+"/"-" lines are skipped. A line with
// a bad field is reported and skipped; the rest of the file is still read.
func ParsePasswd(data []byte) ([]PasswdEntry, []LineError) {
	var out []PasswdEntry
	var errs []LineError
	fields(data, 7, func(n int64, f []string) {
		if f[0] == "" || f[0][0] == '+' || f[0][0] == '-' {
			return
		}
		uid, err1 := parseID(f[2])
		gid, err2 := parseID(f[3])
		if err1 != nil || err2 != nil {
			errs = append(errs, LineError{n, fmt.Sprintf("bad uid %q or gid %q", f[2], f[3])})
			return
		}
		out = append(out, PasswdEntry{Name: f[0], Password: f[1], UID: uid, GID: gid, GECOS: f[4], Home: f[5], Shell: f[6], Line: n})
	}, &errs)
	return out, errs
}

func parseID(s string) (uint32, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	return uint32(v), err
}

// Hash types as named in ShadowEntry.HashType.
const (
	HashYescrypt = "yescrypt" // $y$
	HashGostYes  = "gost-yescrypt"
	HashScrypt   = "scrypt" // $7$
	HashSHA512   = "sha512" // $6$
	HashSHA256   = "sha256" // $5$
	HashBcrypt   = "bcrypt" // $2a$, $2b$, $2y$
	HashMD5      = "md5"    // $1$
	HashSunMD5   = "sun-md5"
	HashDES      = "des"     // 13 characters, no $
	HashBSDi     = "bsdi"    // _ + 19 characters
	HashLocked   = "locked"  // "*", "!", "!!" and nothing else: no password can log in
	HashEmpty    = "empty"   // empty field: login without a password
	HashUnknown  = "unknown" // anything else
)

// ShadowEntry is one line of /etc/shadow. Day counts are kept as written
// (nil when the field is empty); LastChange and Expire convert them to
// dates since the epoch.
type ShadowEntry struct {
	Name     string `json:"name"`
	HashType string `json:"hash_type"`
	// Locked is true when the field starts with "!" (passwd -l / usermod -L)
	// or is "*": the hash, if any, is kept but cannot be used.
	Locked bool `json:"locked"`
	// Params are the hash's parameters between id and salt
	// ("rounds=5000", yescrypt's "j9T").
	Params string `json:"params,omitempty"`
	Salt   string `json:"salt,omitempty"`
	Hash   string `json:"hash,omitempty"`
	// Field is the password field exactly as written.
	Field          string `json:"field"`
	LastChangeDays *int64 `json:"last_change_days,omitempty"`
	LastChange     string `json:"last_change,omitempty"` // YYYY-MM-DD (UTC), from LastChangeDays; "" when 0 (change forced at next login)
	MinDays        *int64 `json:"min_days,omitempty"`
	MaxDays        *int64 `json:"max_days,omitempty"`
	WarnDays       *int64 `json:"warn_days,omitempty"`
	InactiveDays   *int64 `json:"inactive_days,omitempty"`
	ExpireDays     *int64 `json:"expire_days,omitempty"`
	Expire         string `json:"expire,omitempty"` // YYYY-MM-DD
	Line           int64  `json:"line"`
}

// LastChangeTime is the day of the last password change, or false when
// unknown.
func (s ShadowEntry) LastChangeTime() (time.Time, bool) {
	if s.LastChangeDays == nil || *s.LastChangeDays <= 0 {
		return time.Time{}, false
	}
	return dayToTime(*s.LastChangeDays), true
}

// Days beyond this are not dates (99999 is "never"): they stay numbers.
const maxDay = 2932896 // 9999-12-31

func dayToTime(d int64) time.Time { return time.Unix(d*86400, 0).UTC() }

func dayString(d *int64) string {
	if d == nil || *d <= 0 || *d > maxDay {
		return ""
	}
	return dayToTime(*d).Format("2006-01-02")
}

// ParseShadow reads /etc/shadow.
func ParseShadow(data []byte) ([]ShadowEntry, []LineError) {
	var out []ShadowEntry
	var errs []LineError
	lines(data, func(n int64, l string) {
		f := strings.Split(l, ":")
		if len(f) < 2 || len(f) > 9 {
			errs = append(errs, LineError{n, fmt.Sprintf("%d fields, want 9", len(f))})
			return
		}
		for len(f) < 9 {
			f = append(f, "")
		}
		e := ShadowEntry{Name: f[0], Field: f[1], Line: n}
		classifyHash(&e)
		days := []**int64{&e.LastChangeDays, &e.MinDays, &e.MaxDays, &e.WarnDays, &e.InactiveDays, &e.ExpireDays}
		for i, p := range days {
			s := strings.TrimSpace(f[2+i])
			if s == "" {
				continue
			}
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				errs = append(errs, LineError{n, fmt.Sprintf("field %d: %q is not a day count", 3+i, s)})
				continue
			}
			*p = &v
		}
		e.LastChange = dayString(e.LastChangeDays)
		e.Expire = dayString(e.ExpireDays)
		out = append(out, e)
	}, &errs)
	return out, errs
}

func classifyHash(e *ShadowEntry) {
	p := e.Field
	for strings.HasPrefix(p, "!") {
		e.Locked = true
		p = p[1:]
	}
	switch {
	case e.Field == "":
		e.HashType = HashEmpty
		return
	case p == "" || p == "*" || p == "x" || strings.HasPrefix(p, "*"):
		e.HashType, e.Locked = HashLocked, true
		return
	}
	if strings.HasPrefix(p, "$") {
		parts := strings.Split(p[1:], "$")
		id := parts[0]
		rest := parts[1:]
		e.HashType = map[string]string{
			"y": HashYescrypt, "gy": HashGostYes, "7": HashScrypt, "6": HashSHA512, "5": HashSHA256,
			"2a": HashBcrypt, "2b": HashBcrypt, "2y": HashBcrypt, "2x": HashBcrypt, "1": HashMD5, "md5": HashSunMD5,
		}[id]
		if e.HashType == "" {
			e.HashType = HashUnknown
		}
		switch {
		case e.HashType == HashBcrypt && len(rest) == 2 && len(rest[1]) == 53:
			// $2b$cost$<22 salt><31 hash>
			e.Params, e.Salt, e.Hash = rest[0], rest[1][:22], rest[1][22:]
		case e.HashType == HashYescrypt || e.HashType == HashGostYes || e.HashType == HashScrypt:
			if len(rest) == 3 {
				e.Params, e.Salt, e.Hash = rest[0], rest[1], rest[2]
			}
		case len(rest) == 3 && strings.HasPrefix(rest[0], "rounds="):
			e.Params, e.Salt, e.Hash = rest[0], rest[1], rest[2]
		case len(rest) == 2:
			e.Salt, e.Hash = rest[0], rest[1]
		}
		return
	}
	switch {
	case len(p) == 13:
		e.HashType, e.Salt, e.Hash = HashDES, p[:2], p[2:]
	case len(p) == 20 && p[0] == '_':
		e.HashType, e.Params, e.Salt, e.Hash = HashBSDi, p[1:5], p[5:9], p[9:]
	default:
		e.HashType = HashUnknown
	}
}

// GroupEntry is one line of /etc/group, with the matching line of
// /etc/gshadow when there is one.
type GroupEntry struct {
	Name     string   `json:"name"`
	Password string   `json:"password"`
	GID      uint32   `json:"gid"`
	Members  []string `json:"members"`
	Line     int64    `json:"line"`
	// From /etc/gshadow.
	Admins         []string `json:"admins,omitempty"`
	ShadowMembers  []string `json:"shadow_members,omitempty"`
	ShadowPassword string   `json:"shadow_password,omitempty"`
	// Evidence is the /etc/group line (set by Extract).
	Evidence timeline.Evidence `json:"evidence"`
}

func splitList(s string) []string {
	out := []string{}
	for _, m := range strings.Split(s, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// ParseGroup reads /etc/group.
func ParseGroup(data []byte) ([]GroupEntry, []LineError) {
	var out []GroupEntry
	var errs []LineError
	fields(data, 4, func(n int64, f []string) {
		if f[0] == "" || f[0][0] == '+' || f[0][0] == '-' {
			return
		}
		gid, err := parseID(f[2])
		if err != nil {
			errs = append(errs, LineError{n, fmt.Sprintf("bad gid %q", f[2])})
			return
		}
		out = append(out, GroupEntry{Name: f[0], Password: f[1], GID: gid, Members: splitList(f[3]), Line: n})
	}, &errs)
	return out, errs
}

// GshadowEntry is one line of /etc/gshadow.
type GshadowEntry struct {
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Admins   []string `json:"admins"`
	Members  []string `json:"members"`
	Line     int64    `json:"line"`
}

// ParseGshadow reads /etc/gshadow.
func ParseGshadow(data []byte) ([]GshadowEntry, []LineError) {
	var out []GshadowEntry
	var errs []LineError
	fields(data, 4, func(n int64, f []string) {
		out = append(out, GshadowEntry{Name: f[0], Password: f[1], Admins: splitList(f[2]), Members: splitList(f[3]), Line: n})
	}, &errs)
	return out, errs
}
