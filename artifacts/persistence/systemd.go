package persistence

import (
	"strings"
)

// Unit is a parsed systemd unit file or drop-in (systemd.syntax(7)):
// sections of directives, each directive with every value it was given in
// order (ExecStart may repeat; an empty assignment resets the list, which
// is kept as an empty string so nothing is hidden).
type Unit struct {
	Sections map[string]map[string][]string `json:"sections"`
}

// Get returns the last value of a directive, or "".
func (u *Unit) Get(section, key string) string {
	v := u.Sections[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// All returns every non-empty value of a directive.
func (u *Unit) All(section, key string) []string {
	var out []string
	for _, v := range u.Sections[section][key] {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// maxDirectives bounds a hostile unit file.
const maxDirectives = 10000

// ParseUnit reads a unit file. Lines continued with a trailing backslash
// are joined with a space, as systemd does; comments start with # or ;.
func ParseUnit(data []byte) (*Unit, []LineError) {
	u := &Unit{Sections: map[string]map[string][]string{}}
	var errs []LineError
	section := ""
	var cont strings.Builder
	count := 0
	eachLine(data, func(n int64, l string) {
		if cont.Len() > 0 {
			t := strings.TrimSpace(l)
			if strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
				return // comments inside continuations are dropped
			}
			l = cont.String() + " " + t
			cont.Reset()
		}
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' || t[0] == ';' {
			return
		}
		if strings.HasSuffix(t, `\`) && len(t) < maxLine {
			cont.WriteString(strings.TrimSuffix(t, `\`))
			return
		}
		if t[0] == '[' {
			if !strings.HasSuffix(t, "]") {
				errs = append(errs, LineError{n, "unterminated section header"})
				return
			}
			section = t[1 : len(t)-1]
			return
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			errs = append(errs, LineError{n, "not key=value"})
			return
		}
		if section == "" {
			errs = append(errs, LineError{n, "directive outside a section"})
		}
		if count >= maxDirectives {
			return
		}
		count++
		m := u.Sections[section]
		if m == nil {
			m = map[string][]string{}
			u.Sections[section] = m
		}
		k = strings.TrimSpace(k)
		m[k] = append(m[k], strings.TrimSpace(v))
	}, &errs)
	return u, errs
}

// ExecPath is the program an Exec*= line runs: the first word after the
// special prefixes ("-", "@", "+", "!", "!!", ":").
func ExecPath(cmd string) string {
	c := strings.TrimLeft(strings.TrimSpace(cmd), "-@+!:|")
	f := strings.Fields(c)
	if len(f) == 0 {
		return ""
	}
	return strings.Trim(f[0], `"'`)
}
