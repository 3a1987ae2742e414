package syslog

import (
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// authGen generates an auth.log of n bytes on the fly, so a 1 GiB log is
// parsed without a 1 GiB file or buffer.
type authGen struct {
	left int64
	i    int
	t    time.Time
	buf  []byte
	pos  int
}

func newAuthGen(n int64) *authGen {
	return &authGen{left: n, t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

var genMsgs = []string{
	"sshd[%]: Accepted publickey for alice from 203.0.113.% port 5% ssh2: ED25519 SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
	"sshd[%]: Failed password for invalid user admin from 198.51.100.% port 4% ssh2",
	"sshd[%]: Invalid user oracle from 198.51.100.% port 4%",
	"sshd[%]: Connection closed by authenticating user root 198.51.100.% port 3% [preauth]",
	"sudo:    alice : TTY=pts/% ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx%",
	"CRON[%]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
	"CRON[%]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 %)",
	"systemd-logind[%]: New session % of user alice.",
	"sshd[%]: pam_unix(sshd:session): session closed for user alice",
	"kernel: [UFW BLOCK] IN=eth0 OUT= MAC=00:00 SRC=192.0.2.% DST=10.0.0.1 LEN=40 PROTO=TCP SPT=%",
}

var genParts = func() [][]string {
	out := make([][]string, len(genMsgs))
	for i, m := range genMsgs {
		out[i] = strings.Split(m, "%")
	}
	return out
}()

// line builds the next line into g.buf.
func (g *authGen) line() {
	g.buf = g.buf[:0]
	g.pos = 0
	g.buf = g.t.AppendFormat(g.buf, time.Stamp)
	g.buf = append(g.buf, " web01 "...)
	parts := genParts[g.i%len(genParts)]
	for k, part := range parts {
		if k > 0 {
			g.buf = strconv.AppendInt(g.buf, int64(g.i%250+1), 10)
		}
		g.buf = append(g.buf, part...)
	}
	g.buf = append(g.buf, '\n')
	g.i++
	g.t = g.t.Add(time.Second)
}

// Read fills p with as many lines as fit.
func (g *authGen) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	total := 0
	for len(p) > 0 && g.left > 0 {
		if g.pos == len(g.buf) {
			g.line()
		}
		n := copy(p, g.buf[g.pos:])
		if int64(n) > g.left {
			n = int(g.left)
		}
		g.pos += n
		g.left -= int64(n)
		p = p[n:]
		total += n
	}
	return total, nil
}

// BenchmarkAuthLog parses a generated auth.log (1 GiB with
// COLDCASE_BENCH=1, 16 MiB otherwise) through Parse and Event, reporting
// lines/s and the peak heap sampled during the run, and compares with
// `grep -c "Accepted "` over the same stream (both the time and the count
// of accepted logins).
func BenchmarkAuthLog(b *testing.B) {
	size := int64(16 << 20)
	if os.Getenv("COLDCASE_BENCH") == "1" {
		size = 1 << 30
	}
	b.SetBytes(size)
	var lines, accepted int64
	var peak, liveFirst, liveLast, liveMax uint64
	var elapsed, cpu time.Duration
	// About ten samples over the run: each forces a collection so that
	// the live heap, not garbage awaiting collection, is measured.
	every := int64(1)
	for every*10*100 < size {
		every *= 2
	}
	for b.Loop() {
		lines, accepted, peak, liveFirst, liveLast, liveMax = 0, 0, 0, 0, 0, 0
		var ms runtime.MemStats
		start, cpu0 := time.Now(), cpuTime()
		st, err := Parse(newAuthGen(size), NewYearContext(2026, time.UTC), func(e *Entry) error {
			ev := Event(e, "UTC")
			if ev.TimestampDesc == "SSH login accepted" {
				accepted++
			}
			if lines++; lines%every == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
				runtime.GC()
				runtime.ReadMemStats(&ms)
				if liveFirst == 0 {
					liveFirst = ms.HeapAlloc
				}
				liveLast, liveMax = ms.HeapAlloc, max(liveMax, ms.HeapAlloc)
			}
			return nil
		}, nil)
		elapsed, cpu = time.Since(start), cpuTime()-cpu0
		if err != nil || st.Problems != 0 {
			b.Fatalf("%v, %d problems", err, st.Problems)
		}
	}
	const mib = 1 << 20
	b.ReportMetric(float64(lines)/elapsed.Seconds(), "lines/s")
	// On a shared, loaded machine wall time says little: CPU time is what
	// the parser costs.
	b.ReportMetric(float64(lines)/cpu.Seconds(), "lines/cpu-s")
	b.ReportMetric(float64(peak)/mib, "peak-heap-MiB")
	b.ReportMetric(float64(liveMax)/mib, "live-heap-MiB")
	b.Logf("%d bytes, %d lines, %d accepted logins in %v (%v CPU); live heap after GC: %.2f MiB at the first sample, %.2f MiB at the last, %.2f MiB at most; heap in use (garbage included) at most %.1f MiB",
		size, lines, accepted, elapsed, cpu, float64(liveFirst)/mib, float64(liveLast)/mib, float64(liveMax)/mib, float64(peak)/mib)

	grep, err := exec.LookPath("grep")
	if err != nil {
		b.Logf("grep not found; no comparison")
		return
	}
	cmd := exec.Command(grep, "-c", "Accepted ")
	cmd.Stdin = newAuthGen(size)
	start := time.Now()
	out, err := cmd.Output()
	gt := time.Since(start)
	if err != nil {
		b.Fatalf("grep: %v", err)
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if n != accepted {
		b.Errorf("grep counts %d accepted logins, Parse %d", n, accepted)
	}
	b.ReportMetric(elapsed.Seconds()/gt.Seconds(), "x-grep-time")
	b.Logf("grep -c \"Accepted \" on the same stream: %d in %v (coldcase/grep time ratio %.2f)", n, gt, elapsed.Seconds()/gt.Seconds())
}

// cpuTime is the user+system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
