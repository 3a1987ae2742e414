// Package image opens virtual-disk containers read-only and presents the
// guest's disk as an io.ReaderAt.
//
// The format is detected from the file's magic bytes, never its name:
// raw (also split raw .001, .002, …), qcow2 v2/v3 with backing chains,
// vmdk (monolithicSparse, streamOptimized, descriptor + extents), vhd
// (fixed, dynamic, differencing) and vhdx (fixed, dynamic, differencing).
// Files are opened O_RDONLY and no code in this package writes.
//
// Backing files, parents and extents are looked up relative to the file
// that names them; for an absolute name, a file of that base name beside
// the referring file wins, so a chain copied into a case folder is read
// from the copy. Chains are limited to MaxChain files and loops are errors.
//
// Every offset, length and count read from a container is checked against
// the file before use; a damaged structure is an error naming the file,
// the structure and its byte offset. Features the package does not read
// (qcow2 encryption and external data files, vhdx logs awaiting replay, …)
// give errors wrapping ErrUnsupported.
//
// A qcow2 file's internal snapshots (older states of the disk kept inside
// it) are listed in its Layer; OpenSnapshot reads one instead of the
// current state.
//
// Copy and Image.WriteTo stream a whole disk with parallel readers, which
// is how compressed clusters inflate on every core.
package image

import (
	"errors"
	"io"
	"time"
)

// Layer describes one file of a container chain, top (the file named by the
// user) first.
type Layer struct {
	Path        string `json:"path"`
	Format      string `json:"format"` // raw, qcow2, vmdk, vhd, vhdx
	Subformat   string `json:"subformat,omitempty"`
	VirtualSize int64  `json:"virtual_size"`
	FileSize    int64  `json:"file_size"`
	Compression string `json:"compression,omitempty"`
	Backing     string `json:"backing,omitempty"` // as written in the file
	// Snapshots lists qcow2 internal snapshots: older states of the disk
	// kept inside the file, which ReadAt shows only when opened with
	// OpenSnapshot.
	Snapshots []Snapshot `json:"snapshots,omitempty"`
	// Snapshot is the internal snapshot read instead of the current state.
	Snapshot string `json:"snapshot,omitempty"`
}

// Snapshot is a qcow2 internal snapshot (qemu-img snapshot -c, savevm,
// virsh snapshot-create of a qcow2 disk): the disk as it was at Date, and
// with VMStateSize > 0 the VM's memory and device state too.
type Snapshot struct {
	ID   string    `json:"id"`
	Name string    `json:"name"`
	Date time.Time `json:"date"`
	// VMClock is the guest's run time when the snapshot was taken.
	VMClock     time.Duration `json:"vm_clock_ns"`
	DiskSize    int64         `json:"disk_size"`
	VMStateSize int64         `json:"vm_state_size,omitempty"`

	l1Off  uint64
	l1Size uint64
}

// Image is an opened virtual disk: the guest-visible bytes of the whole
// chain. It is safe for concurrent ReadAt calls.
type Image struct {
	r      io.ReaderAt
	size   int64
	Layers []Layer
	close  []io.Closer
}

// ReadAt reads the guest-visible disk. Reads past Size return io.EOF.
func (im *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("image: negative offset")
	}
	if off >= im.size {
		return 0, io.EOF
	}
	if rem := im.size - off; int64(len(p)) > rem {
		n, err := im.r.ReadAt(p[:rem], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return im.r.ReadAt(p, off)
}

// Size is the virtual disk size in bytes.
func (im *Image) Size() int64 { return im.size }

// Format is the format of the top layer.
func (im *Image) Format() string {
	if len(im.Layers) == 0 {
		return ""
	}
	return im.Layers[0].Format
}

// Close releases every file of the chain.
func (im *Image) Close() error {
	var first error
	for _, c := range im.close {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	im.close = nil
	return first
}
