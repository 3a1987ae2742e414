package users

import (
	"io"
	"strings"

	"github.com/coldcase-dfir/coldcase/artifacts"
)

// ParseSessionUsers recovers accounts from desktop-session environment
// lines in syslog ("dbus-update-activation-environment: setting
// HOME=/home/local/alice"): SHELL and HOME are remembered until a USER line
// closes the set. Each distinct (user, home, shell) is returned once, in
// file order. Directory users (sssd, LDAP) show up this way although
// /etc/passwd does not list them.
func ParseSessionUsers(file string, r io.Reader) ([]SessionUser, []LineError) {
	lr := newLineReader(r)
	var out []SessionUser
	seen := map[[3]string]bool{}
	var home, shell string
	const marker = "dbus-update-activation-environment: setting "
	for {
		l, ok := lr.next()
		if !ok {
			break
		}
		i := strings.Index(l, marker)
		if i < 0 {
			continue
		}
		k, v, ok := strings.Cut(l[i+len(marker):], "=")
		if !ok {
			continue
		}
		switch k {
		case "HOME":
			home = v
		case "SHELL":
			shell = v
		case "USER":
			key := [3]string{v, home, shell}
			if !seen[key] && len(out) < 10000 {
				seen[key] = true
				out = append(out, SessionUser{Name: v, Home: home, Shell: shell, File: Abs(file), Line: lr.n})
			}
			home, shell = "", ""
		}
	}
	return out, lr.errors()
}

// sessionUsers reads syslog and messages (with rotations) for session
// users.
func (x *extraction) sessionUsers() []SessionUser {
	var out []SessionUser
	for _, base := range []string{"var/log/syslog", "var/log/messages"} {
		for _, p := range artifacts.Rotated(x.env.FS, base) {
			if x.ctx.Err() != nil {
				return out
			}
			rc, err := artifacts.OpenLog(x.env.FS, p)
			if err != nil {
				x.warn(p, 0, err.Error())
				continue
			}
			su, errs := ParseSessionUsers(p, rc)
			rc.Close()
			x.lineErrs(p, errs)
			out = append(out, su...)
		}
	}
	return out
}
