// Package volume finds the volumes of a virtual disk: MBR and GPT partitions,
// LVM2 logical volumes, or the whole disk when it has no partition table.
//
// List takes every disk of one machine at once, because an LVM volume group
// may span several of them, and returns the volumes in a stable order: per
// disk the partitions by number (MBR primaries 1–4, then logical partitions
// 5, 6, … as Linux numbers them; GPT entries by slot), then the logical
// volumes sorted by "VG/LV".
//
// The MBR, EBR chain, GPT and LVM2 readers are our own. go-diskfs reads MBR
// and GPT through a ReaderAt, but it does not follow the EBR chain of
// extended partitions, sizes its entry buffer by the header's fields, and its
// errors do not say at which byte offset a structure is bad; the parsers here
// are short, bounded (entry arrays ≤ 1 MiB, ≤ 256 EBRs, LVM metadata ≤ 16 MiB,
// ≤ 2^18 items nested ≤ 32 deep) and fuzzed. No pure-Go LVM2 reader exists.
//
// GPT: the sector size is found by looking for "EFI PART" at LBA 1 for 512-
// and 4096-byte sectors. The header CRC and entry-array CRC are checked; when
// the primary is bad the backup header at the last LBA is used and the
// volume's Warnings say so. A protective MBR (type 0xee) means GPT.
//
// LVM2: a physical volume is found by its "LABELONE" label in sectors 0–3 of
// a whole disk or of any partition; the metadata text is read from the
// metadata area's ring buffer, and for each volume group the copy with the
// newest seqno wins. Linear and striped segments are mapped, also over PVs
// on different disks. Thin, thin-pool, raid, mirror, cache and snapshot LVs
// are listed with Unsupported set, and reading them returns an error; so do
// LVs whose PVs are on a disk that was not given. Damaged metadata areas
// become Warnings on the PV's volume.
//
// A damaged partition table (entries past the disk end, overlapping
// entries, an EBR chain that loops or leaves its extended partition, a GPT
// whose primary and backup are both bad) makes List fail with an error
// naming the structure and its byte offset.
//
// # Selectors
//
// Select accepts (case-insensitive where names are UUIDs):
//
//	disk            the whole first disk (dN: the whole N-th disk, 1-based)
//	pN              partition N of the first disk (Linux numbering)
//	dMpN            partition N of the M-th disk (1-based), e.g. d2p1
//	VG/LV           a logical volume, also /dev/VG/LV
//	VG-LV           device-mapper name, "-" inside names doubled: my--vg-lv,
//	                also /dev/mapper/VG-LV
//	UUID            a GPT unique partition GUID, an MBR PARTUUID
//	                ("8f8378c0-01"), or an LV UUID (with or without dashes);
//	                "PARTUUID=…" and /dev/disk/by-partuuid/… are accepted too
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
	Type     string `json:"type"`           // GPT type GUID name, MBR type name (or hex), "lvm linear", …
	TypeID   string `json:"type_id"`        // GPT type GUID or MBR type byte ("0x83")
	Name     string `json:"name,omitempty"` // GPT partition name, or "VG/LV"
	UUID     string `json:"uuid,omitempty"` // GPT unique partition GUID, MBR "disksig-NN", LV UUID
	// Container marks volumes that hold other volumes (extended partitions,
	// LVM physical volumes): they are listed but not opened as filesystems.
	Container bool `json:"container,omitempty"`

	// SectorSize is the logical sector size the partition table was read
	// with (512 or 4096); 0 for logical volumes.
	SectorSize int `json:"sector_size,omitempty"`
	// Hidden marks LVM sub-volumes that LVM does not show (no VISIBLE
	// flag), such as raid images or thin-pool data.
	Hidden bool `json:"hidden,omitempty"`
	// Unsupported says why reading this volume fails ("lvm thin-pool
	// segments not supported yet"); empty when it can be read.
	Unsupported string `json:"unsupported,omitempty"`
	// Warnings are findings that did not stop the listing: a corrupt
	// primary GPT read through its backup, an LVM metadata copy that was
	// skipped, a PV that is missing.
	Warnings []string `json:"warnings,omitempty"`

	disk Disk // the disk this volume lies on (first PV's disk for LVs)
}

// Disk is what volumes are read from: an opened image or any sized ReaderAt.
type Disk interface {
	io.ReaderAt
	Size() int64
}
