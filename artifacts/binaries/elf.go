package binaries

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// ELFInfo is what a triage needs from an ELF file. It is read from the
// program headers (PT_INTERP, PT_DYNAMIC, PT_NOTE), which the loader uses,
// so a file with no or corrupt section headers — common in stripped or
// packed malware — still gives its interpreter, needed libraries and
// build-id. Sections are consulted only for Stripped.
type ELFInfo struct {
	Class       string   `json:"class"`   // "ELFCLASS64"
	Data        string   `json:"data"`    // "ELFDATA2LSB"
	OSABI       string   `json:"os_abi"`  // "ELFOSABI_NONE"
	Type        string   `json:"type"`    // "ET_EXEC", "ET_DYN", …
	Machine     string   `json:"machine"` // "EM_X86_64"
	Entry       uint64   `json:"entry"`
	Interpreter string   `json:"interpreter,omitempty"`
	Needed      []string `json:"needed,omitempty"`
	Soname      string   `json:"soname,omitempty"`
	Rpath       string   `json:"rpath,omitempty"`
	Runpath     string   `json:"runpath,omitempty"`
	BuildID     string   `json:"build_id,omitempty"` // hex, from the NT_GNU_BUILD_ID note
	// Static: no interpreter and no needed libraries.
	Static bool `json:"static"`
	// PIE: ET_DYN with an interpreter or DF_1_PIE.
	PIE bool `json:"pie"`
	// Stripped: no .symtab section (or no section headers at all).
	Stripped      bool   `json:"stripped"`
	Sections      int    `json:"sections"`
	SectionsError string `json:"sections_error,omitempty"` // why the section headers could not be read
	// Errors met in the program headers; what was read before stays.
	Errors []string `json:"errors,omitempty"`
}

// Bounds on what the input may make us read.
const (
	maxPhnum     = 4096
	maxDynamic   = 1 << 16 // dynamic entries
	maxNeeded    = 1024
	maxNoteBytes = 1 << 20
	maxStr       = 4096
)

type elfReader struct {
	r    io.ReaderAt
	size int64
	bo   binary.ByteOrder
	is64 bool
}

func (e *elfReader) read(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || off > e.size || int64(n) > e.size-off {
		return nil, fmt.Errorf("%d bytes at %#x beyond the file's %d bytes", n, off, e.size)
	}
	b := make([]byte, n)
	if _, err := e.r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("read at %#x: %w", off, err)
	}
	return b, nil
}

func (e *elfReader) cstr(off int64) (string, error) {
	n := maxStr
	if rem := e.size - off; rem < int64(n) {
		n = int(rem)
	}
	if n <= 0 || off < 0 {
		return "", fmt.Errorf("string at %#x out of range", off)
	}
	b, err := e.read(off, n)
	if err != nil {
		return "", err
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i]), nil
	}
	return string(b), fmt.Errorf("string at %#x unterminated within %d bytes", off, n)
}

type phdr struct {
	typ                elf.ProgType
	off, vaddr, filesz uint64
	memsz              uint64
}

// ReadELF reads an ELF file's header and program headers. It fails only
// when the ELF header itself is unreadable; later problems are listed in
// ELFInfo.Errors.
func ReadELF(r io.ReaderAt, size int64) (*ELFInfo, error) {
	var ident [elf.EI_NIDENT]byte
	if size < 52 {
		return nil, errors.New("elf: file shorter than an ELF header")
	}
	if _, err := r.ReadAt(ident[:], 0); err != nil {
		return nil, fmt.Errorf("elf: header: %w", err)
	}
	if string(ident[:4]) != elf.ELFMAG {
		return nil, errors.New("elf: bad magic")
	}
	e := &elfReader{r: r, size: size}
	info := &ELFInfo{Class: elf.Class(ident[elf.EI_CLASS]).String(), Data: elf.Data(ident[elf.EI_DATA]).String(), OSABI: elf.OSABI(ident[elf.EI_OSABI]).String()}
	switch elf.Data(ident[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		e.bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		e.bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("elf: unknown data encoding %d", ident[elf.EI_DATA])
	}
	var phoff uint64
	var phentsize, phnum int
	switch elf.Class(ident[elf.EI_CLASS]) {
	case elf.ELFCLASS32:
		h, err := e.read(0, 52)
		if err != nil {
			return nil, fmt.Errorf("elf: header: %w", err)
		}
		info.Type, info.Machine = elf.Type(e.bo.Uint16(h[16:])).String(), elf.Machine(e.bo.Uint16(h[18:])).String()
		info.Entry = uint64(e.bo.Uint32(h[24:]))
		phoff = uint64(e.bo.Uint32(h[28:]))
		phentsize, phnum = int(e.bo.Uint16(h[42:])), int(e.bo.Uint16(h[44:]))
	case elf.ELFCLASS64:
		e.is64 = true
		h, err := e.read(0, 64)
		if err != nil {
			return nil, fmt.Errorf("elf: header: %w", err)
		}
		info.Type, info.Machine = elf.Type(e.bo.Uint16(h[16:])).String(), elf.Machine(e.bo.Uint16(h[18:])).String()
		info.Entry = e.bo.Uint64(h[24:])
		phoff = e.bo.Uint64(h[32:])
		phentsize, phnum = int(e.bo.Uint16(h[54:])), int(e.bo.Uint16(h[56:]))
	default:
		return nil, fmt.Errorf("elf: unknown class %d", ident[elf.EI_CLASS])
	}
	fail := func(format string, a ...any) { info.Errors = append(info.Errors, fmt.Sprintf(format, a...)) }

	// Program headers.
	var phs []phdr
	want := 32
	if e.is64 {
		want = 56
	}
	switch {
	case phnum == 0:
	case phentsize < want:
		fail("program header entry size %d, want %d", phentsize, want)
	case phnum > maxPhnum:
		fail("%d program headers, more than %d", phnum, maxPhnum)
	case phoff > uint64(size):
		fail("program headers at %#x beyond the file", phoff)
	default:
		tab, err := e.read(int64(phoff), phnum*phentsize)
		if err != nil {
			fail("program headers: %v", err)
			break
		}
		for i := 0; i < phnum; i++ {
			b := tab[i*phentsize:]
			var p phdr
			if e.is64 {
				p = phdr{elf.ProgType(e.bo.Uint32(b)), e.bo.Uint64(b[8:]), e.bo.Uint64(b[16:]), e.bo.Uint64(b[32:]), e.bo.Uint64(b[40:])}
			} else {
				p = phdr{elf.ProgType(e.bo.Uint32(b)), uint64(e.bo.Uint32(b[4:])), uint64(e.bo.Uint32(b[8:])), uint64(e.bo.Uint32(b[16:])), uint64(e.bo.Uint32(b[20:]))}
			}
			phs = append(phs, p)
		}
	}
	var flags1 uint64
	for _, p := range phs {
		switch p.typ {
		case elf.PT_INTERP:
			if p.off > uint64(size) {
				fail("PT_INTERP at %#x beyond the file", p.off)
				continue
			}
			s, err := e.cstr(int64(p.off))
			if err != nil {
				fail("PT_INTERP: %v", err)
			}
			info.Interpreter = s
		case elf.PT_NOTE:
			if id := e.buildID(p.off, p.filesz); id != "" && info.BuildID == "" {
				info.BuildID = id
			}
		case elf.PT_DYNAMIC:
			flags1 = e.dynamic(info, p, phs, fail)
		}
	}
	info.Static = info.Interpreter == "" && len(info.Needed) == 0
	info.PIE = info.Type == elf.ET_DYN.String() && (info.Interpreter != "" || flags1&uint64(elf.DF_1_PIE) != 0)

	// Sections, lazily and only for the symbol table.
	if f, err := newELFFile(r); err != nil {
		info.SectionsError = err.Error()
		info.Stripped = true
	} else {
		info.Sections = len(f.Sections)
		info.Stripped = f.Section(".symtab") == nil
		// The linker may leave the build-id note outside every PT_NOTE
		// segment (Go does); readelf -n finds it through the sections.
		for _, sec := range f.Sections {
			if info.BuildID != "" {
				break
			}
			if sec.Type == elf.SHT_NOTE {
				info.BuildID = e.buildID(sec.Offset, sec.Size)
			}
		}
	}
	return info, nil
}

// vaddrToOff maps a virtual address to a file offset through PT_LOAD.
func vaddrToOff(phs []phdr, va uint64) (uint64, bool) {
	for _, p := range phs {
		if p.typ == elf.PT_LOAD && va >= p.vaddr && va-p.vaddr < p.filesz {
			return p.off + (va - p.vaddr), true
		}
	}
	return 0, false
}

func (e *elfReader) dynamic(info *ELFInfo, p phdr, phs []phdr, fail func(string, ...any)) (flags1 uint64) {
	entsz := uint64(8)
	if e.is64 {
		entsz = 16
	}
	n := p.filesz / entsz
	if n > maxDynamic {
		fail("PT_DYNAMIC: %d entries, reading %d", n, maxDynamic)
		n = maxDynamic
	}
	b, err := e.read(int64(p.off), int(n*entsz))
	if err != nil || p.off > uint64(e.size) {
		fail("PT_DYNAMIC: %v", err)
		return 0
	}
	var strtab uint64
	haveStr := false
	type ref struct {
		tag elf.DynTag
		val uint64
	}
	var refs []ref
	for i := uint64(0); i < n; i++ {
		var tag, val uint64
		if e.is64 {
			tag, val = e.bo.Uint64(b[i*16:]), e.bo.Uint64(b[i*16+8:])
		} else {
			tag, val = uint64(e.bo.Uint32(b[i*8:])), uint64(e.bo.Uint32(b[i*8+4:]))
		}
		switch elf.DynTag(tag) {
		case elf.DT_NULL:
			i = n
		case elf.DT_STRTAB:
			strtab, haveStr = val, true
		case elf.DT_NEEDED, elf.DT_SONAME, elf.DT_RPATH, elf.DT_RUNPATH:
			if len(refs) < maxNeeded {
				refs = append(refs, ref{elf.DynTag(tag), val})
			}
		case elf.DT_FLAGS_1:
			flags1 = val
		}
	}
	if len(refs) == 0 {
		return flags1
	}
	if !haveStr {
		fail("PT_DYNAMIC: names without DT_STRTAB")
		return flags1
	}
	base, ok := vaddrToOff(phs, strtab)
	if !ok {
		fail("DT_STRTAB %#x not in any PT_LOAD", strtab)
		return flags1
	}
	for _, r := range refs {
		if base+r.val < base || base+r.val > uint64(e.size) {
			fail("%v string offset %#x out of range", r.tag, r.val)
			continue
		}
		s, err := e.cstr(int64(base + r.val))
		if err != nil {
			fail("%v: %v", r.tag, err)
			continue
		}
		switch r.tag {
		case elf.DT_NEEDED:
			info.Needed = append(info.Needed, s)
		case elf.DT_SONAME:
			info.Soname = s
		case elf.DT_RPATH:
			info.Rpath = s
		case elf.DT_RUNPATH:
			info.Runpath = s
		}
	}
	return flags1
}

// buildID finds the NT_GNU_BUILD_ID note in a PT_NOTE segment or
// SHT_NOTE section at off.
func (e *elfReader) buildID(off, size uint64) string {
	if size > maxNoteBytes || off > uint64(e.size) {
		return ""
	}
	b, err := e.read(int64(off), int(size))
	if err != nil {
		return ""
	}
	for len(b) >= 12 {
		namesz, descsz, typ := uint64(e.bo.Uint32(b)), uint64(e.bo.Uint32(b[4:])), e.bo.Uint32(b[8:])
		if namesz > uint64(len(b)) || descsz > uint64(len(b)) {
			return ""
		}
		nameEnd := 12 + (namesz+3)&^3
		descEnd := nameEnd + (descsz+3)&^3
		if descEnd > uint64(len(b)) || nameEnd+descsz > uint64(len(b)) {
			return ""
		}
		if typ == 3 && namesz == 4 && string(b[12:15]) == "GNU" {
			return hex.EncodeToString(b[nameEnd : nameEnd+descsz])
		}
		b = b[descEnd:]
	}
	return ""
}

// newELFFile guards debug/elf against panics on hostile input.
func newELFFile(r io.ReaderAt) (f *elf.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("debug/elf panicked: %v", p)
		}
	}()
	return elf.NewFile(r)
}
