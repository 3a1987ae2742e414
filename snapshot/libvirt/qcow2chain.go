package libvirt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// qcow2Backing reads the backing file name and, when the header names it,
// the backing format from a qcow2 header (QEMU's docs/interop/qcow2.txt).
// It is used only where the daemon does not describe a disk's chain (a
// shut-off domain); a running domain's chain is the one QEMU opened, as
// libvirt reports it.
func qcow2Backing(r io.ReaderAt, what string) (name, format string, err error) {
	var h [104]byte
	n, err := r.ReadAt(h[:], 0)
	if n < 72 {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return "", "", fmt.Errorf("qcow2 %s: header at 0: %w", what, err)
	}
	if !bytes.Equal(h[:4], []byte("QFI\xfb")) {
		return "", "", fmt.Errorf("qcow2 %s: header at 0: bad magic %q", what, h[:4])
	}
	version := binary.BigEndian.Uint32(h[4:])
	off := binary.BigEndian.Uint64(h[8:])
	size := binary.BigEndian.Uint32(h[16:])
	if version != 2 && version != 3 {
		return "", "", fmt.Errorf("qcow2 %s: header at 0: version %d", what, version)
	}
	if off == 0 {
		return "", "", nil
	}
	// QEMU refuses names longer than 1023 bytes.
	if size == 0 || size > 1023 || off > 1<<30 {
		return "", "", fmt.Errorf("qcow2 %s: backing file name at %#x: bad extent (%d bytes)", what, off, size)
	}
	buf := make([]byte, size)
	if _, err := r.ReadAt(buf, int64(off)); err != nil {
		return "", "", fmt.Errorf("qcow2 %s: backing file name at %#x: %w", what, off, err)
	}
	name = string(buf)
	// Header extensions follow the header (72 bytes in version 2,
	// header_length in version 3), up to the end-of-extensions marker.
	ext := uint64(72)
	if version == 3 {
		if n < 104 {
			return name, "", fmt.Errorf("qcow2 %s: version 3 header at 0: %w", what, io.ErrUnexpectedEOF)
		}
		ext = uint64(binary.BigEndian.Uint32(h[100:]))
		if ext < 104 || ext > 1<<16 {
			return name, "", fmt.Errorf("qcow2 %s: header length %d at 0x64", what, ext)
		}
	}
	for i := 0; i < 1024 && ext < off; i++ {
		var eh [8]byte
		if _, err := r.ReadAt(eh[:], int64(ext)); err != nil {
			return name, "", fmt.Errorf("qcow2 %s: header extension at %#x: %w", what, ext, err)
		}
		typ, l := binary.BigEndian.Uint32(eh[:]), uint64(binary.BigEndian.Uint32(eh[4:]))
		if typ == 0 {
			break
		}
		if typ == 0xe2792aca { // backing file format name
			if l == 0 || l > 64 {
				return name, "", fmt.Errorf("qcow2 %s: backing format extension at %#x: length %d", what, ext, l)
			}
			f := make([]byte, l)
			if _, err := r.ReadAt(f, int64(ext)+8); err != nil {
				return name, "", fmt.Errorf("qcow2 %s: backing format extension at %#x: %w", what, ext, err)
			}
			format = string(f)
			break
		}
		ext += 8 + (l+7)&^7
	}
	return name, format, nil
}

// qcow2Chain follows a qcow2 file's backing names as QEMU does (relative
// names from the referring file's folder), nearest first. A backing file
// without a named format is probed by its magic only: qcow2 or raw.
func qcow2Chain(top string) ([]BackingFile, error) {
	var chain []BackingFile
	seen := map[string]bool{top: true}
	cur := top
	for range maxDepth {
		f, err := os.Open(cur)
		if err != nil {
			return chain, err
		}
		name, format, err := qcow2Backing(f, cur)
		f.Close()
		if err != nil || name == "" {
			return chain, err
		}
		next := name
		if !filepath.IsAbs(next) {
			next = filepath.Join(filepath.Dir(cur), next)
		}
		if seen[next] {
			return chain, fmt.Errorf("qcow2 %s: backing chain loops at %s", cur, next)
		}
		seen[next] = true
		if format == "" {
			format = "raw"
			if g, err := os.Open(next); err == nil {
				var m [4]byte
				if _, err := g.ReadAt(m[:], 0); err == nil && string(m[:]) == "QFI\xfb" {
					format = "qcow2"
				}
				g.Close()
			}
		}
		chain = append(chain, BackingFile{Type: "file", Source: next, Format: format})
		if format != "qcow2" {
			return chain, nil
		}
		cur = next
	}
	return chain, errors.New("qcow2 " + top + ": backing chain longer than " + fmt.Sprint(maxDepth))
}
