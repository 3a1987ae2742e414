package timeline

import "testing"

func TestEscapeTerminal(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            "plain",
		"a\x1b[31mred":     `a\x1b[31mred`,
		"tab\there\n":      `tab\there\n`,
		"back\\slash":      `back\\slash`,
		"bad\xffutf8":      `bad\xffutf8`,
		"rtl\u202egnp.exe": `rtl\u{202E}gnp.exe`,
		"grüße":            "grüße",
		"\x7f":             `\x7f`,
	} {
		if got := EscapeTerminal(in); got != want {
			t.Errorf("EscapeTerminal(%q) = %q, want %q", in, got, want)
		}
	}
}
