package binaries

import (
	"fmt"
	"io"
	"time"

	"github.com/saferwall/pe"
	pelog "github.com/saferwall/pe/log"
)

// PEInfo is what a triage needs from a PE file found on the guest.
type PEInfo struct {
	Machine string `json:"machine"` // "x86", "x64", …  (IMAGE_FILE_MACHINE_*)
	Is64    bool   `json:"is64"`
	Kind    string `json:"kind"` // "exe", "dll", "driver"
	// CompileTime is the COFF header's TimeDateStamp (UTC); easily forged.
	CompileTime time.Time `json:"compile_time"`
	TimeDate    uint32    `json:"time_date_stamp"`
	Subsystem   string    `json:"subsystem,omitempty"`
	// Imphash is pefile's import hash (md5 of the ordered "lib.func" list).
	Imphash string   `json:"imphash,omitempty"`
	Imports []string `json:"imports,omitempty"` // DLL names, delay-loaded ones marked " (delay)"
	// Signed: an Authenticode certificate table is present (not verified).
	Signed    bool     `json:"signed"`
	Anomalies []string `json:"anomalies,omitempty"`
}

var machines = map[uint16]string{0x14c: "x86", 0x8664: "x64", 0x1c0: "arm", 0x1c4: "armnt", 0xaa64: "arm64", 0x200: "ia64", 0x5064: "riscv64"}

// ReadPE parses a PE image held in memory with saferwall/pe. A panic in the
// library on hostile input becomes an error.
func ReadPE(data []byte) (info *PEInfo, err error) {
	defer func() {
		if p := recover(); p != nil {
			info, err = nil, fmt.Errorf("pe: parser panicked: %v", p)
		}
	}()
	f, err := pe.NewBytes(data, &pe.Options{
		Logger:                     pelog.NewStdLogger(io.Discard),
		DisableCertValidation:      true,
		DisableSignatureValidation: true,
		OmitResourceDirectory:      true,
		OmitRelocDirectory:         true,
		OmitExceptionDirectory:     true,
		OmitCLRMetadata:            true,
		OmitDebugDirectory:         true,
	})
	if err != nil {
		return nil, fmt.Errorf("pe: %w", err)
	}
	if err := f.Parse(); err != nil {
		return nil, fmt.Errorf("pe: %w", err)
	}
	fh := f.NtHeader.FileHeader
	info = &PEInfo{
		Machine:     machines[uint16(fh.Machine)],
		Is64:        f.Is64,
		TimeDate:    fh.TimeDateStamp,
		CompileTime: time.Unix(int64(fh.TimeDateStamp), 0).UTC(),
		Signed:      f.HasCertificate || f.IsSigned,
		Anomalies:   f.Anomalies,
	}
	if info.Machine == "" {
		info.Machine = fmt.Sprintf("%#x", uint16(fh.Machine))
	}
	switch {
	case f.IsDriver():
		info.Kind = "driver"
	case f.IsDLL():
		info.Kind = "dll"
	default:
		info.Kind = "exe"
	}
	switch oh := f.NtHeader.OptionalHeader.(type) {
	case pe.ImageOptionalHeader32:
		info.Subsystem = oh.Subsystem.String()
	case pe.ImageOptionalHeader64:
		info.Subsystem = oh.Subsystem.String()
	}
	if h, err := f.ImpHash(); err == nil {
		info.Imphash = h
	}
	for _, imp := range f.Imports {
		info.Imports = append(info.Imports, imp.Name)
	}
	for _, imp := range f.DelayImports {
		info.Imports = append(info.Imports, imp.Name+" (delay)")
	}
	return info, nil
}
