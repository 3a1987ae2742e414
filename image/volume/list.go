package volume

import (
	"fmt"
	"io"
	"sort"
)

// List returns every volume of the given disks: partitions (or the whole
// disk when it has no partition table), then the LVM logical volumes found
// on physical volumes of any of the disks. Give all disks of one machine
// together so volume groups spanning disks can be assembled.
//
// A damaged partition table is an error naming the structure and its byte
// offset. Damaged LVM metadata is not: the PV is listed with a warning and
// its volume group's LVs are read from another metadata copy when one is
// good. LVs that cannot be read (unsupported segment types, missing PVs)
// are listed with Unsupported set.
func List(disks ...Disk) ([]Volume, error) {
	var vols []Volume
	for i, d := range disks {
		dv, err := listDisk(i, d)
		if err != nil {
			return nil, fmt.Errorf("disk %d: %w", i+1, err)
		}
		vols = append(vols, dv...)
	}
	lvs := assembleLVM(vols)
	return append(vols, lvs...), nil
}

// listDisk reads one disk's partition table.
func listDisk(di int, d Disk) ([]Volume, error) {
	size := d.Size()
	sel := func(n int) string {
		if di == 0 {
			return fmt.Sprintf("p%d", n)
		}
		return fmt.Sprintf("d%dp%d", di+1, n)
	}
	sec0 := make([]byte, 512)
	if size >= 512 {
		if _, err := d.ReadAt(sec0, 0); err != nil && err != io.EOF {
			return nil, fmt.Errorf("sector 0: %w", err)
		}
	}
	mbrOK := looksLikeMBR(sec0)
	protective := false
	if mbrOK {
		for _, e := range readMBREntries(sec0) {
			if e.typ == 0xee {
				protective = true
			}
		}
	}
	var parts []part
	var warns []string
	scheme, ss := "", 512
	if gss := detectGPTSectorSize(d, size); gss != 0 || protective {
		var t *gptTable
		var err error
		if gss != 0 {
			ss = gss
			t, warns, err = parseGPT(d, size, gss)
		} else {
			// The primary header's signature is gone: only the backup at
			// the last LBA can tell the sector size.
			for _, try := range []int{512, 4096} {
				if t, warns, err = parseGPT(d, size, try); err == nil {
					ss = try
					break
				}
			}
		}
		if err != nil {
			return nil, err
		}
		if !protective {
			warns = append(warns, "gpt: no protective MBR in sector 0")
		}
		scheme, parts = "gpt", t.parts
	} else if mbrOK {
		p, err := parseMBR(d, size, sec0)
		if err != nil {
			return nil, err
		}
		scheme, parts = "mbr", p
	}
	if scheme == "" {
		name := "disk"
		if di > 0 {
			name = fmt.Sprintf("d%d", di+1)
		}
		return []Volume{{
			ReaderAt: io.NewSectionReader(d, 0, size), Selector: name, Scheme: "whole",
			Disk: di, Size: size, Type: "whole disk", SectorSize: 512, disk: d,
		}}, nil
	}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].index < parts[j].index })
	vols := make([]Volume, 0, len(parts))
	for _, p := range parts {
		v := Volume{
			ReaderAt: io.NewSectionReader(d, p.start, p.size),
			Selector: sel(p.index), Scheme: scheme, Index: p.index, Disk: di,
			Start: p.start, Size: p.size, Type: p.typeName, TypeID: p.typeID,
			Name: p.name, UUID: p.uuid, Container: p.container, SectorSize: ss,
			disk: d,
		}
		vols = append(vols, v)
	}
	// A table-level finding belongs to every partition read through it.
	for i := range vols {
		vols[i].Warnings = append(vols[i].Warnings, warns...)
	}
	if len(vols) == 0 {
		name := "disk"
		if di > 0 {
			name = fmt.Sprintf("d%d", di+1)
		}
		return []Volume{{
			ReaderAt: io.NewSectionReader(d, 0, size), Selector: name, Scheme: "whole",
			Disk: di, Size: size, Type: "whole disk (empty " + scheme + " table)", SectorSize: ss,
			Warnings: warns, disk: d,
		}}, nil
	}
	return vols, nil
}

// assembleLVM finds PV labels on every non-container volume, reads the
// metadata, and returns the logical volumes of each volume group.
func assembleLVM(vols []Volume) []Volume {
	var pvs []pvDev
	var copies []vgCopy
	for i := range vols {
		v := &vols[i]
		if v.Container || v.Scheme == "lvm" {
			continue
		}
		l, err := findPVLabel(v.ReaderAt, v.Size)
		if err != nil {
			v.Warnings = append(v.Warnings, err.Error())
			continue
		}
		if l == nil {
			continue
		}
		v.Container = true
		if v.Scheme == "whole" {
			v.Type, v.TypeID = "LVM2 PV", "LVM2_member"
		}
		pv := pvDev{vol: i, r: v.ReaderAt, size: v.Size, label: l}
		pvs = append(pvs, pv)
		c, warns := readVGCopies(pv)
		v.Warnings = append(v.Warnings, warns...)
		// Keep only the newest copy per VG so far: memory stays bounded
		// by one metadata tree per VG, however many PVs there are.
		copies = newestCopies(append(copies, c...))
	}
	var out []Volume
	for _, c := range newestCopies(copies) {
		lvs, err := buildLVs(c, pvs, vols)
		if err != nil {
			// Mark every PV that carries this VG's metadata.
			for _, pv := range pvs {
				vols[pv.vol].Warnings = append(vols[pv.vol].Warnings, err.Error())
			}
			continue
		}
		sort.SliceStable(lvs, func(i, j int) bool { return lvs[i].Name < lvs[j].Name })
		out = append(out, lvs...)
	}
	return out
}
