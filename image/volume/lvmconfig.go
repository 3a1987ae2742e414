package volume

import (
	"fmt"
	"strconv"
	"strings"
)

// LVM's metadata is text in its config syntax:
//
//	vg0 {                    # a section
//	    seqno = 3            # key = value
//	    status = ["READ", "WRITE"]
//	    physical_volumes { pv0 { id = "…" pe_start = 2048 } }
//	}
//
// Values are integers, floats, double-quoted strings (backslash escapes)
// and flat arrays of those. The parser is bounded in nesting depth and
// total item count so hostile text cannot exhaust the stack or memory
// beyond a small multiple of its own (capped) size.

const (
	maxCfgDepth = 32
	maxCfgItems = 1 << 18 // real VGs with 1000 LVs use ~30000
)

type cfgKind uint8

const (
	cfgString cfgKind = iota + 1
	cfgInt
	cfgFloat
	cfgArray
	cfgSection
)

// cfgValue is one value; a section holds ordered fields.
type cfgValue struct {
	kind   cfgKind
	s      string // string, or float text
	n      int64
	list   []cfgValue
	fields []cfgField
}

type cfgField struct {
	key string
	off int // byte offset of the key in the text, for errors
	v   cfgValue
}

func (v *cfgValue) get(key string) *cfgValue {
	if v == nil || v.kind != cfgSection {
		return nil
	}
	for i := range v.fields {
		if v.fields[i].key == key {
			return &v.fields[i].v
		}
	}
	return nil
}

func (v *cfgValue) str(key string) (string, bool) {
	x := v.get(key)
	if x == nil || x.kind != cfgString {
		return "", false
	}
	return x.s, true
}

func (v *cfgValue) int(key string) (int64, bool) {
	x := v.get(key)
	if x == nil || x.kind != cfgInt {
		return 0, false
	}
	return x.n, true
}

// strings returns the string elements of an array value.
func (v *cfgValue) strings(key string) []string {
	x := v.get(key)
	if x == nil || x.kind != cfgArray {
		return nil
	}
	var out []string
	for _, e := range x.list {
		if e.kind == cfgString {
			out = append(out, e.s)
		}
	}
	return out
}

type cfgParser struct {
	src   []byte
	pos   int
	items int
}

// parseLVMConfig parses a whole metadata text into a root section.
func parseLVMConfig(src []byte) (*cfgValue, error) {
	p := &cfgParser{src: src}
	root, err := p.section(0, true)
	if err != nil {
		return nil, err
	}
	return &root, nil
}

func (p *cfgParser) errf(format string, a ...any) error {
	return fmt.Errorf("lvm metadata: at byte %d: %s", p.pos, fmt.Sprintf(format, a...))
}

// skip passes white space and # comments.
func (p *cfgParser) skip() {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func isCfgIdentChar(c byte) bool {
	return isLVMNameChar(c) || c == '/' || c == '@' || c == ':'
}

func (p *cfgParser) ident() string {
	start := p.pos
	for p.pos < len(p.src) && isCfgIdentChar(p.src[p.pos]) {
		p.pos++
	}
	return string(p.src[start:p.pos])
}

// section parses "key = value" and "name { … }" items until "}" (or the
// end of the text at the top level).
func (p *cfgParser) section(depth int, top bool) (cfgValue, error) {
	if depth > maxCfgDepth {
		return cfgValue{}, p.errf("sections nested deeper than %d", maxCfgDepth)
	}
	v := cfgValue{kind: cfgSection}
	for {
		p.skip()
		if p.pos >= len(p.src) {
			if top {
				return v, nil
			}
			return v, p.errf("unexpected end of text inside a section")
		}
		if p.src[p.pos] == '}' {
			if top {
				return v, p.errf("unbalanced '}'")
			}
			p.pos++
			return v, nil
		}
		if p.items++; p.items > maxCfgItems {
			return v, p.errf("more than %d items", maxCfgItems)
		}
		off := p.pos
		key := p.ident()
		if key == "" {
			return v, p.errf("expected a name, found %q", p.src[p.pos])
		}
		p.skip()
		if p.pos >= len(p.src) {
			return v, p.errf("unexpected end of text after %q", key)
		}
		switch p.src[p.pos] {
		case '{':
			p.pos++
			sub, err := p.section(depth+1, false)
			if err != nil {
				return v, err
			}
			v.fields = append(v.fields, cfgField{key, off, sub})
		case '=':
			p.pos++
			p.skip()
			val, err := p.value(true)
			if err != nil {
				return v, err
			}
			v.fields = append(v.fields, cfgField{key, off, val})
		default:
			return v, p.errf("expected '=' or '{' after %q", key)
		}
	}
}

// value parses a scalar, or an array when allowArray.
func (p *cfgParser) value(allowArray bool) (cfgValue, error) {
	if p.pos >= len(p.src) {
		return cfgValue{}, p.errf("unexpected end of text, expected a value")
	}
	c := p.src[p.pos]
	switch {
	case c == '"':
		return p.str()
	case c == '[' && allowArray:
		p.pos++
		v := cfgValue{kind: cfgArray}
		for {
			p.skip()
			if p.pos >= len(p.src) {
				return v, p.errf("unexpected end of text inside an array")
			}
			if p.src[p.pos] == ']' {
				p.pos++
				return v, nil
			}
			if len(v.list) > 0 {
				if p.src[p.pos] != ',' {
					return v, p.errf("expected ',' or ']' in an array")
				}
				p.pos++
				p.skip()
			}
			if p.items++; p.items > maxCfgItems {
				return v, p.errf("more than %d items", maxCfgItems)
			}
			e, err := p.value(false)
			if err != nil {
				return v, err
			}
			v.list = append(v.list, e)
		}
	case c == '-' || c == '+' || c >= '0' && c <= '9' || c == '.':
		start := p.pos
		p.pos++
		for p.pos < len(p.src) && (p.src[p.pos] >= '0' && p.src[p.pos] <= '9' || p.src[p.pos] == '.' || p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
			p.pos++
		}
		t := string(p.src[start:p.pos])
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return cfgValue{kind: cfgInt, n: n}, nil
		}
		if _, err := strconv.ParseFloat(t, 64); err == nil {
			return cfgValue{kind: cfgFloat, s: t}, nil
		}
		p.pos = start
		return cfgValue{}, p.errf("bad number %q", t)
	}
	return cfgValue{}, p.errf("expected a value, found %q", c)
}

func (p *cfgParser) str() (cfgValue, error) {
	start := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '"':
			p.pos++
			return cfgValue{kind: cfgString, s: b.String()}, nil
		case '\\':
			if p.pos+1 >= len(p.src) {
				p.pos = start
				return cfgValue{}, p.errf("unterminated string")
			}
			b.WriteByte(p.src[p.pos+1])
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	p.pos = start
	return cfgValue{}, p.errf("unterminated string")
}
