package timeline

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// EscapeTerminal makes a string from evidence safe to print on a terminal:
// control characters (escape sequences included), invalid UTF-8 and
// bidirectional overrides become \xNN or \u{NNNN}, and a backslash becomes
// "\\" so the result reads back unambiguously.
func EscapeTerminal(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteString(`\x`)
			b.WriteByte("0123456789abcdef"[s[i]>>4])
			b.WriteByte("0123456789abcdef"[s[i]&15])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		case unicode.Is(unicode.Bidi_Control, r) || unicode.IsControl(r) || r == 0x2028 || r == 0x2029:
			b.WriteString(`\u{`)
			b.WriteString(strings.ToUpper(strconvHex(uint32(r))))
			b.WriteString(`}`)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func strconvHex(v uint32) string {
	const digits = "0123456789abcdef"
	if v == 0 {
		return "0"
	}
	var buf [8]byte
	i := len(buf)
	for v > 0 {
		i--
		buf[i] = digits[v&15]
		v >>= 4
	}
	return string(buf[i:])
}
