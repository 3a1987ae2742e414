package system

import (
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Interface is a network interface as one configuration system describes it.
type Interface struct {
	Name   string `json:"name"`
	Source string `json:"source"` // "ifupdown", "netplan", "networkmanager", "sysconfig"
	File   string `json:"file"`
	Line   int64  `json:"line,omitempty"`
	// Method is "dhcp", "static", "manual", "loopback", "auto" (NM), …
	Method    string            `json:"method,omitempty"`
	Addresses []string          `json:"addresses,omitempty"` // CIDR where the prefix is known
	Gateway   string            `json:"gateway,omitempty"`
	DNS       []string          `json:"dns,omitempty"`
	MAC       string            `json:"mac,omitempty"`
	OnBoot    *bool             `json:"on_boot,omitempty"`
	Details   map[string]string `json:"details,omitempty"` // connection id, SSID, type, …
}

func splitLines(data []byte) []string {
	ls := strings.Split(string(data), "\n")
	for i, l := range ls {
		if len(l) > maxLine {
			ls[i] = ""
			continue
		}
		ls[i] = strings.TrimRight(l, "\r")
	}
	return ls
}

// maskBits converts a dotted netmask to a prefix length, or -1.
func maskBits(m string) int {
	parts := strings.Split(m, ".")
	if len(parts) != 4 {
		if n, err := strconv.Atoi(m); err == nil && n >= 0 && n <= 128 {
			return n
		}
		return -1
	}
	bits, seenZero := 0, false
	for _, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v > 255 {
			return -1
		}
		for i := 7; i >= 0; i-- {
			if v&(1<<i) != 0 {
				if seenZero {
					return -1
				}
				bits++
			} else {
				seenZero = true
			}
		}
	}
	return bits
}

// ParseIfupdown reads /etc/network/interfaces (or a file it sources).
// It returns the iface stanzas and the "source"/"source-directory" paths.
func ParseIfupdown(file string, data []byte) (ifs []Interface, sources []string) {
	auto := map[string]bool{}
	var cur *Interface
	netmask := ""
	flush := func() {
		if cur != nil {
			if netmask != "" && len(cur.Addresses) > 0 && !strings.Contains(cur.Addresses[0], "/") {
				if b := maskBits(netmask); b >= 0 {
					cur.Addresses[0] += "/" + strconv.Itoa(b)
				}
			}
			ifs = append(ifs, *cur)
		}
		cur, netmask = nil, ""
	}
	for i, l := range splitLines(data) {
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' {
			continue
		}
		f := strings.Fields(t)
		switch f[0] {
		case "iface":
			flush()
			cur = &Interface{Source: "ifupdown", File: file, Line: int64(i + 1), Details: map[string]string{}}
			if len(f) > 1 {
				cur.Name = f[1]
			}
			if len(f) > 3 {
				cur.Method = f[3]
				cur.Details["family"] = f[2]
			}
		case "auto", "allow-hotplug", "allow-auto":
			for _, n := range f[1:] {
				auto[n] = true
			}
		case "source", "source-directory":
			flush()
			if len(f) > 1 {
				p := f[1]
				if !strings.HasPrefix(p, "/") {
					p = path.Join(path.Dir(file), p)
				}
				if f[0] == "source-directory" {
					p = path.Join(p, "*")
				}
				sources = append(sources, p)
			}
		case "mapping":
			flush()
		default:
			if cur == nil || len(f) < 2 {
				continue
			}
			v := strings.Join(f[1:], " ")
			switch f[0] {
			case "address":
				cur.Addresses = append(cur.Addresses, f[1])
			case "netmask":
				netmask = f[1]
			case "gateway":
				cur.Gateway = f[1]
			case "dns-nameservers":
				cur.DNS = append(cur.DNS, f[1:]...)
			case "hwaddress":
				cur.MAC = f[len(f)-1]
			default:
				if len(cur.Details) < 100 {
					cur.Details[f[0]] = v
				}
			}
		}
	}
	flush()
	for i := range ifs {
		on := auto[ifs[i].Name]
		ifs[i].OnBoot = &on
	}
	return ifs, sources
}

// ParseNetplan reads a netplan YAML file with a small indentation-based
// reader: enough for network.<type>.<name> with dhcp4/dhcp6, addresses,
// gateway4/6, routes' default via, nameservers.addresses, macaddress and
// match.macaddress, in block or flow ("[a, b]") lists.
func ParseNetplan(file string, data []byte) []Interface {
	type frame struct {
		indent int
		key    string
	}
	var stack []frame
	var out []Interface
	idx := map[string]int{}
	get := func(name string, line int) *Interface {
		if i, ok := idx[name]; ok {
			return &out[i]
		}
		idx[name] = len(out)
		out = append(out, Interface{Name: name, Source: "netplan", File: file, Line: int64(line), Details: map[string]string{}})
		return &out[len(out)-1]
	}
	for i, l := range splitLines(data) {
		if j := strings.Index(l, " #"); j >= 0 {
			l = l[:j]
		}
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' {
			continue
		}
		indent := len(l) - len(strings.TrimLeft(l, " "))
		item := strings.HasPrefix(t, "- ")
		if item {
			t = strings.TrimSpace(t[2:])
			indent += 2
		}
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		k, v, hasColon := strings.Cut(t, ":")
		if item && (!hasColon || strings.HasPrefix(t, `"`) || strings.HasPrefix(t, "'") || strings.Count(t, ":") > 1 && !strings.Contains(t, ": ")) {
			// A scalar list item (an address such as "fe80::1/64").
			k, v, hasColon = "", t, false
		}
		k, v = strings.Trim(strings.TrimSpace(k), `"'`), strings.Trim(strings.TrimSpace(v), `"'`)
		keys := make([]string, len(stack))
		for n, f := range stack {
			keys[n] = f.key
		}
		if len(keys) >= 3 && keys[0] == "network" && netplanTypes[keys[1]] {
			iface := get(keys[2], i+1)
			iface.Details["type"] = keys[1]
			rel := strings.Join(keys[3:], ".")
			full := rel
			if hasColon {
				if full != "" {
					full += "."
				}
				full += k
			}
			vals := flowList(v)
			switch {
			case full == "dhcp4" || full == "dhcp6":
				if v == "true" || v == "yes" {
					iface.Method = "dhcp"
				}
			case full == "addresses" && !hasColon || full == "addresses" && len(vals) > 0:
				iface.Addresses = append(iface.Addresses, vals...)
				if iface.Method == "" {
					iface.Method = "static"
				}
			case full == "gateway4" || full == "gateway6":
				iface.Gateway = v
			case full == "routes.via":
				if iface.Gateway == "" {
					iface.Gateway = v
				}
			case full == "nameservers.addresses":
				iface.DNS = append(iface.DNS, vals...)
			case full == "macaddress" || full == "match.macaddress":
				iface.MAC = v
			case full == "access-points" && hasColon && v == "":
			case rel == "access-points" && hasColon:
				iface.Details["ssid"] = k
			}
		}
		if hasColon && v == "" {
			stack = append(stack, frame{indent, k})
		}
	}
	return out
}

var netplanTypes = map[string]bool{"ethernets": true, "wifis": true, "bonds": true, "bridges": true, "vlans": true, "tunnels": true, "modems": true}

// flowList reads "[a, b]" or a single scalar.
func flowList(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		var out []string
		for _, x := range strings.Split(v[1:len(v)-1], ",") {
			if x = strings.Trim(strings.TrimSpace(x), `"'`); x != "" {
				out = append(out, x)
			}
		}
		return out
	}
	return []string{strings.Trim(v, `"'`)}
}

// parseINI reads a keyfile (NetworkManager) into section → key → value.
func parseINI(data []byte) map[string]map[string]string {
	out := map[string]map[string]string{}
	sec := ""
	for _, l := range splitLines(data) {
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		if t[0] == '[' && strings.HasSuffix(t, "]") {
			sec = t[1 : len(t)-1]
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		if out[sec] == nil {
			out[sec] = map[string]string{}
		}
		out[sec][strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

// ParseNMConnection reads a NetworkManager keyfile connection.
func ParseNMConnection(file string, data []byte) Interface {
	ini := parseINI(data)
	c := ini["connection"]
	i := Interface{Name: c["interface-name"], Source: "networkmanager", File: file, Details: map[string]string{}}
	for _, k := range []string{"id", "type", "uuid"} {
		if c[k] != "" {
			i.Details[k] = c[k]
		}
	}
	if s := ini["wifi"]["ssid"]; s != "" {
		i.Details["ssid"] = s
	}
	if ac, ok := c["autoconnect"]; ok {
		on := ac != "false"
		i.OnBoot = &on
	}
	for _, sec := range []string{"ethernet", "wifi", "802-3-ethernet"} {
		if m := ini[sec]["mac-address"]; m != "" {
			i.MAC = m
		}
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		s := ini[fam]
		if s == nil {
			continue
		}
		if m := s["method"]; m != "" && (i.Method == "" || i.Method == "auto" && m != "ignore" && m != "disabled") {
			if fam == "ipv4" || i.Method == "" {
				i.Method = m
			}
		}
		keys := slices.Sorted(maps.Keys(s))
		for _, k := range keys {
			if k == "addresses" || strings.HasPrefix(k, "address") {
				// "10.0.0.5/24,10.0.0.1" or "10.0.0.5/24;…"
				for _, a := range strings.FieldsFunc(s[k], func(r rune) bool { return r == ';' }) {
					parts := strings.Split(a, ",")
					i.Addresses = append(i.Addresses, strings.TrimSpace(parts[0]))
					if len(parts) > 1 && i.Gateway == "" {
						i.Gateway = strings.TrimSpace(parts[1])
					}
				}
			}
		}
		if g := s["gateway"]; g != "" {
			i.Gateway = g
		}
		for _, d := range strings.FieldsFunc(s["dns"], func(r rune) bool { return r == ';' || r == ',' }) {
			i.DNS = append(i.DNS, strings.TrimSpace(d))
		}
	}
	return i
}

// ParseIfcfg reads a RHEL /etc/sysconfig/network-scripts/ifcfg-* file.
func ParseIfcfg(file string, data []byte) Interface {
	kv := map[string]string{}
	for _, l := range splitLines(data) {
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if ok {
			kv[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	i := Interface{Name: kv["DEVICE"], Source: "sysconfig", File: file, Method: strings.ToLower(kv["BOOTPROTO"]), Gateway: kv["GATEWAY"], MAC: kv["HWADDR"], Details: map[string]string{}}
	if i.Name == "" {
		i.Name = strings.TrimPrefix(path.Base(file), "ifcfg-")
	}
	if i.Method == "none" {
		i.Method = "static"
	}
	for _, n := range []string{"", "0", "1", "2", "3"} {
		ip := kv["IPADDR"+n]
		if ip == "" {
			continue
		}
		if p := kv["PREFIX"+n]; p != "" {
			ip += "/" + p
		} else if b := maskBits(kv["NETMASK"+n]); b >= 0 {
			ip += "/" + strconv.Itoa(b)
		}
		i.Addresses = append(i.Addresses, ip)
	}
	for _, n := range []string{"DNS1", "DNS2", "DNS3"} {
		if kv[n] != "" {
			i.DNS = append(i.DNS, kv[n])
		}
	}
	if ob, ok := kv["ONBOOT"]; ok {
		on := strings.EqualFold(ob, "yes")
		i.OnBoot = &on
	}
	for _, k := range []string{"TYPE", "NAME", "UUID"} {
		if kv[k] != "" {
			i.Details[strings.ToLower(k)] = kv[k]
		}
	}
	return i
}
