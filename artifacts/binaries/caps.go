package binaries

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Capabilities is a decoded security.capability extended attribute
// (struct vfs_cap_data / vfs_ns_cap_data of linux/capability.h).
type Capabilities struct {
	Version     int      `json:"version"`   // 1, 2 or 3
	Effective   bool     `json:"effective"` // the "e" of setcap: permitted caps raised at exec
	Permitted   []string `json:"permitted"`
	Inheritable []string `json:"inheritable,omitempty"`
	RootID      *uint32  `json:"root_id,omitempty"` // v3: the user namespace root the caps apply to
	Raw         string   `json:"raw"`               // hex of the attribute
}

// capNames are the capability numbers of linux/capability.h.
var capNames = []string{
	"cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid", "cap_kill",
	"cap_setgid", "cap_setuid", "cap_setpcap", "cap_linux_immutable", "cap_net_bind_service",
	"cap_net_broadcast", "cap_net_admin", "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner",
	"cap_sys_module", "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace", "cap_sys_pacct",
	"cap_sys_admin", "cap_sys_boot", "cap_sys_nice", "cap_sys_resource", "cap_sys_time",
	"cap_sys_tty_config", "cap_mknod", "cap_lease", "cap_audit_write", "cap_audit_control",
	"cap_setfcap", "cap_mac_override", "cap_mac_admin", "cap_syslog", "cap_wake_alarm",
	"cap_block_suspend", "cap_audit_read", "cap_perfmon", "cap_bpf", "cap_checkpoint_restore",
}

func capList(lo, hi uint32) []string {
	var out []string
	for i := 0; i < 64; i++ {
		var set bool
		if i < 32 {
			set = lo&(1<<i) != 0
		} else {
			set = hi&(1<<(i-32)) != 0
		}
		if !set {
			continue
		}
		if i < len(capNames) {
			out = append(out, capNames[i])
		} else {
			out = append(out, fmt.Sprintf("cap_%d", i))
		}
	}
	return out
}

// DecodeCapabilities decodes a security.capability value.
func DecodeCapabilities(b []byte) (*Capabilities, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("security.capability: %d bytes, too short", len(b))
	}
	le := binary.LittleEndian
	magic := le.Uint32(b)
	c := &Capabilities{Effective: magic&1 != 0, Raw: hex.EncodeToString(b)}
	var words int
	switch magic &^ 1 {
	case 0x01000000:
		c.Version, words = 1, 1
	case 0x02000000:
		c.Version, words = 2, 2
	case 0x03000000:
		c.Version, words = 3, 2
	default:
		return nil, fmt.Errorf("security.capability: unknown revision %#x", magic&^1)
	}
	need := 4 + 8*words
	if c.Version == 3 {
		need += 4
	}
	if len(b) < need {
		return nil, fmt.Errorf("security.capability v%d: %d bytes, want %d", c.Version, len(b), need)
	}
	var p, in [2]uint32
	for i := 0; i < words; i++ {
		p[i], in[i] = le.Uint32(b[4+8*i:]), le.Uint32(b[8+8*i:])
	}
	c.Permitted, c.Inheritable = capList(p[0], p[1]), capList(in[0], in[1])
	if c.Version == 3 {
		r := le.Uint32(b[20:])
		c.RootID = &r
	}
	return c, nil
}
