package users

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"

	"github.com/coldcase-dfir/coldcase/timeline"
)

// AuthorizedKey is one key line of an authorized_keys file.
type AuthorizedKey struct {
	File string `json:"file"`
	Line int64  `json:"line"`
	User string `json:"user,omitempty"` // owner of the home the file is in
	// Options as written, split at top-level commas ("command=\"…\"",
	// "from=\"10.0.0.0/8\"", "no-pty").
	Options []string `json:"options,omitempty"`
	Command string   `json:"command,omitempty"` // value of command=, unquoted
	From    string   `json:"from,omitempty"`    // value of from=, unquoted
	KeyType string   `json:"key_type"`
	// Fingerprint as `ssh-keygen -l` prints it: "SHA256:" + unpadded
	// base64 of the SHA-256 of the decoded key blob. Empty when the blob is
	// not valid base64.
	Fingerprint string `json:"fingerprint,omitempty"`
	Comment     string `json:"comment,omitempty"`
	// Error says why the key could not be fully read (bad base64, blob
	// naming another key type).
	Error    string            `json:"error,omitempty"`
	FileMeta FileMeta          `json:"file_meta"`
	Evidence timeline.Evidence `json:"evidence"`
}

var keyTypes = map[string]bool{
	"ssh-rsa": true, "ssh-dss": true, "ssh-ed25519": true, "ssh-ed448": true,
	"ecdsa-sha2-nistp256": true, "ecdsa-sha2-nistp384": true, "ecdsa-sha2-nistp521": true,
	"sk-ecdsa-sha2-nistp256@openssh.com": true, "sk-ssh-ed25519@openssh.com": true,
}

func isKeyType(s string) bool {
	return keyTypes[s] || strings.HasSuffix(s, "-cert-v01@openssh.com")
}

// splitOptions splits an authorized_keys option string at commas outside
// double quotes, and returns the rest of the line after the first space
// outside quotes.
func splitOptions(s string) (opts []string, rest string) {
	inQ := false
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && inQ && i+1 < len(s):
			i++
		case c == '"':
			inQ = !inQ
		case c == ',' && !inQ:
			opts = append(opts, s[start:i])
			start = i + 1
		case (c == ' ' || c == '\t') && !inQ:
			opts = append(opts, s[start:i])
			return opts, strings.TrimLeft(s[i:], " \t")
		}
	}
	return append(opts, s[start:]), ""
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return strings.ReplaceAll(v, `\"`, `"`)
}

// ParseAuthorizedKeys reads an authorized_keys file (sshd(8) "AUTHORIZED_KEYS
// FILE FORMAT"). Lines that hold no key are reported.
func ParseAuthorizedKeys(file string, data []byte) ([]AuthorizedKey, []LineError) {
	var out []AuthorizedKey
	var errs []LineError
	lines(data, func(n int64, l string) {
		l = strings.TrimSpace(l)
		k := AuthorizedKey{File: file, Line: n}
		first, _, _ := strings.Cut(l, " ")
		rest := l
		if !isKeyType(strings.TrimSpace(first)) {
			k.Options, rest = splitOptions(l)
			for _, o := range k.Options {
				name, val, _ := strings.Cut(o, "=")
				switch strings.ToLower(name) {
				case "command":
					k.Command = unquote(val)
				case "from":
					k.From = unquote(val)
				}
			}
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			errs = append(errs, LineError{n, "no key type and key"})
			return
		}
		k.KeyType = f[0]
		if len(f) > 2 {
			// The comment is the rest of the line as written.
			i := strings.Index(rest, f[0]) + len(f[0])
			i += strings.Index(rest[i:], f[1]) + len(f[1])
			k.Comment = strings.TrimSpace(rest[i:])
		}
		k.Fingerprint, k.Error = fingerprint(f[0], f[1])
		out = append(out, k)
	}, &errs)
	return out, errs
}

// fingerprint decodes a base64 key blob and checks that it names the key
// type the line claims.
func fingerprint(keyType, b64 string) (fp, problem string) {
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", "key is not base64: " + err.Error()
	}
	sum := sha256.Sum256(blob)
	fp = "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	if len(blob) < 4 {
		return fp, "key blob too short"
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) {
		return fp, "key blob's type length out of range"
	}
	if inner := string(blob[4 : 4+n]); inner != keyType {
		return fp, "key blob is of type " + inner + ", line says " + keyType
	}
	return fp, ""
}

// KnownHost is one line of a known_hosts file.
type KnownHost struct {
	File   string `json:"file"`
	Line   int64  `json:"line"`
	User   string `json:"user,omitempty"`
	Marker string `json:"marker,omitempty"` // "@cert-authority", "@revoked"
	// Hosts as written: names, [name]:port, patterns, or "|1|salt|hash"
	// when HashKnownHosts is on.
	Hosts       []string          `json:"hosts"`
	Hashed      bool              `json:"hashed"`
	KeyType     string            `json:"key_type"`
	Fingerprint string            `json:"fingerprint,omitempty"`
	Comment     string            `json:"comment,omitempty"`
	Error       string            `json:"error,omitempty"`
	Evidence    timeline.Evidence `json:"evidence"`
}

// ParseKnownHosts reads a known_hosts file (sshd(8) "SSH_KNOWN_HOSTS FILE
// FORMAT").
func ParseKnownHosts(file string, data []byte) ([]KnownHost, []LineError) {
	var out []KnownHost
	var errs []LineError
	lines(data, func(n int64, l string) {
		f := strings.Fields(l)
		h := KnownHost{File: file, Line: n}
		if len(f) > 0 && strings.HasPrefix(f[0], "@") {
			h.Marker, f = f[0], f[1:]
		}
		if len(f) < 3 {
			errs = append(errs, LineError{n, "want hosts, key type and key"})
			return
		}
		h.Hosts = strings.Split(f[0], ",")
		h.Hashed = strings.HasPrefix(f[0], "|1|")
		h.KeyType = f[1]
		h.Fingerprint, h.Error = fingerprint(f[1], f[2])
		if len(f) > 3 {
			h.Comment = strings.Join(f[3:], " ")
		}
		out = append(out, h)
	}, &errs)
	return out, errs
}
