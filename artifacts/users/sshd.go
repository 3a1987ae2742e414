package users

import (
	iofs "io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/coldcase-dfir/coldcase/timeline"
)

// SSHDConfig is the part of /etc/ssh/sshd_config (with its Include files)
// that decides who can log in and with which keys. Values are the ones
// sshd uses: the first given outside Match blocks; Match blocks are kept
// raw.
type SSHDConfig struct {
	File string `json:"file"`
	// Settings: lower-cased keyword → value as written (first wins).
	Settings map[string]string `json:"settings"`
	// AuthorizedKeysFile patterns in effect (default ".ssh/authorized_keys
	// .ssh/authorized_keys2").
	AuthorizedKeysFile []string          `json:"authorized_keys_file"`
	Matches            []string          `json:"matches,omitempty"` // "Match …" lines with their settings
	Files              []string          `json:"files"`             // every file read (Include)
	Evidence           timeline.Evidence `json:"evidence"`
}

var defaultKeyFiles = []string{".ssh/authorized_keys", ".ssh/authorized_keys2"}

// ReadSSHDConfig reads sshd_config and what it includes (Include globs,
// relative to /etc/ssh), at most 64 files.
func ReadSSHDConfig(fsys iofs.FS, warn func(p, msg string)) *SSHDConfig {
	c := &SSHDConfig{File: "/etc/ssh/sshd_config", Settings: map[string]string{}}
	seen := map[string]bool{}
	inMatch := false
	var read func(p string)
	read = func(p string) {
		if seen[p] || len(seen) >= 64 {
			return
		}
		seen[p] = true
		data, err := readSmall(fsys, p)
		if err != nil {
			if !isNotExist(err) {
				warn(p, err.Error())
			}
			return
		}
		c.Files = append(c.Files, p)
		var errs []LineError
		lines(data, func(n int64, l string) {
			t := strings.TrimSpace(l)
			kw, val, _ := strings.Cut(strings.Replace(t, "\t", " ", 1), " ")
			if k, v, ok := strings.Cut(kw, "="); ok { // "Key=value"
				kw, val = k, v+" "+val
			}
			kw, val = strings.ToLower(kw), strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(val), "="))
			switch {
			case kw == "include":
				for _, pat := range strings.Fields(val) {
					if !strings.HasPrefix(pat, "/") {
						pat = "/etc/ssh/" + pat
					}
					dir, glob := path.Split(pat)
					ents, err := iofs.ReadDir(fsys, Rel(dir))
					if err != nil {
						continue
					}
					var names []string
					for _, e := range ents {
						if ok, _ := path.Match(glob, e.Name()); ok && !e.IsDir() {
							names = append(names, path.Join(dir, e.Name()))
						}
					}
					sort.Strings(names)
					for _, n := range names {
						read(n)
					}
				}
			case kw == "match":
				inMatch = true
				if len(c.Matches) < 1000 {
					c.Matches = append(c.Matches, t)
				}
			case inMatch:
				if len(c.Matches) > 0 {
					c.Matches[len(c.Matches)-1] += "\n  " + t
				}
			default:
				if _, set := c.Settings[kw]; !set && len(c.Settings) < 1000 {
					c.Settings[kw] = val
				}
			}
		}, &errs)
		for _, e := range errs {
			warn(p, "line "+strconv.FormatInt(e.Line, 10)+": "+e.Msg)
		}
	}
	read(c.File)
	c.AuthorizedKeysFile = defaultKeyFiles
	if v, ok := c.Settings["authorizedkeysfile"]; ok {
		c.AuthorizedKeysFile = strings.Fields(v)
	}
	return c
}

// KeyFilePaths expands AuthorizedKeysFile patterns for one account
// (sshd_config(5) TOKENS: %% %h %u %U; relative paths are under the home).
func KeyFilePaths(patterns []string, u PasswdEntry) []string {
	var out []string
	for _, p := range patterns {
		if strings.EqualFold(p, "none") {
			continue
		}
		var b strings.Builder
		for i := 0; i < len(p); i++ {
			if p[i] != '%' || i+1 == len(p) {
				b.WriteByte(p[i])
				continue
			}
			i++
			switch p[i] {
			case '%':
				b.WriteByte('%')
			case 'h':
				b.WriteString(u.Home)
			case 'u':
				b.WriteString(u.Name)
			case 'U':
				b.WriteString(strconv.FormatUint(uint64(u.UID), 10))
			default:
				b.WriteByte('%')
				b.WriteByte(p[i])
			}
		}
		s := b.String()
		if !strings.HasPrefix(s, "/") {
			if u.Home == "" {
				continue
			}
			s = path.Join(u.Home, s)
		}
		out = append(out, Abs(s))
	}
	return out
}
