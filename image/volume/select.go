package volume

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Select finds the volume named by sel in vols (as returned by List); the
// grammar is in the package documentation. "disk" and "dN" name a whole
// disk even when it has a partition table.
func Select(vols []Volume, sel string) (Volume, error) {
	s := strings.TrimSpace(sel)
	if len(s) > 9 && strings.EqualFold(s[:9], "PARTUUID=") {
		s = s[9:]
	}
	s = strings.TrimPrefix(s, "/dev/disk/by-partuuid/")
	if s == "" {
		return Volume{}, fmt.Errorf("volume: empty selector")
	}
	for _, v := range vols {
		if v.Selector == s {
			return v, nil
		}
	}
	if n, ok := wholeDiskSel(s); ok {
		return wholeDisk(vols, n, sel)
	}
	if d, p, ok := partSel(s); ok {
		for _, v := range vols {
			if v.Scheme != "lvm" && v.Scheme != "whole" && v.Disk == d && v.Index == p {
				return v, nil
			}
		}
		return Volume{}, notFound(vols, sel)
	}
	if vg, lv, ok := lvSel(s); ok {
		for _, v := range vols {
			if v.Scheme == "lvm" && v.Name == vg+"/"+lv {
				return v, nil
			}
		}
	}
	u := normUUID(s)
	if len(u) >= 8 {
		for _, v := range vols {
			if v.UUID != "" && normUUID(v.UUID) == u {
				return v, nil
			}
		}
	}
	return Volume{}, notFound(vols, sel)
}

func notFound(vols []Volume, sel string) error {
	var have []string
	for _, v := range vols {
		have = append(have, v.Selector)
	}
	return fmt.Errorf("volume: no volume %q (volumes: %s)", sel, strconv.Quote(strings.Join(have, " ")))
}

func normUUID(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.Trim(s, "{}")), "-", "")
}

// wholeDiskSel parses "disk" and "dN"; it returns the 0-based disk.
func wholeDiskSel(s string) (int, bool) {
	if s == "disk" {
		return 0, true
	}
	if len(s) > 1 && s[0] == 'd' {
		if n, err := strconv.Atoi(s[1:]); err == nil && n >= 1 && s[1] != '+' {
			return n - 1, true
		}
	}
	return 0, false
}

func wholeDisk(vols []Volume, di int, sel string) (Volume, error) {
	for _, v := range vols {
		if v.Scheme == "whole" && v.Disk == di {
			return v, nil
		}
	}
	for _, v := range vols {
		if v.Scheme != "lvm" && v.Disk == di && v.disk != nil {
			name := "disk"
			if di > 0 {
				name = fmt.Sprintf("d%d", di+1)
			}
			size := v.disk.Size()
			return Volume{
				ReaderAt: io.NewSectionReader(v.disk, 0, size), Selector: name, Scheme: "whole",
				Disk: di, Size: size, Type: "whole disk", SectorSize: v.SectorSize, disk: v.disk,
			}, nil
		}
	}
	return Volume{}, notFound(vols, sel)
}

// partSel parses "pN" and "dMpN" into a 0-based disk and a partition number.
func partSel(s string) (disk, part int, ok bool) {
	num := func(t string) (int, bool) {
		if t == "" || t[0] < '0' || t[0] > '9' {
			return 0, false
		}
		n, err := strconv.Atoi(t)
		return n, err == nil && n >= 1
	}
	if strings.HasPrefix(s, "p") {
		p, ok := num(s[1:])
		return 0, p, ok
	}
	if strings.HasPrefix(s, "d") {
		i := strings.IndexByte(s, 'p')
		if i < 0 {
			return 0, 0, false
		}
		d, ok1 := num(s[1:i])
		p, ok2 := num(s[i+1:])
		return d - 1, p, ok1 && ok2
	}
	return 0, 0, false
}

// lvSel parses "VG/LV", "/dev/VG/LV", "/dev/mapper/VG-LV" and "VG-LV".
func lvSel(s string) (vg, lv string, ok bool) {
	if rest, found := strings.CutPrefix(s, "/dev/mapper/"); found {
		return dmSplit(rest)
	}
	s = strings.TrimPrefix(s, "/dev/")
	if vg, lv, found := strings.Cut(s, "/"); found {
		return vg, lv, vg != "" && lv != "" && !strings.Contains(lv, "/")
	}
	return dmSplit(s)
}

// dmSplit undoes device-mapper's name mangling: VG and LV joined by "-",
// with every "-" inside either name doubled.
func dmSplit(s string) (vg, lv string, ok bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '-' {
			b.WriteByte('-')
			i++
			continue
		}
		vg = b.String()
		lv = strings.ReplaceAll(s[i+1:], "--", "-")
		return vg, lv, vg != "" && lv != ""
	}
	return "", "", false
}
