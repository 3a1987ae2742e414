package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func auditSeeds(add func(string)) {
	add(`type=EXECVE msg=audit(1790000001.500:11): argc=3 a0="bash" a1_len=12 a1[0]=2F746D702F782079 a1[1]=2E7368 a2="-x"`)
	add(`node=h type=USER_CMD msg=audit(1.2:3): pid=3 msg='cwd="/" cmd=6C73 res=success'` + "\x1dUID=\"root\"")
	add(`type=AVC msg=audit(1.000:1): avc:  denied  { read } for  pid=1 comm="x" name="y"`)
	shared := os.Getenv("COLDCASE_SHARED")
	if shared == "" {
		shared = filepath.Join("..", "..", "..", "shared")
	}
	for _, rel := range []string{"artifacts/plaso/audit_enriched.log", "artifacts/dissect/audit.log"} {
		b, err := os.ReadFile(filepath.Join(shared, "peerdata", rel))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			add(l)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	auditSeeds(func(l string) { f.Add([]byte(l)) })
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseRecord(line)
		if err != nil {
			return
		}
		if len(r.Fields) > maxFields || len(r.Body) > len(line) {
			t.Fatalf("%d fields, body %d of %d", len(r.Fields), len(r.Body), len(line))
		}
		for _, f := range r.Fields {
			_ = Decode(f)
		}
		if args := Args(&r); len(args) > maxArgs {
			t.Fatalf("%d args", len(args))
		}
	})
}

// FuzzParse runs grouping and event building over whole logs.
func FuzzParse(f *testing.F) {
	var all bytes.Buffer
	auditSeeds(func(l string) { all.WriteString(l + "\n") })
	f.Add(all.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs int64
		st, err := Parse(bytes.NewReader(data), func(e *Event) error {
			recs += int64(len(e.Records))
			te := TimelineEvent(e)
			if te.Source != "audit" || !strings.HasPrefix(te.TimestampDesc, "Audit ") {
				t.Fatalf("event %+v", te)
			}
			return nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if recs > st.Records || st.Events > st.Records || st.Records > st.Lines {
			t.Fatalf("stats %+v, %d records in events", st, recs)
		}
	})
}
