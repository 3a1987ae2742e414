package xfs

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/coldcase-dfir/coldcase/fs"
	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

var inobtRec = regexp.MustCompile(`^\d+:\[([0-9x,a-f]+)\]`)

// xfsDBFreeInodes reads every AG's inode B+tree records with xfs_db and
// returns the inodes marked free (outside sparse holes).
func xfsDBFreeInodes(t *testing.T, x *FS, img string) map[uint64]bool {
	free := map[uint64]bool{}
	for agno := uint32(0); agno < x.sb.agCount; agno++ {
		out := xfsDB(t, img, []string{fmt.Sprintf("agi %d", agno), "p level", "addr root", "p recs"})
		if !strings.Contains(out, "level = 1\n") {
			t.Fatalf("AG %d: inode btree is not a single leaf; this test reads only those:\n%.200s", agno, out)
		}
		sparse := strings.Contains(out, "[startino,holemask,count,freecount,free]")
		for _, l := range strings.Split(out, "\n") {
			m := inobtRec.FindStringSubmatch(strings.TrimSpace(l))
			if m == nil {
				continue
			}
			f := strings.Split(m[1], ",")
			start, _ := strconv.ParseUint(f[0], 0, 64)
			mask, _ := strconv.ParseUint(f[len(f)-1], 0, 64)
			var hole uint64
			if sparse {
				hole, _ = strconv.ParseUint(f[1], 0, 64)
			}
			for j := uint64(0); j < 64; j++ {
				if mask&(1<<j) != 0 && hole&(1<<(j/4)) == 0 {
					free[uint64(agno)<<x.sb.inoBits()|(start+j)] = true
				}
			}
		}
	}
	return free
}

// TestDeleted checks the free inodes we find against xfs_db's reading of
// the inode B+trees, then forges a deleted file (a free inode that keeps
// an owner and times, as XFS leaves them) and expects exactly it back.
func TestDeleted(t *testing.T) {
	for _, v := range []string{"v5", "v4"} {
		t.Run(v, func(t *testing.T) {
			src := buildImage(t, v) + "/xfs.img"
			img := t.TempDir() + "/xfs.img"
			if b, err := exec.Command("cp", "--sparse=always", src, img).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, b)
			}
			x := openImage(t, img)
			want := xfsDBFreeInodes(t, x, img)
			got := map[uint64]bool{}
			for agno := uint32(0); agno < x.sb.agCount; agno++ {
				if err := x.freeInodes(agno, func(ino uint64) { got[ino] = true }); err != nil {
					t.Fatal(err)
				}
			}
			if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("free inodes: %d found, xfs_db lists %d", len(got), len(want))
			}
			if d, err := x.Deleted(); err != nil || len(d) != 0 {
				t.Fatalf("fresh image: %d deleted entries, %v", len(d), err)
			}

			var victim uint64
			for ino := range want {
				if victim == 0 || ino < victim {
					victim = ino
				}
			}
			cmds := []string{fmt.Sprintf("inode %d", victim), "write core.uid 4242", "write core.gid 77"}
			if x.sb.v5() {
				cmds = append(cmds, "write core.mtime.sec 4000000000123456789", "write core.ctime.sec 4000000001000000000")
			} else {
				cmds = append(cmds, "write core.mtime.sec 1700000000", "write core.mtime.nsec 5", "write core.ctime.sec 1700000001")
			}
			xdb, _ := testenv.LookPath("xfs_db")
			args := []string{"-x"}
			for _, c := range cmds {
				args = append(args, "-c", c)
			}
			if b, err := exec.Command(xdb, append(args, img)...).CombinedOutput(); err != nil {
				t.Fatalf("xfs_db: %v %s", err, b)
			}
			x = openImage(t, img)
			d, err := x.Deleted()
			if err != nil {
				t.Fatal(err)
			}
			if len(d) != 1 || d[0].Stat.Inode != victim || !d[0].Stat.Deleted {
				t.Fatalf("deleted = %+v, want inode %d", d, victim)
			}
			st := d[0].Stat
			if st.UID != 4242 || st.GID != 77 {
				t.Errorf("owner %d:%d", st.UID, st.GID)
			}
			rec := xfsDBInodes(t, img, []uint64{victim}, x.sb.v5())[0]
			checkInode(t, d[0].Path, &st, rec, x.sb.v5())
			if !strings.HasPrefix(d[0].Path, "$OrphanFiles/") {
				t.Errorf("path %q", d[0].Path)
			}
			var _ fs.DeletedLister = x
		})
	}
}
