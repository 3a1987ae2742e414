package findings

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts/binaries"
	"github.com/coldcase-dfir/coldcase/artifacts/journal"
	"github.com/coldcase-dfir/coldcase/artifacts/persistence"
	"github.com/coldcase-dfir/coldcase/artifacts/syslog"
	"github.com/coldcase-dfir/coldcase/artifacts/users"
	"github.com/coldcase-dfir/coldcase/artifacts/utmp"
	"github.com/coldcase-dfir/coldcase/timeline"
)

// Rule is one row of the rule table: either records or watch is set.
type Rule struct {
	ID       string
	Severity Severity
	Title    string
	// Why explains the rule to the reader of a report.
	Why     string
	records func(map[string]any) []Finding
	watch   func() watcher
}

// Rules is the table every examination runs.
var Rules = []Rule{
	{ID: "extra-uid0", Severity: High, Title: "Account with UID 0 besides root",
		Why:     "A second UID-0 account is a classic backdoor: it is root under another name.",
		records: userFlag(users.FlagUID0, "%s has UID 0")},
	{ID: "empty-password", Severity: High, Title: "Account with an empty password",
		Why:     "An empty password field lets anyone log in as that account.",
		records: userFlag(users.FlagEmptyPassword, "%s has an empty password")},
	{ID: "authorized-key-recent", Severity: High, Title: "authorized_keys changed recently",
		Why:     "A key added to authorized_keys gives lasting SSH access; this file changed shortly before the newest logs.",
		records: recentKeys},
	{ID: "system-account-shell", Severity: Low, Title: "System account with a login shell",
		Why:     "Service accounts normally have nologin; a shell lets them be logged into.",
		records: userFlag(users.FlagSystemShell, "%s (a system account) has a login shell")},
	{ID: "suid-unexpected", Severity: High, Title: "SUID/SGID or capability binary outside the packages or in a temp/hidden place",
		Why:     "A privileged binary that no package installed, or that sits in a temp, hidden or home folder, is how attackers keep root.",
		records: suidUnexpected},
	{ID: "executable-in-temp", Severity: High, Title: "Executable in a temp or hidden folder",
		Why:     "Dropped tools live in /tmp, /var/tmp, /dev/shm and hidden folders.",
		records: execInTemp},
	{ID: "package-modified", Severity: High, Title: "Package binary differs from the package database",
		Why:     "A binary whose hash differs from what dpkg (md5) or rpm (md5/sha256) recorded was replaced after installation (rootkits do this); prelinked binaries on old RHEL also differ.",
		records: binaryFlag(binaries.FlagPackageMismatch, "%s differs from the digest its package recorded")},
	{ID: "ld-preload", Severity: High, Title: "/etc/ld.so.preload is not empty",
		Why:     "Libraries named there are loaded into every process: a userland-rootkit technique.",
		records: persistenceKind(persistence.KindPreload)},
	{ID: "persistence-fetch-exec", Severity: High, Title: "Scheduled or boot-time command fetches and runs code",
		Why:     "cron, systemd, rc.local or profile entries that download, decode or pipe into a shell run attacker code on a schedule.",
		records: persistenceIndicators("download", "netcat", "dev_tcp", "decode", "pipe_shell", "inline_code")},
	{ID: "persistence-temp-path", Severity: High, Title: "Scheduled or boot-time command runs from a temp or hidden folder",
		Why:     "Legitimate services run from /usr; a unit or job running from /tmp or a hidden folder is suspect.",
		records: persistenceIndicators("temp_path", "hidden_path")},
	{ID: "bruteforce-then-login", Severity: High, Title: "Successful login after a burst of failures from the same address",
		Why:   "Many failed logins followed by a success from the same IP is a guessed password.",
		watch: newBruteForce},
	{ID: "timestamp-in-future", Severity: Low, Title: "File times after the guest's last log entry",
		Why:   "A file time later than everything the guest logged (by more than a day) was set by hand or by a wrong clock: a timestomping hint.",
		watch: newFutureTimes},
	{ID: "log-damaged", Severity: Medium, Title: "Login or journal file damaged or cut short",
		Why:     "Corrupt records, a partial last record or a journal cut mid-chain are what editing or wiping wtmp/btmp and the journal leaves behind.",
		records: logDamage},
	{ID: "wtmp-empty", Severity: Medium, Title: "wtmp holds no logins while auth logs show them",
		Why:     "An empty wtmp beside successful logins in the auth log means wtmp was truncated.",
		records: wtmpEmpty},
	{ID: "log-gap", Severity: Low, Title: "Long silence inside a log file",
		Why:   "A log that goes quiet for a day and resumes may have been edited; check the period around the gap.",
		watch: newLogGap},
}

// --- record rules --------------------------------------------------------

func usersOf(recs map[string]any) *users.Report {
	r, _ := recs["users"].(*users.Report)
	return r
}

func userFlag(flag, detail string) func(map[string]any) []Finding {
	return func(recs map[string]any) []Finding {
		r := usersOf(recs)
		if r == nil {
			return nil
		}
		var out []Finding
		for _, u := range r.Users {
			if slices.Contains(u.Flags, flag) {
				out = append(out, Finding{Detail: fmt.Sprintf(detail, u.Name), User: u.Name,
					Evidence: []timeline.Evidence{u.Evidence}})
			}
		}
		return out
	}
}

func recentKeys(recs map[string]any) []Finding {
	r := usersOf(recs)
	if r == nil {
		return nil
	}
	var out []Finding
	seen := map[string]bool{}
	for _, k := range r.AuthorizedKeys {
		m := k.FileMeta
		if m.Mtime.IsZero() || r.Reference.IsZero() || seen[k.File] {
			continue
		}
		if age := r.Reference.Sub(m.Mtime); age < 0 || age > r.RecentWindow {
			continue
		}
		seen[k.File] = true
		n := 0
		for _, k2 := range r.AuthorizedKeys {
			if k2.File == k.File {
				n++
			}
		}
		out = append(out, Finding{Time: m.Mtime, User: k.User, Path: k.File,
			Detail: fmt.Sprintf("%s (%d keys) modified %s, within %v of the newest log", k.File, n,
				m.Mtime.UTC().Format(time.RFC3339), r.RecentWindow),
			Evidence: []timeline.Evidence{k.Evidence}})
	}
	return out
}

func binariesOf(recs map[string]any) *binaries.Report {
	r, _ := recs["binaries"].(*binaries.Report)
	return r
}

func binaryFinding(b binaries.Binary, detail string) Finding {
	return Finding{Time: b.Mtime, Path: b.Path, User: b.Owner, Detail: detail, Evidence: []timeline.Evidence{b.Evidence}}
}

func binaryFlag(flag, detail string) func(map[string]any) []Finding {
	return func(recs map[string]any) []Finding {
		r := binariesOf(recs)
		if r == nil {
			return nil
		}
		var out []Finding
		for _, b := range r.Flagged {
			if slices.Contains(b.Flags, flag) {
				out = append(out, binaryFinding(b, fmt.Sprintf(detail, b.Path)))
			}
		}
		return out
	}
}

func suidUnexpected(recs map[string]any) []Finding {
	r := binariesOf(recs)
	if r == nil {
		return nil
	}
	var out []Finding
	for _, b := range r.Flagged {
		priv := slices.Contains(b.Flags, binaries.FlagSUID) || slices.Contains(b.Flags, binaries.FlagSGID) || slices.Contains(b.Flags, binaries.FlagCapabilities)
		odd := slices.Contains(b.Flags, binaries.FlagNotPackaged) || slices.Contains(b.Flags, binaries.FlagTempDir) ||
			slices.Contains(b.Flags, binaries.FlagHiddenPath) || slices.Contains(b.Flags, binaries.FlagHomeDir)
		if priv && odd {
			out = append(out, binaryFinding(b, fmt.Sprintf("%s (mode %s, owner %s) flags: %s", b.Path, b.Perm, b.Owner, strings.Join(b.Flags, ", "))))
		}
	}
	return out
}

func execInTemp(recs map[string]any) []Finding {
	r := binariesOf(recs)
	if r == nil {
		return nil
	}
	var out []Finding
	for _, b := range r.Flagged {
		if slices.Contains(b.Flags, binaries.FlagTempDir) || slices.Contains(b.Flags, binaries.FlagHiddenPath) {
			out = append(out, binaryFinding(b, fmt.Sprintf("%s (%s, sha256 %s) flags: %s", b.Path, b.Format, b.SHA256, strings.Join(b.Flags, ", "))))
		}
	}
	return out
}

func persistenceOf(recs map[string]any) *persistence.Report {
	r, _ := recs["persistence"].(*persistence.Report)
	return r
}

func entryFinding(e persistence.Entry, detail string) Finding {
	f := Finding{Path: e.File, User: e.Owner, Detail: detail, Evidence: []timeline.Evidence{e.Evidence}}
	f.Time = e.FileMeta.Mtime
	return f
}

func persistenceKind(kind string) func(map[string]any) []Finding {
	return func(recs map[string]any) []Finding {
		r := persistenceOf(recs)
		if r == nil {
			return nil
		}
		var out []Finding
		for _, e := range r.Entries {
			if e.Kind == kind && strings.TrimSpace(e.Command) != "" {
				out = append(out, entryFinding(e, fmt.Sprintf("%s:%d loads %s", e.File, e.Line, e.Command)))
			}
		}
		return out
	}
}

func persistenceIndicators(names ...string) func(map[string]any) []Finding {
	return func(recs map[string]any) []Finding {
		r := persistenceOf(recs)
		if r == nil {
			return nil
		}
		var out []Finding
		for _, e := range r.Entries {
			var hit []string
			for _, i := range e.Indicators {
				if slices.Contains(names, i) {
					hit = append(hit, i)
				}
			}
			if len(hit) == 0 {
				continue
			}
			what := e.Kind
			if e.Schedule != "" {
				what += " (" + e.Schedule + ")"
			}
			out = append(out, entryFinding(e, fmt.Sprintf("%s in %s runs %q [%s]", what, e.File, e.Command, strings.Join(hit, ", "))))
		}
		return out
	}
}

func logDamage(recs map[string]any) []Finding {
	var out []Finding
	if u, ok := recs["utmp"].(*utmp.Summary); ok {
		for _, f := range u.Files {
			if f.Corrupt > 0 || f.Trailing > 0 {
				out = append(out, Finding{Path: f.Path,
					Detail:   fmt.Sprintf("%s (%s): %d corrupt records, %d bytes of a partial record at the end", f.Path, f.Source, f.Corrupt, f.Trailing),
					Evidence: []timeline.Evidence{{Path: f.Path}}})
			}
		}
	}
	if j, ok := recs["journal"].(*journal.Summary); ok {
		for _, f := range j.Files {
			if f.Damage != "" {
				out = append(out, Finding{Path: f.Path, Time: f.Last,
					Detail:   fmt.Sprintf("%s: reading stopped after %d of %d entries: %s", f.Path, f.Entries, f.HeaderEntries, f.Damage),
					Evidence: []timeline.Evidence{{Path: f.Path}}})
			}
		}
	}
	return out
}

func wtmpEmpty(recs map[string]any) []Finding {
	u, ok1 := recs["utmp"].(*utmp.Summary)
	s, ok2 := recs["syslog"].(*syslog.Summary)
	if !ok1 || !ok2 || len(s.Logins) == 0 {
		return nil
	}
	var out []Finding
	for _, f := range u.Files {
		if f.Source == "wtmp" && f.Events == 0 && f.Error == "" {
			out = append(out, Finding{Path: f.Path,
				Detail: fmt.Sprintf("%s has no login records, but the auth logs record %d accepted logins (the latest at %s)", f.Path,
					len(s.Logins), s.Logins[len(s.Logins)-1].Time.UTC().Format(time.RFC3339)),
				Evidence: []timeline.Evidence{{Path: f.Path}, s.Logins[len(s.Logins)-1].Evidence}})
		}
	}
	return out
}

// --- event rules -----------------------------------------------------------

// Brute force: at least bruteMin failures from one IP within bruteWindow,
// then an accepted login from that IP within bruteFollow of the last one.
const (
	bruteMin    = 5
	bruteWindow = time.Hour
	bruteFollow = 24 * time.Hour
)

type bruteForce struct {
	fails map[string][]failure // per IP, failures within the window
	burst map[string]burst     // per IP, the latest qualifying burst
	found []Finding
}

type failure struct {
	t  time.Time
	ev timeline.Evidence
}

type burst struct {
	first, last failure
	n           int
	users       map[string]bool
}

func newBruteForce() watcher {
	return &bruteForce{fails: map[string][]failure{}, burst: map[string]burst{}}
}

func isFailure(e *timeline.Event) bool {
	switch e.TimestampDesc {
	case "SSH login failed", "SSH invalid user", "Authentication failure":
		return e.Source == "auth"
	case "Failed login":
		return e.Source == "btmp"
	}
	return false
}

func (b *bruteForce) add(e *timeline.Event) {
	if e.IP == "" {
		return
	}
	switch {
	case isFailure(e):
		// btmp and auth.log record the same failures: count one source per
		// second so they are not doubled.
		fs := b.fails[e.IP]
		if n := len(fs); n > 0 && fs[n-1].t.Equal(e.Time) {
			return
		}
		fs = append(fs, failure{e.Time, e.Evidence})
		for len(fs) > 0 && e.Time.Sub(fs[0].t) > bruteWindow {
			fs = fs[1:]
		}
		if len(fs) > 1024 { // keep state small under a flood
			fs = fs[len(fs)-1024:]
		}
		b.fails[e.IP] = fs
		if len(fs) >= bruteMin {
			bu, ok := b.burst[e.IP]
			if !ok || e.Time.Sub(bu.last.t) > bruteWindow {
				bu = burst{first: fs[0], n: len(fs) - 1, users: map[string]bool{}}
			}
			bu.last = fs[len(fs)-1]
			bu.n++
			if e.User != "" && len(bu.users) < 32 {
				bu.users[e.User] = true
			}
			b.burst[e.IP] = bu
		}
	case e.TimestampDesc == "SSH login accepted" || (e.Source == "wtmp" && e.TimestampDesc == "Login"):
		bu, ok := b.burst[e.IP]
		if !ok || e.Time.Sub(bu.last.t) > bruteFollow || e.Time.Before(bu.first.t) {
			return
		}
		if e.Source == "wtmp" && len(b.found) > 0 && b.found[len(b.found)-1].IP == e.IP &&
			b.found[len(b.found)-1].Time.Equal(e.Time) {
			return // the same login seen in auth.log
		}
		b.found = append(b.found, Finding{Time: e.Time, User: e.User, IP: e.IP,
			Detail: fmt.Sprintf("%s logged in from %s at %s after %d failed attempts from there between %s and %s",
				e.User, e.IP, e.Time.UTC().Format(time.RFC3339), bu.n,
				bu.first.t.UTC().Format(time.RFC3339), bu.last.t.UTC().Format(time.RFC3339)),
			Evidence: []timeline.Evidence{e.Evidence, bu.first.ev}})
		delete(b.burst, e.IP)
	}
	if len(b.fails) > 1<<16 { // a spray from very many addresses: forget the oldest state
		for ip := range b.fails {
			delete(b.fails, ip)
			break
		}
	}
}

func (b *bruteForce) finish() []Finding { return b.found }

// Log gaps: within one text or journal log file, consecutive events more
// than gapMin apart.
const gapMin = 24 * time.Hour

type logGap struct {
	last  map[string]timeline.Event // per evidence path
	found []Finding
}

func newLogGap() watcher { return &logGap{last: map[string]timeline.Event{}} }

func (g *logGap) add(e *timeline.Event) {
	switch e.Source {
	case "syslog", "auth", "journal", "audit":
	default:
		return
	}
	key := e.Evidence.Path
	if prev, ok := g.last[key]; ok && e.Time.Sub(prev.Time) > gapMin {
		g.found = append(g.found, Finding{Time: prev.Time, Path: key,
			Detail: fmt.Sprintf("%s has no entry between %s and %s (%v)", key,
				prev.Time.UTC().Format(time.RFC3339), e.Time.UTC().Format(time.RFC3339), e.Time.Sub(prev.Time).Round(time.Minute)),
			Evidence: []timeline.Evidence{prev.Evidence, e.Evidence}})
	}
	if len(g.last) < 1<<14 {
		g.last[key] = *e
	} else if _, ok := g.last[key]; ok {
		g.last[key] = *e
	}
}

func (g *logGap) finish() []Finding { return g.found }

// Future file times: filesystem events more than futureSlack after the
// newest log, login or journal event. Events come sorted, so every such
// event follows the last log event; candidates are held (boundedly) until
// the stream ends.
const (
	futureSlack = 24 * time.Hour
	futureMax   = 1000
)

type futureTimes struct {
	lastLog    time.Time
	candidates []timeline.Event
	more       int
}

func newFutureTimes() watcher { return &futureTimes{} }

func (f *futureTimes) add(e *timeline.Event) {
	switch e.Source {
	case "fs":
		if !f.lastLog.IsZero() && e.Time.Sub(f.lastLog) > futureSlack {
			if len(f.candidates) < futureMax {
				f.candidates = append(f.candidates, *e)
			} else {
				f.more++
			}
		}
	case "syslog", "auth", "journal", "wtmp", "btmp", "audit":
		f.lastLog = e.Time
		f.candidates, f.more = f.candidates[:0], 0 // a later log makes the held times ordinary
	}
}

func (f *futureTimes) finish() []Finding {
	var out []Finding
	for _, e := range f.candidates {
		out = append(out, Finding{Time: e.Time, Path: e.Path,
			Detail: fmt.Sprintf("%s: %s at %s, %v after the last log entry (%s)", e.Path, e.TimestampDesc,
				e.Time.UTC().Format(time.RFC3339), e.Time.Sub(f.lastLog).Round(time.Hour), f.lastLog.UTC().Format(time.RFC3339)),
			Evidence: []timeline.Evidence{e.Evidence}})
	}
	if f.more > 0 && len(out) > 0 {
		out[len(out)-1].Detail += fmt.Sprintf(" (and %d more file times like it)", f.more)
	}
	return out
}
