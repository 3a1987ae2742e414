package syslog

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// seeds adds the lines of the plaso and dissect syslog samples when present
// and a few hand-written ones.
func seeds(f *testing.F, add func(line string)) {
	for _, l := range []string{
		"Jan  1 00:00:00 h sshd[1]: Accepted password for a from 1.2.3.4 port 5 ssh2",
		"<13>Feb 29 12:00:00.123 h p: m",
		"Nov 18 08:30:20 kernel: [997.390602] x",
		"Nov 18 01:15:43: --- last message repeated 5 times ---",
		"2026-09-12T02:15:30.123456+02:00 host sudo:  u : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh",
		`<165>1 2003-10-11T22:14:15.003Z m e - ID47 [a b="]\"" c="d"][e] msg`,
		"<1>1 - - - - - -",
	} {
		add(l)
	}
	shared := os.Getenv("COLDCASE_SHARED")
	if shared == "" {
		shared = filepath.Join("..", "..", "..", "shared")
	}
	files, _ := filepath.Glob(filepath.Join(shared, "peerdata", "artifacts", "plaso", "syslog", "*"))
	files = append(files, filepath.Join(shared, "peerdata", "artifacts", "dissect", "secure"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, l := range bytes.Split(b, []byte("\n")) {
			add(string(l))
		}
	}
}

func FuzzParseLine(f *testing.F) {
	seeds(f, func(l string) { f.Add([]byte(l)) })
	f.Fuzz(func(t *testing.T, line []byte) {
		yc := NewYearContext(2026, time.UTC)
		r, err := ParseLine(line, yc)
		if err != nil {
			return
		}
		if len(r.Message) > len(line) || len(r.Host) > len(line) || len(r.Program) > len(line) {
			t.Fatalf("fields longer than the line: %+v", r)
		}
		if r.Local && (r.Time.Year() < 2026 || r.Time.Year() > 2027) {
			t.Fatalf("local stamp in year %d", r.Time.Year())
		}
		if r.Time.Location() != time.UTC {
			t.Fatalf("time not UTC: %v", r.Time)
		}
	})
}

func FuzzParseAuth(f *testing.F) {
	seeds(f, func(l string) {
		if r, err := ParseLine([]byte(l), NewYearContext(2026, nil)); err == nil {
			f.Add(r.Program, r.Message)
		}
	})
	for _, p := range []string{"sshd", "sudo", "su", "useradd", "usermod", "CRON", "systemd-logind", "passwd"} {
		f.Add(p, "pam_unix(x:session): session opened for user a(uid=0) by b(uid=1)")
	}
	f.Fuzz(func(t *testing.T, prog, msg string) {
		a, ok := ParseAuth(prog, msg)
		if !ok {
			return
		}
		if a.Desc == "" || len(a.User) > len(msg) || len(a.IP) > len(msg) {
			t.Fatalf("%q %q: %+v", prog, msg, a)
		}
	})
}

// FuzzParse runs the streaming parser (continuations, NULs, cut lines) and
// the year scan over whole files.
func FuzzParse(f *testing.F) {
	var all bytes.Buffer
	seeds(f, func(l string) { all.WriteString(l + "\n") })
	f.Add(all.Bytes())
	f.Add([]byte("Dec 31 23:59:59 h a: x\nJan  1 00:00:00 h a: y\n\tcont\n\x00\x00Feb  1 00:00:00 h a: z"))
	f.Fuzz(func(t *testing.T, data []byte) {
		span, err := ScanYears(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		y := span.StartYear(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.UTC)
		if y > 2026 || y < 2025-int(span.Wraps) {
			t.Fatalf("start year %d for %+v", y, span)
		}
		yc := NewYearContext(y, time.UTC)
		var last int64
		st, err := Parse(bytes.NewReader(data), yc, func(e *Entry) error {
			if e.Line <= last || e.Lines < 1 {
				t.Fatalf("entry at line %d after %d", e.Line, last)
			}
			last = e.Line
			return nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Records > st.Lines || yc.Wraps != span.Wraps {
			t.Fatalf("stats %+v, wraps %d vs %d", st, yc.Wraps, span.Wraps)
		}
	})
}
