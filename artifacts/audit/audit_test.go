package audit

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/artifacts/syslog"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
	"github.com/coldcase-dfir/coldcase/timeline"
)

func parseFile(t *testing.T, path string) ([]Event, Stats, []syslog.Problem) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var es []Event
	var ps []syslog.Problem
	st, err := Parse(f, func(e *Event) error { es = append(es, *e); return nil }, func(p syslog.Problem) { ps = append(ps, p) })
	if err != nil {
		t.Fatal(err)
	}
	return es, st, ps
}

func records(es []Event) []Record {
	var rs []Record
	for _, e := range es {
		rs = append(rs, e.Records...)
	}
	return rs
}

func TestPeerDissectAudit(t *testing.T) {
	es, st, ps := parseFile(t, testenv.PeerData(t, "artifacts/dissect/audit.log"))
	rs := records(es)
	// dissect tests/plugins/os/unix/log/test_audit.py#L17-39: 4 records; #0 SYSCALL, ts 1364481363.243,
	// serial 24287, message starts "arch=c000003e syscall=2 success=no exit=-13" and ends
	// `comm="cat" exe="/bin/cat" subj=unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023 key="sshd_config"`;
	// #1 CWD, same ts/serial, message `cwd="/home/shadowman"`.
	if st.Records != 4 || len(rs) != 4 || len(ps) != 0 {
		t.Fatalf("%d records (%d kept), problems %v", st.Records, len(rs), ps)
	}
	ts := time.Unix(1364481363, 243e6).UTC()
	r := rs[0]
	if r.Type != "SYSCALL" || !r.Time.Equal(ts) || r.Serial != 24287 ||
		!strings.HasPrefix(r.Body, "arch=c000003e syscall=2 success=no exit=-13 ") ||
		!strings.HasSuffix(r.Body, `comm="cat" exe="/bin/cat" subj=unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023 key="sshd_config"`) {
		t.Errorf("#0 = %+v", r)
	}
	r = rs[1]
	if r.Type != "CWD" || !r.Time.Equal(ts) || r.Serial != 24287 || r.Body != `cwd="/home/shadowman"` {
		t.Errorf("#1 = %+v", r)
	}
	// All four records share one serial: one event.
	if len(es) != 1 {
		t.Fatalf("%d events", len(es))
	}
	te := TimelineEvent(&es[0])
	if te.TimestampDesc != "Audit SYSCALL" || te.User != "1000" || te.Path != "/bin/cat" || te.Attrs["cwd"] != "/home/shadowman" ||
		te.Attrs["paths"] != "/etc/ssh/sshd_config" || te.Attrs["success"] != "no" || te.Attrs["key"] != "sshd_config" ||
		te.Attrs["proctitle"] != "cat /etc/ssh/sshd_config" {
		t.Errorf("event %+v", te)
	}
}

func TestPeerPlasoEnriched(t *testing.T) {
	es, st, ps := parseFile(t, testenv.PeerData(t, "artifacts/plaso/audit_enriched.log"))
	rs := records(es)
	// plaso tests/parsers/text_plugins/selinux.py#L130-165: 29 events (one per record); #11 SYSCALL serial 485,
	// system_call execve (enriched SYSCALL=execve, raw 59), exe /usr/bin/id, comm id, ppid 2176, pid 2219,
	// auid 0, ses 8, uid/gid 0, success yes, exit 0, subj unconfined_u:…; body must not contain 0x1d.
	if st.Records != 29 || len(rs) != 29 || len(ps) != 0 {
		t.Fatalf("%d records (%d kept), problems %v", st.Records, len(rs), ps)
	}
	r := rs[11]
	sc, _ := r.GetEnriched("SYSCALL")
	want := map[string]string{"syscall": "59", "exe": "/usr/bin/id", "comm": "id", "ppid": "2176", "pid": "2219", "auid": "0",
		"ses": "8", "uid": "0", "gid": "0", "success": "yes", "exit": "0", "subj": "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023"}
	if r.Type != "SYSCALL" || r.Serial != 485 || sc != "execve" || strings.Contains(r.Body, "\x1d") {
		t.Errorf("#11 = %+v", r)
	}
	for k, v := range want {
		if got := r.Value(k); got != v {
			t.Errorf("#11 %s = %q, want %q", k, got, v)
		}
	}
	for _, r := range rs {
		if strings.Contains(r.Body, "\x1d") {
			t.Errorf("body with 0x1d: %q", r.Body)
		}
	}
	// The event of serial 485 is an exec of id by root.
	var e485 *Event
	for i := range es {
		if es[i].Serial == 485 {
			e485 = &es[i]
		}
	}
	te := TimelineEvent(e485)
	if te.TimestampDesc != "Audit EXECVE" || te.Attrs["args"] != "id" || te.Attrs["syscall"] != "execve" || te.User != "root" ||
		te.Path != "/usr/bin/id" || te.Message != "EXECVE id" || te.Attrs["audit_serial"] != "485" {
		t.Errorf("485: %+v", te)
	}
}

// TestAgainstAusearch compares grouping and EXECVE decoding with auditd's
// own ausearch on the peer logs. ausearch ends some events at records it
// treats as standalone (LOGIN) where Parse groups by serial, so the
// comparison is per serial: the same records, and the same argv.
func TestAgainstAusearch(t *testing.T) {
	testenv.NeedTool(t, "ausearch")
	for _, rel := range []string{"artifacts/plaso/audit_enriched.log", "artifacts/dissect/audit.log"} {
		p := testenv.PeerData(t, rel)
		es, _, _ := parseFile(t, p)
		ours := map[string][]string{}
		var execs [][]string
		for _, e := range es {
			for _, r := range e.Records {
				k := strings.TrimSpace(strings.SplitN(r.Time.Format("05.000"), ".", 2)[1]) + ":" + itoa(r.Serial)
				ours[k] = append(ours[k], r.Type)
			}
			if e.Type() == "EXECVE" {
				execs = append(execs, Args(e.record("EXECVE")))
			}
		}
		out := testenv.Output(t, "ausearch", "-if", p, "-i")
		theirs := map[string][]string{}
		re := regexp.MustCompile(`^type=(\S+) msg=audit\(\S+ \S+\.(\d{3}):(\d+)\) : (.*)$`)
		var theirExecs []string
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			m := re.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			theirs[m[2]+":"+m[3]] = append(theirs[m[2]+":"+m[3]], m[1])
			if m[1] == "EXECVE" {
				theirExecs = append(theirExecs, m[4])
			}
		}
		if len(theirs) == 0 || len(ours) != len(theirs) {
			t.Fatalf("%s: %d serials, ausearch %d", rel, len(ours), len(theirs))
		}
		for k, v := range theirs {
			a, b := slices.Clone(ours[k]), slices.Clone(v)
			slices.Sort(a)
			slices.Sort(b)
			if !slices.Equal(a, b) {
				t.Errorf("%s serial %s: %v, ausearch %v", rel, k, a, b)
			}
		}
		if len(execs) != len(theirExecs) {
			t.Fatalf("%s: %d execs, ausearch %d", rel, len(execs), len(theirExecs))
		}
		for i, args := range execs {
			// ausearch -i prints "argc=N a0=… a1=… ": rebuild that from ours.
			var b strings.Builder
			b.WriteString("argc=" + itoa(uint64(len(args))) + " ")
			for j, a := range args {
				b.WriteString("a" + itoa(uint64(j)) + "=" + a + " ")
			}
			if strings.TrimSpace(b.String()) != strings.TrimSpace(theirExecs[i]) {
				t.Errorf("exec %d: %q, ausearch %q", i, b.String(), theirExecs[i])
			}
		}
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestRecordsAndGrouping(t *testing.T) {
	log := `node=web1 type=USER_LOGIN msg=audit(1790000000.001:10): pid=1 uid=0 auid=1000 ses=3 msg='op=login acct="alice" exe="/usr/sbin/sshd" hostname=? addr=203.0.113.9 terminal=/dev/pts/0 res=success'
type=SYSCALL msg=audit(1790000001.500:11): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=2 auid=1000 uid=0 comm="bash" exe="/usr/bin/bash" key=(null)
type=USER_CMD msg=audit(1790000001.600:12): pid=3 uid=1000 auid=1000 ses=3 msg='cwd="/home/alice" cmd=6C73202D6C61202F726F6F74 exe="/usr/bin/sudo" terminal=pts/0 res=success'
type=EXECVE msg=audit(1790000001.500:11): argc=3 a0="bash" a1_len=12 a1[0]=2F746D702F782079 a1[1]=2E7368 a2="-x"
type=PROCTITLE msg=audit(1790000001.500:11): proctitle=62617368002F746D702F7820792E7368
type=EOE msg=audit(1790000001.500:11):
garbage line
type=ADD_USER msg=audit(1790000002.000:13): pid=4 uid=0 auid=1000 msg='op=add-user acct=6261636B646F6F72 exe="/usr/sbin/useradd" res=success'
`
	fsys := fstest.MapFS{"var/log/audit/audit.log": {Data: []byte(log)}, "var/log/audit/audit.log.1": {Data: []byte(
		"type=DAEMON_START msg=audit(1780000000.000:1): op=start ver=3.0.9 format=enriched kernel=6.1.0 auid=4294967295 pid=9 uid=0 res=success\n")}}
	env := artifacts.NewEnv(fsys)
	var c timeline.Collect
	env.Events = &c
	res, err := Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	evs := c.Events
	if len(evs) != 5 {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	// Oldest rotation first.
	if evs[0].TimestampDesc != "Audit DAEMON_START" || evs[0].Evidence.Path != "/var/log/audit/audit.log.1" || evs[0].User != "0" {
		t.Errorf("#0 %+v", evs[0])
	}
	e := evs[1]
	if e.TimestampDesc != "Audit USER_LOGIN" || e.User != "alice" || e.IP != "203.0.113.9" || e.Host != "web1" ||
		e.Attrs["result"] != "success" || e.Evidence.Line != 1 || e.Attrs["terminal"] != "/dev/pts/0" {
		t.Errorf("login %+v", e)
	}
	// The USER_CMD (serial 12) came after the SYSCALL's first record (serial 11) but the EOE of 11
	// closes 11 only after its EXECVE and PROCTITLE arrived: 11 is emitted first.
	e = evs[2]
	if e.TimestampDesc != "Audit EXECVE" || e.Attrs["args"] != "bash /tmp/x y.sh -x" || e.Attrs["argc"] != "3" ||
		e.Attrs["proctitle"] != "bash /tmp/x y.sh" || e.User != "1000" || e.Path != "/usr/bin/bash" || e.Evidence.Line != 2 ||
		e.Attrs["audit_types"] != "SYSCALL,EXECVE,PROCTITLE" || e.Attrs["key"] != "" {
		t.Errorf("exec %+v", e)
	}
	e = evs[3]
	if e.TimestampDesc != "Audit USER_CMD" || e.Attrs["cmd"] != "ls -la /root" || e.Message != "USER_CMD ls -la /root" || e.Attrs["cwd"] != "/home/alice" {
		t.Errorf("cmd %+v", e)
	}
	e = evs[4]
	if e.TimestampDesc != "Audit ADD_USER" || e.User != "backdoor" || !e.Time.Equal(time.Unix(1790000002, 0)) {
		t.Errorf("add user %+v", e)
	}
	var ws []artifacts.Warning
	for _, w := range env.Warnings() {
		if w.Source == "audit" {
			ws = append(ws, w)
		}
	}
	if len(ws) != 1 || ws[0].Line != 7 {
		t.Errorf("warnings %v", ws)
	}
	sum := res.(*Summary)
	if sum.Counts["EXECVE"] != 1 || len(sum.Files) != 2 || sum.Files[1].Stats.Records != 7 || sum.Files[1].Stats.Events != 4 {
		t.Errorf("summary %+v", sum)
	}
}

// TestManyOpenEvents: single-record events without EOE never pile up.
func TestManyOpenEvents(t *testing.T) {
	var b bytes.Buffer
	for i := 0; i < 10000; i++ {
		b.WriteString("type=USER_AUTH msg=audit(1790000000.000:" + itoa(uint64(i)) + "): pid=1 msg='acct=\"a\" res=failed'\n")
	}
	n := 0
	max := uint64(0)
	_, err := Parse(&b, func(e *Event) error {
		n++
		if e.Serial < max {
			t.Fatalf("serial %d after %d", e.Serial, max)
		}
		max = e.Serial
		return nil
	}, nil)
	if err != nil || n != 10000 {
		t.Fatalf("%d events, %v", n, err)
	}
}

// TestEventBytesCapped: one event cannot hold more than maxEventBytes.
func TestEventBytesCapped(t *testing.T) {
	var b bytes.Buffer
	pad := strings.Repeat("A", 10000)
	for i := 0; i < 2000; i++ {
		b.WriteString("type=PATH msg=audit(1790000000.000:1): item=" + itoa(uint64(i)) + " name=\"" + pad + "\"\n")
	}
	var ps []syslog.Problem
	var sizes []int
	st, err := Parse(&b, func(e *Event) error { sizes = append(sizes, e.size); return nil }, func(p syslog.Problem) { ps = append(ps, p) })
	if err != nil || st.Records != 2000 || len(sizes) != 1 || sizes[0] > maxEventBytes || len(ps) != 1 {
		t.Fatalf("stats %+v, sizes %v, problems %d, %v", st, sizes, len(ps), err)
	}
}
