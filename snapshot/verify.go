package snapshot

import (
	"crypto/ed25519"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
)

// FileCheck is the outcome of re-hashing one evidence file.
type FileCheck struct {
	Path         string `json:"path"`
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"`
	MD5          string `json:"md5"`
	ExpectSize   int64  `json:"expect_size"`
	ExpectSHA256 string `json:"expect_sha256"`
	ExpectMD5    string `json:"expect_md5"`
	OK           bool   `json:"ok"`
	Error        string `json:"error,omitempty"`
}

// Report is what Verify found.
type Report struct {
	CaseID    string      `json:"case_id"`
	Status    string      `json:"status"`
	Signature string      `json:"signature"` // "valid", "not checked", or the error
	Files     []FileCheck `json:"files"`
	OK        bool        `json:"ok"`
}

// ErrMismatch is returned (wrapped) when evidence differs from its manifest.
var ErrMismatch = errors.New("evidence differs from the manifest")

// Verify re-hashes every evidence file of a case and compares it with the
// manifest; with pub it also checks manifest.json.sig. It returns the report
// and ErrMismatch when anything differs (a file, its size, the signature, an
// incomplete acquisition).
func Verify(dir string, pub ed25519.PublicKey) (*Report, error) {
	m, raw, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	r := &Report{CaseID: m.CaseID, Status: m.Status, Signature: "not checked", OK: true}
	if pub != nil {
		if err := CheckSignature(dir, raw, pub); err != nil {
			r.Signature, r.OK = err.Error(), false
		} else {
			r.Signature = "valid"
		}
	}
	if m.Status != StatusComplete {
		r.OK = false
	}
	for _, e := range m.Evidence {
		c := FileCheck{Path: e.Path, ExpectSize: e.Size, ExpectSHA256: e.SHA256, ExpectMD5: e.MD5}
		if err := hashFile(filepath.Join(dir, filepath.FromSlash(e.Path)), &c); err != nil {
			c.Error = err.Error()
		}
		c.OK = c.Error == "" && c.Size == e.Size && c.SHA256 == e.SHA256 && c.MD5 == e.MD5 && e.Complete
		if c.OK == false && c.Error == "" && !e.Complete {
			c.Error = "download incomplete"
		}
		r.OK = r.OK && c.OK
		r.Files = append(r.Files, c)
	}
	if !r.OK {
		return r, ErrMismatch
	}
	return r, nil
}

func hashFile(p string, c *FileCheck) error {
	f, err := openNoFollow(p)
	if err != nil {
		return err
	}
	defer f.Close()
	s, m := sha256.New(), md5.New()
	n, err := io.CopyBuffer(parallelHash{s, m}, f, make([]byte, 4<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	c.Size, c.SHA256, c.MD5 = n, hex.EncodeToString(s.Sum(nil)), hex.EncodeToString(m.Sum(nil))
	return nil
}
