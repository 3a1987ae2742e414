// Package volume finds the volumes of a virtual disk: MBR and GPT partitions,
// LVM2 logical volumes, or the whole disk when it has no partition table.
package volume

import "io"

// Volume is one partition, logical volume or whole disk. It reads only its
// own extent of the underlying disk(s).
type Volume struct {
	io.ReaderAt `json:"-"`

	// Selector is how users name the volume on the command line:
	// "p2" for a partition, "vg0/root" for a logical volume, "disk" for a
	// disk without partition table. With several disks, partitions of the
	// second and later disks are "d2p1", ….
	Selector string `json:"selector"`
	Scheme   string `json:"scheme"` // "mbr", "gpt", "lvm", "whole"
	Index    int    `json:"index"`  // partition number as the OS counts it (1-based)
	Disk     int    `json:"disk"`   // which input disk (0-based); for LVs the first PV's disk
	Start    int64  `json:"start"`  // byte offset on the disk; 0 for LVs
	Size     int64  `json:"size"`
	Type     string `json:"type"`           // GPT type GUID name, MBR type as hex, "lvm linear", …
	TypeID   string `json:"type_id"`        // GPT type GUID or MBR type byte ("0x83")
	Name     string `json:"name,omitempty"` // GPT partition name, or "VG/LV"
	UUID     string `json:"uuid,omitempty"` // GPT unique partition GUID, MBR "disksig-NN", LV UUID
	// Container marks volumes that hold other volumes (extended partitions,
	// LVM physical volumes): they are listed but not opened as filesystems.
	Container bool `json:"container,omitempty"`
}

// Disk is what volumes are read from: an opened image or any sized ReaderAt.
type Disk interface {
	io.ReaderAt
	Size() int64
}
