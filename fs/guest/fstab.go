package guest

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// FstabEntry is one line of the guest's /etc/fstab.
type FstabEntry struct {
	Line    int    `json:"line"`
	Spec    string `json:"spec"` // UUID=…, LABEL=…, /dev/…
	Point   string `json:"mount_point"`
	Type    string `json:"type"`
	Options string `json:"options"`
}

// ParseFstab reads fstab text. Lines are bounded by the caller (the file
// is read with a size cap); fields use fstab's octal escapes (\040).
func ParseFstab(b []byte) []FstabEntry {
	var out []FstabEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		e := FstabEntry{Line: n, Spec: unescapeOctal(f[0]), Point: unescapeOctal(f[1])}
		if len(f) > 2 {
			e.Type = f[2]
		}
		if len(f) > 3 {
			e.Options = f[3]
		}
		out = append(out, e)
		if len(out) >= 4096 {
			break
		}
	}
	return out
}

func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
