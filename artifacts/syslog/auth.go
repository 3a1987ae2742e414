package syslog

import (
	"strings"
)

// Auth is what an authentication-related syslog message tells: who did
// what from where. Desc is the event's TimestampDesc (see the package
// documentation for the list).
type Auth struct {
	Desc  string
	User  string
	IP    string
	Attrs map[string]string
}

func (a *Auth) set(k, v string) {
	if v == "" {
		return
	}
	if a.Attrs == nil {
		a.Attrs = make(map[string]string, 8)
	}
	a.Attrs[k] = v
}

// ParseAuth classifies the message of a syslog record from program prog
// (sshd, sudo, su, useradd, CRON, systemd-logind, any pam_unix user). It
// returns false for messages it does not know.
func ParseAuth(prog, msg string) (Auth, bool) {
	if i := strings.LastIndexByte(prog, '/'); i >= 0 {
		prog = prog[i+1:]
	}
	// rsyslog's repeated-message reduction: "message repeated 5 times: [ Failed password for …]".
	if r, ok := strings.CutPrefix(msg, "message repeated "); ok {
		n, inner, ok := strings.Cut(r, " times: [")
		if !ok || strings.Trim(n, "0123456789") != "" {
			return Auth{}, false
		}
		a, ok := ParseAuth(prog, strings.TrimSpace(strings.TrimSuffix(inner, "]")))
		if ok {
			a.set("repeated", n)
		}
		return a, ok
	}
	if strings.HasPrefix(msg, "pam_unix(") {
		return parsePAM(msg)
	}
	switch prog {
	case "sshd", "sshd-session", "sshd-auth":
		return parseSSHD(msg)
	case "sudo":
		return parseSudo(msg)
	case "su":
		return parseSu(msg)
	case "useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel", "gpasswd", "chpasswd", "passwd", "chage", "adduser", "deluser", "newusers", "chsh", "chfn":
		return parseShadowTools(prog, msg)
	case "CRON", "cron", "crond", "CROND":
		return parseCron(msg)
	case "systemd-logind":
		return parseLogind(msg)
	}
	return Auth{}, false
}

// word returns the text of s up to the first space and the rest after it.
func word(s string) (string, string) {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// fromIPPort reads "IP port P…" and returns IP, P and what follows.
func fromIPPort(s string) (ip, port, rest string) {
	ip, rest = word(s)
	if p, ok := strings.CutPrefix(rest, "port "); ok {
		port, rest = word(p)
	}
	return ip, port, rest
}

func parseSSHD(msg string) (Auth, bool) {
	var a Auth
	switch {
	case strings.HasPrefix(msg, "Accepted "), strings.HasPrefix(msg, "Failed "):
		verb, rest := word(msg)
		method, rest := word(rest)
		rest, ok := strings.CutPrefix(rest, "for ")
		if !ok {
			return a, false
		}
		if r, ok := strings.CutPrefix(rest, "invalid user "); ok {
			rest = r
			a.set("invalid_user", "true")
		}
		// The user name may hold spaces ("Failed password for invalid
		// user a b from …"): the last " from " ends it.
		i := strings.LastIndex(rest, " from ")
		if i < 0 {
			return a, false
		}
		a.User = rest[:i]
		ip, port, tail := fromIPPort(rest[i+len(" from "):])
		a.IP = ip
		a.set("port", port)
		a.set("method", method)
		tail = strings.TrimSpace(tail)
		if proto, fp, ok := strings.Cut(tail, ": "); ok {
			a.set("protocol", proto)
			kt, f := word(strings.TrimSpace(fp))
			f, cert := word(f)
			a.set("key_type", kt)
			a.set("fingerprint", f)
			// A certificate login goes on: "ID alice@corp (serial 7) CA ED25519 SHA256:…".
			a.set("certificate", strings.TrimSpace(cert))
		} else if tail != "" {
			a.set("protocol", tail)
		}
		if verb == "Accepted" {
			a.Desc = "SSH login accepted"
		} else {
			a.Desc = "SSH login failed"
		}
		return a, true
	case strings.HasPrefix(msg, "Invalid user "):
		rest := msg[len("Invalid user "):]
		i := strings.LastIndex(rest, " from ")
		if i < 0 {
			return a, false
		}
		a.User = rest[:i]
		ip, port, _ := fromIPPort(rest[i+len(" from "):])
		a.IP = ip
		a.set("port", port)
		a.Desc = "SSH invalid user"
		return a, true
	case strings.HasPrefix(msg, "Connection from "):
		ip, port, _ := fromIPPort(msg[len("Connection from "):])
		a.IP = ip
		a.set("port", port)
		a.Desc = "SSH connection"
		return a, true
	case strings.HasPrefix(msg, "Disconnected from "), strings.HasPrefix(msg, "Connection closed by "),
		strings.HasPrefix(msg, "Received disconnect from "), strings.HasPrefix(msg, "Connection reset by "):
		var rest string
		for _, p := range []string{"Disconnected from ", "Connection closed by ", "Received disconnect from ", "Connection reset by "} {
			if r, ok := strings.CutPrefix(msg, p); ok {
				rest = r
				break
			}
		}
		for _, p := range []string{"invalid user ", "authenticating user ", "user "} {
			if r, ok := strings.CutPrefix(rest, p); ok {
				u, r2 := word(r)
				a.User, rest = u, r2
				break
			}
		}
		ip, port, tail := fromIPPort(rest)
		a.IP = strings.TrimSuffix(ip, ":")
		a.set("port", strings.TrimSuffix(strings.SplitN(port, ":", 2)[0], ":"))
		if strings.Contains(tail, "[preauth]") {
			a.set("stage", "preauth")
		}
		a.Desc = "SSH disconnect"
		return a, true
	}
	return a, false
}

// parsePAM reads "pam_unix(SERVICE:FACILITY): …".
func parsePAM(msg string) (Auth, bool) {
	var a Auth
	head, rest, ok := strings.Cut(msg[len("pam_unix("):], "): ")
	if !ok {
		return a, false
	}
	svc, _, _ := strings.Cut(head, ":")
	a.set("service", svc)
	switch {
	case strings.HasPrefix(rest, "session opened for user "):
		u := rest[len("session opened for user "):]
		u, by, _ := strings.Cut(u, " by ")
		u, uid, _ := strings.Cut(u, "(uid=")
		a.User = u
		a.set("uid", strings.TrimSuffix(uid, ")"))
		by = strings.TrimSpace(by)
		if b, _, _ := strings.Cut(by, "(uid="); b != "" {
			a.set("by", b)
		}
		switch svc {
		case "cron":
			a.Desc = "Cron session"
		case "su", "su-l":
			a.Desc = "su"
			a.set("runas", u)
			if b := a.Attrs["by"]; b != "" {
				a.User = b
			}
		default:
			a.Desc = "Session opened"
		}
		return a, true
	case strings.HasPrefix(rest, "session closed for user "):
		a.User = strings.TrimSpace(rest[len("session closed for user "):])
		a.Desc = "Session closed"
		return a, true
	case strings.HasPrefix(rest, "authentication failure;"):
		kv := pamKV(rest[len("authentication failure;"):])
		a.User = kv["user"]
		a.IP = kv["rhost"]
		a.set("tty", kv["tty"])
		a.set("ruser", kv["ruser"])
		a.set("logname", kv["logname"])
		a.Desc = "Authentication failure"
		return a, true
	case strings.HasPrefix(rest, "password changed for "):
		a.User = strings.TrimSpace(rest[len("password changed for "):])
		a.Desc = "Password changed"
		return a, true
	}
	return a, false
}

// pamKV reads " logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root".
func pamKV(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

// parseSudo reads "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ;
// COMMAND=/bin/bash", with an optional failure note first ("3 incorrect
// password attempts ;", "user NOT in sudoers ;").
func parseSudo(msg string) (Auth, bool) {
	var a Auth
	user, rest, ok := strings.Cut(msg, " : ")
	if !ok || strings.ContainsAny(strings.TrimSpace(user), " ") {
		return a, false
	}
	a.User = strings.TrimSpace(user)
	parts := strings.Split(rest, " ; ")
	var result []string
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || strings.ContainsAny(k, " ") {
			result = append(result, strings.TrimSpace(p))
			continue
		}
		switch k {
		case "TTY":
			a.set("tty", v)
		case "PWD":
			a.set("pwd", v)
		case "USER":
			a.set("runas", v)
		case "GROUP":
			a.set("rungroup", v)
		case "COMMAND":
			// A command may itself hold " ; ": the rest of the line is it.
			a.set("command", strings.Join(append([]string{v}, parts[i+1:]...), " ; "))
			a.set("result", strings.Join(result, "; "))
			a.Desc = "sudo"
			return a, true
		}
	}
	if a.Attrs["tty"] == "" && a.Attrs["runas"] == "" {
		return Auth{}, false
	}
	a.set("result", strings.Join(result, "; "))
	a.Desc = "sudo"
	return a, true
}

// parseSu reads Debian's "(to root) alice on pts/0", "FAILED SU (to root)
// alice on pts/0", "Successful su for root by alice" and "+ pts/0
// alice:root".
func parseSu(msg string) (Auth, bool) {
	var a Auth
	rest := msg
	if r, ok := strings.CutPrefix(rest, "FAILED SU "); ok {
		rest = r
		a.set("result", "failed")
	}
	switch {
	case strings.HasPrefix(rest, "(to "):
		target, r, ok := strings.Cut(rest[len("(to "):], ") ")
		if !ok {
			return a, false
		}
		user, tty, _ := strings.Cut(r, " on ")
		a.User = user
		a.set("runas", target)
		a.set("tty", tty)
	case strings.HasPrefix(rest, "Successful su for "):
		target, user, _ := strings.Cut(rest[len("Successful su for "):], " by ")
		a.User = user
		a.set("runas", target)
	case strings.HasPrefix(rest, "+ "), strings.HasPrefix(rest, "- "):
		tty, pair := word(rest[2:])
		user, target, ok := strings.Cut(pair, ":")
		if !ok {
			return a, false
		}
		a.User = user
		a.set("runas", target)
		a.set("tty", tty)
		if rest[0] == '-' {
			a.set("result", "failed")
		}
	default:
		return a, false
	}
	a.Desc = "su"
	return a, true
}

// listKV reads shadow-utils' "name=bob, UID=1001, GID=1001, home=/home/bob".
func listKV(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Split(s, ", ") {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// quoted returns the first '…' quoted string of s and what follows it.
func quoted(s string) (string, string) {
	i := strings.IndexByte(s, '\'')
	if i < 0 {
		return "", s
	}
	j := strings.IndexByte(s[i+1:], '\'')
	if j < 0 {
		return "", s
	}
	return s[i+1 : i+1+j], s[i+2+j:]
}

// parseShadowTools reads the messages of useradd, usermod, userdel,
// groupadd, groupdel, passwd and chpasswd.
func parseShadowTools(prog, msg string) (Auth, bool) {
	var a Auth
	a.set("program", prog)
	switch {
	case strings.HasPrefix(msg, "new user: "):
		kv := listKV(msg[len("new user: "):])
		a.User = kv["name"]
		a.set("uid", kv["UID"])
		a.set("gid", kv["GID"])
		a.set("home", kv["home"])
		a.set("shell", kv["shell"])
		a.set("from", kv["from"])
		a.Desc = "User added"
	case strings.HasPrefix(msg, "new group: "), strings.HasPrefix(msg, "group added to "):
		_, r, _ := strings.Cut(msg, ": ")
		kv := listKV(r)
		a.set("group", kv["name"])
		a.set("gid", kv["GID"])
		a.Desc = "Group added"
	case strings.HasPrefix(msg, "delete user "):
		a.User, _ = quoted(msg)
		a.Desc = "User deleted"
	case strings.HasPrefix(msg, "group '") && strings.HasSuffix(msg, " removed"),
		strings.HasPrefix(msg, "removed group "):
		g, _ := quoted(msg)
		a.set("group", g)
		a.Desc = "Group deleted"
	case strings.HasPrefix(msg, "change user ") && strings.HasSuffix(msg, " password"):
		a.User, _ = quoted(msg)
		a.Desc = "Password changed"
	case strings.HasPrefix(msg, "password for ") && strings.Contains(msg, " changed by "):
		a.User, _ = quoted(msg)
		a.Desc = "Password changed"
	case strings.HasPrefix(msg, "change user "), strings.HasPrefix(msg, "lock user "), strings.HasPrefix(msg, "unlock user "):
		u, _ := quoted(msg)
		a.User = u
		a.set("change", msg)
		a.Desc = "User modified"
	case strings.HasPrefix(msg, "add '"), strings.HasPrefix(msg, "delete '"):
		u, r := quoted(msg)
		g, _ := quoted(r)
		a.User = u
		a.set("group", g)
		a.set("change", msg)
		a.Desc = "User modified"
	default:
		return Auth{}, false
	}
	return a, true
}

// parseCron reads "(root) CMD (command)".
func parseCron(msg string) (Auth, bool) {
	var a Auth
	if !strings.HasPrefix(msg, "(") {
		return a, false
	}
	user, rest, ok := strings.Cut(msg[1:], ") ")
	if !ok {
		return a, false
	}
	cmd, ok := strings.CutPrefix(rest, "CMD (")
	if !ok || !strings.HasSuffix(cmd, ")") {
		return a, false
	}
	a.User = user
	a.set("command", cmd[:len(cmd)-1])
	a.Desc = "Cron command"
	return a, true
}

// parseLogind reads "New session 3 of user alice." and "Removed session 3.".
func parseLogind(msg string) (Auth, bool) {
	var a Auth
	switch {
	case strings.HasPrefix(msg, "New session "):
		id, rest := word(msg[len("New session "):])
		u, ok := strings.CutPrefix(rest, "of user ")
		if !ok {
			return a, false
		}
		a.User = strings.TrimSuffix(u, ".")
		a.set("session", id)
		a.Desc = "Login session"
	case strings.HasPrefix(msg, "Removed session "):
		a.set("session", strings.TrimSuffix(msg[len("Removed session "):], "."))
		a.Desc = "Session removed"
	default:
		return a, false
	}
	return a, true
}
