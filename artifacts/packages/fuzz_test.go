package packages

import (
	"bytes"
	"testing"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts/syslog"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// check runs a parser and its events over data.
func check(t *testing.T, parse func(fn func(*Record) error) (Stats, error)) {
	var n int64
	st, err := parse(func(r *Record) error {
		n++
		if r.Line < 1 || r.Line > n+1<<20 {
			t.Fatalf("record at line %d", r.Line)
		}
		if e, ok := Event(r, "UTC"); ok && (e.Source != r.Manager || e.TimestampDesc == "") {
			t.Fatalf("event %+v", e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != n {
		t.Fatalf("%d records counted, %d seen", st.Records, n)
	}
}

func FuzzDpkg(f *testing.F) {
	testenv.SeedPeer(f, "artifacts/plaso/dpkg.log")
	f.Add([]byte("2026-07-11 10:00:00 remove nmap:amd64 7.93 <none>\n2026-07-11 10:00:01 status installed a:b 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, func(fn func(*Record) error) (Stats, error) {
			return ParseDpkg(bytes.NewReader(data), time.UTC, fn, nil)
		})
	})
}

func FuzzAptHistory(f *testing.F) {
	testenv.SeedPeer(f, "artifacts/dissect/apt_history.log")
	f.Add([]byte("Start-Date: 2026-07-12  09:00:00\nRequested-By: a (1)\nInstall: a (1, automatic), b (2\nEnd-Date: x\nUpgrade: c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, func(fn func(*Record) error) (Stats, error) {
			return ParseAptHistory(bytes.NewReader(data), time.UTC, fn, nil)
		})
	})
}

func FuzzYum(f *testing.F) {
	testenv.SeedPeer(f, "artifacts/dissect/yum.log")
	f.Add([]byte("Dec 31 23:00:00 Installed: 1:nc-7.92-1.el9.x86_64\nJan  1 01:00:00 Erased: nc\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		span, err := syslog.ScanYears(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		yc := syslog.NewYearContext(span.StartYear(time.Unix(1704067199, 0), time.UTC), time.UTC)
		check(t, func(fn func(*Record) error) (Stats, error) { return ParseYum(bytes.NewReader(data), yc, fn, nil) })
	})
}

func FuzzDnf(f *testing.F) {
	f.Add([]byte("2026-03-01T10:00:00+0000 SUBDEBUG Upgrade: curl-8.2.1-1.fc39.x86_64\n2026-03-01T09:59:00+0100 DDEBUG Command: dnf upgrade curl\n" +
		`2024-11-05T11:30:45+0000 [1234] INFO --- DNF5 launched with arguments: "dnf5 install htop" ---` + "\n2019-05-09T07:53:20Z SUBDEBUG Erase: 3:x.noarch\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, func(fn func(*Record) error) (Stats, error) { return ParseDnf(bytes.NewReader(data), fn, nil) })
	})
}
