package users

import (
	iofs "io/fs"
	"path"
	"sort"
	"strings"

	"github.com/coldcase-dfir/coldcase/timeline"
)

// SudoRule is one statement of sudoers or a file it includes: a user
// specification ("alice ALL=(ALL:ALL) NOPASSWD: ALL"), an alias, a Defaults
// line or an include directive. Lines continued with "\" are joined.
type SudoRule struct {
	File string `json:"file"`
	Line int64  `json:"line"` // first line of the statement
	Kind string `json:"kind"` // "spec", "alias", "defaults", "include", "includedir"
	// Who is the user list of a spec ("alice", "%wheel", "ALL"), the alias
	// name, the Defaults qualifier or the included path.
	Who      string   `json:"who"`
	Hosts    string   `json:"hosts,omitempty"`
	RunAs    string   `json:"run_as,omitempty"`
	Commands string   `json:"commands,omitempty"`
	Tags     []string `json:"tags,omitempty"` // NOPASSWD, SETENV, …
	NoPasswd bool     `json:"nopasswd,omitempty"`
	// AllCommands is true when the spec allows ALL commands.
	AllCommands bool              `json:"all_commands,omitempty"`
	Raw         string            `json:"raw"`
	Evidence    timeline.Evidence `json:"evidence"`
}

// ParseSudoers reads one sudoers file. Includes are returned as rules of
// kind "include"/"includedir"; ReadSudoers follows them.
func ParseSudoers(file string, data []byte) []SudoRule {
	var out []SudoRule
	var errs []LineError
	var pending strings.Builder
	var start int64
	// Comments and includes are both "#…": handle lines ourselves rather
	// than through lines(), which drops every "#" line.
	var n int64
	for _, l := range strings.Split(string(data), "\n") {
		n++
		if len(l) > maxLine {
			errs = append(errs, LineError{n, "line too long"})
			continue
		}
		l = strings.TrimRight(l, "\r")
		if pending.Len() == 0 {
			start = n
			t := strings.TrimSpace(l)
			if t == "" {
				continue
			}
			if t[0] == '#' && !isInclude(t) {
				continue
			}
		}
		if strings.HasSuffix(l, "\\") {
			pending.WriteString(strings.TrimSuffix(l, "\\"))
			pending.WriteByte(' ')
			if pending.Len() > maxLine {
				pending.Reset()
			}
			continue
		}
		pending.WriteString(l)
		stmt := strings.TrimSpace(pending.String())
		pending.Reset()
		if r, ok := parseSudoStmt(stmt); ok {
			r.File, r.Line = file, start
			out = append(out, r)
		}
	}
	return out
}

func isInclude(t string) bool {
	for _, p := range []string{"#include ", "#includedir ", "#include\t", "#includedir\t"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

func parseSudoStmt(s string) (SudoRule, bool) {
	r := SudoRule{Raw: s}
	// Strip a trailing comment (not inside the statement's first word).
	if i := strings.Index(s, " #"); i > 0 && !strings.HasPrefix(s, "#include") {
		s = strings.TrimSpace(s[:i])
	}
	word, rest, _ := strings.Cut(s, " ")
	if j := strings.IndexByte(word, '\t'); j >= 0 {
		word, rest = word[:j], word[j+1:]+" "+rest
	}
	rest = strings.TrimSpace(rest)
	switch {
	case word == "#include" || word == "@include":
		r.Kind, r.Who = "include", rest
		return r, true
	case word == "#includedir" || word == "@includedir":
		r.Kind, r.Who = "includedir", rest
		return r, true
	case strings.HasPrefix(word, "Defaults"):
		r.Kind, r.Who, r.Commands = "defaults", word, rest
		return r, true
	case word == "User_Alias" || word == "Runas_Alias" || word == "Host_Alias" || word == "Cmnd_Alias" || word == "Cmd_Alias":
		r.Kind = "alias"
		name, def, _ := strings.Cut(rest, "=")
		r.Who, r.Commands = word+" "+strings.TrimSpace(name), strings.TrimSpace(def)
		return r, true
	}
	// User_List Host_List = (Runas) TAGS: Cmnd_List [: Host_List = …]
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		return r, false
	}
	lhs := strings.Fields(s[:eq])
	if len(lhs) < 2 {
		return r, false
	}
	r.Kind = "spec"
	r.Who = strings.Join(lhs[:len(lhs)-1], " ")
	r.Hosts = lhs[len(lhs)-1]
	rhs := strings.TrimSpace(s[eq+1:])
	if strings.HasPrefix(rhs, "(") {
		if j := strings.IndexByte(rhs, ')'); j > 0 {
			r.RunAs, rhs = rhs[1:j], strings.TrimSpace(rhs[j+1:])
		}
	}
	// Tags are upper-case words ending in ':' before the commands.
	for {
		w, after, ok := strings.Cut(rhs, ":")
		w = strings.TrimSpace(w)
		if !ok || w == "" || strings.ContainsAny(w, " /,") || strings.ToUpper(w) != w || w == "ALL" {
			break
		}
		r.Tags = append(r.Tags, w)
		if w == "NOPASSWD" {
			r.NoPasswd = true
		}
		rhs = strings.TrimSpace(after)
	}
	r.Commands = rhs
	for _, c := range strings.Split(rhs, ",") {
		if strings.TrimSpace(c) == "ALL" {
			r.AllCommands = true
		}
	}
	return r, true
}

// maxIncludeDepth matches sudo's own limit on nested includes; it also ends
// include cycles.
const maxIncludeDepth = 128

// ReadSudoers reads /etc/sudoers and, recursively, the files and folders it
// includes (sudo's rules: includedir skips names ending in "~" or
// containing "."). A file is read once even when included twice.
func ReadSudoers(fsys iofs.FS, warn func(path, msg string)) []SudoRule {
	var out []SudoRule
	seen := map[string]bool{}
	var read func(p string, depth int)
	read = func(p string, depth int) {
		p = Abs(p)
		if seen[p] {
			return
		}
		seen[p] = true
		if depth > maxIncludeDepth {
			warn(p, "sudoers includes nested too deep, not read")
			return
		}
		data, err := readSmall(fsys, p)
		if err != nil {
			if depth > 0 || !isNotExist(err) {
				warn(p, err.Error())
			}
			return
		}
		for _, r := range ParseSudoers(p, data) {
			out = append(out, r)
			target := strings.Trim(r.Who, `"`)
			if target != "" && !strings.HasPrefix(target, "/") {
				target = path.Join(path.Dir(p), target)
			}
			// sudo 1.9 expands %h to the short host name; we cannot.
			switch r.Kind {
			case "include":
				read(target, depth+1)
			case "includedir":
				ents, err := iofs.ReadDir(fsys, Rel(target))
				if err != nil {
					if !isNotExist(err) {
						warn(target, err.Error())
					}
					continue
				}
				names := make([]string, 0, len(ents))
				for _, e := range ents {
					n := e.Name()
					if e.IsDir() || strings.HasSuffix(n, "~") || strings.Contains(n, ".") {
						continue
					}
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					read(path.Join(target, n), depth+1)
				}
			}
		}
	}
	read("/etc/sudoers", 0)
	return out
}
