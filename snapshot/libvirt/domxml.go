package libvirt

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// Interface is one <interface> of a domain, with its element kept as the
// daemon wrote it: DomainUpdateDeviceFlags wants the device's own XML back
// with only the link state changed.
type Interface struct {
	Type   string
	MAC    string
	Target string
	Link   string // "up", "down", or "" (up)
	raw    []byte
}

// Disk is one <disk device='disk'> of a domain.
type Disk struct {
	Target string // vda, sda…
	Type   string // file, block, network, volume…
	Source string // file path, volume or device, for the manifest
	Format string // driver type: qcow2, raw…
	// Backing is the disk's backing chain as the daemon reports it, nearest
	// first; BackingKnown is false when the XML does not describe it (old
	// daemons, inactive domains), which is not the same as having none.
	Backing      []BackingFile
	BackingKnown bool
}

// BackingFile is one <backingStore> of a disk's chain.
type BackingFile struct {
	Type   string
	Source string
	Format string
}

// DomainInfo is what acquisition needs from a domain's XML.
type DomainInfo struct {
	Name       string
	UUID       string
	Interfaces []Interface
	Disks      []Disk
	// OtherDisks are the targets of cdrom, floppy and lun devices, which a
	// disk-only snapshot must name to leave them alone.
	OtherDisks []string
}

// Limits on what a domain description may hold; a daemon is trusted more
// than an image, but a bounded parser costs nothing.
const (
	maxDevices = 4096
	maxDepth   = 64
)

// ParseDomainXML extracts names, interfaces and disks from a domain's XML.
func ParseDomainXML(data []byte) (*DomainInfo, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	info := &DomainInfo{}
	var path []string
	for {
		start := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("domain XML at byte %d: %w", start, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(path) >= maxDepth {
				return nil, fmt.Errorf("domain XML at byte %d: nested deeper than %d", start, maxDepth)
			}
			where := append(path, t.Name.Local)
			switch {
			case len(where) == 3 && where[0] == "domain" && where[1] == "devices" && t.Name.Local == "interface":
				if len(info.Interfaces) >= maxDevices {
					return nil, fmt.Errorf("domain XML at byte %d: more than %d interfaces", start, maxDevices)
				}
				var x xmlInterface
				if err := d.DecodeElement(&x, &t); err != nil {
					return nil, fmt.Errorf("domain XML: interface at byte %d: %w", start, err)
				}
				end := d.InputOffset()
				if start < 0 || end > int64(len(data)) || start > end {
					return nil, fmt.Errorf("domain XML: interface at byte %d: bad extent", start)
				}
				info.Interfaces = append(info.Interfaces, Interface{
					Type: attr(t, "type"), MAC: x.MAC.Address, Target: x.Target.Dev, Link: x.Link.State,
					raw: bytes.TrimSpace(data[start:end]),
				})
				continue
			case len(where) == 3 && where[0] == "domain" && where[1] == "devices" && t.Name.Local == "disk":
				if len(info.Disks) >= maxDevices {
					return nil, fmt.Errorf("domain XML at byte %d: more than %d disks", start, maxDevices)
				}
				var x xmlDisk
				if err := d.DecodeElement(&x, &t); err != nil {
					return nil, fmt.Errorf("domain XML: disk at byte %d: %w", start, err)
				}
				if dev := attr(t, "device"); dev != "" && dev != "disk" {
					info.OtherDisks = append(info.OtherDisks, x.Target.Dev)
					continue // cdrom, floppy, lun: not the VM's disks
				}
				disk := Disk{Target: x.Target.Dev, Type: attr(t, "type"), Source: x.Source.path(), Format: x.Driver.Type}
				if b := x.BackingStore; b != nil {
					disk.BackingKnown = true
					for ; b != nil && b.Source.path() != ""; b = b.BackingStore {
						if len(disk.Backing) >= maxDepth {
							return nil, fmt.Errorf("domain XML: disk at byte %d: backing chain longer than %d", start, maxDepth)
						}
						disk.Backing = append(disk.Backing, BackingFile{Type: b.Type, Source: b.Source.path(), Format: b.Format.Type})
					}
				}
				info.Disks = append(info.Disks, disk)
				continue
			}
			path = where
		case xml.EndElement:
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
		case xml.CharData:
			if len(path) == 2 && path[0] == "domain" {
				switch path[1] {
				case "name":
					info.Name += string(t)
				case "uuid":
					info.UUID += string(t)
				}
			}
		}
	}
	if len(path) != 0 {
		return nil, errors.New("domain XML: unterminated element")
	}
	return info, nil
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

type xmlInterface struct {
	MAC struct {
		Address string `xml:"address,attr"`
	} `xml:"mac"`
	Target struct {
		Dev string `xml:"dev,attr"`
	} `xml:"target"`
	Link struct {
		State string `xml:"state,attr"`
	} `xml:"link"`
}

type xmlDisk struct {
	Driver struct {
		Type string `xml:"type,attr"`
	} `xml:"driver"`
	Source       xmlSource   `xml:"source"`
	BackingStore *xmlBacking `xml:"backingStore"`
	Target       struct {
		Dev string `xml:"dev,attr"`
	} `xml:"target"`
}

type xmlSource struct {
	File   string `xml:"file,attr"`
	Dev    string `xml:"dev,attr"`
	Volume string `xml:"volume,attr"`
	Name   string `xml:"name,attr"`
}

func (s xmlSource) path() string {
	for _, p := range []string{s.File, s.Dev, s.Volume, s.Name} {
		if p != "" {
			return p
		}
	}
	return ""
}

// xmlBacking nests as deep as the chain; the decoder's own depth limit
// and maxDepth above bound it.
type xmlBacking struct {
	Type   string `xml:"type,attr"`
	Format struct {
		Type string `xml:"type,attr"`
	} `xml:"format"`
	Source       xmlSource   `xml:"source"`
	BackingStore *xmlBacking `xml:"backingStore"`
}

// LinkDownXML is the interface's own XML with its link state set to down:
// any <link> child is dropped and <link state='down'/> added, everything
// else (MAC, source, model, address) kept so the daemon matches the device.
func (i Interface) LinkDownXML() ([]byte, error) {
	d := xml.NewDecoder(bytes.NewReader(i.raw))
	var out bytes.Buffer
	e := xml.NewEncoder(&out)
	depth, skip := 0, 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", i.MAC, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if skip > 0 || (depth == 2 && t.Name.Local == "link") {
				skip++
				continue
			}
		case xml.EndElement:
			if skip > 0 {
				skip--
				depth--
				continue
			}
			if depth == 1 {
				e.EncodeToken(xml.StartElement{Name: xml.Name{Local: "link"}, Attr: []xml.Attr{{Name: xml.Name{Local: "state"}, Value: "down"}}})
				e.EncodeToken(xml.EndElement{Name: xml.Name{Local: "link"}})
			}
			depth--
		case xml.ProcInst, xml.Directive:
			continue
		default:
			if skip > 0 {
				continue
			}
		}
		if err := e.EncodeToken(xml.CopyToken(tok)); err != nil {
			return nil, fmt.Errorf("interface %s: %w", i.MAC, err)
		}
	}
	if err := e.Flush(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
