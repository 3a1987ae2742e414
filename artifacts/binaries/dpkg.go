package binaries

import (
	"bufio"
	"bytes"
	"encoding/hex"
	iofs "io/fs"
	"path"
	"strings"

	"github.com/coldcase-dfir/coldcase/artifacts"
)

// packageDB maps guest paths to the installed package that owns them and,
// where the package recorded one, the file's md5.
type packageDB struct {
	kind  string // "dpkg", or "" when no database was read
	names []string
	owner map[string]int32
	md5   map[string][16]byte
	// conf marks paths whose md5 came from a package's Conffiles (status):
	// admins edit those legitimately, so a mismatch is told apart.
	conf map[string]bool
	note string
}

// loadDpkg reads /var/lib/dpkg/info/*.list and *.md5sums. It returns a
// database of kind "" when the folder is absent. rpm databases
// (/var/lib/rpm: Berkeley DB, NDB or sqlite) are detected but not read.
func loadDpkg(fsys iofs.FS, warn func(string, string)) *packageDB {
	db := &packageDB{owner: map[string]int32{}, md5: map[string][16]byte{}, conf: map[string]bool{}}
	ents, err := iofs.ReadDir(fsys, "var/lib/dpkg/info")
	if err != nil {
		for _, p := range []string{"var/lib/rpm/rpmdb.sqlite", "var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/rpmdb.sqlite"} {
			if _, err := iofs.Stat(fsys, p); err == nil {
				db.note = "rpm database /" + p + " present but not read: package ownership unknown"
				break
			}
		}
		return db
	}
	db.kind = "dpkg"
	pkgIdx := map[string]int32{}
	idx := func(name string) int32 {
		if i, ok := pkgIdx[name]; ok {
			return i
		}
		pkgIdx[name] = int32(len(db.names))
		db.names = append(db.names, name)
		return pkgIdx[name]
	}
	for _, e := range ents {
		n := e.Name()
		var pkg string
		var sums bool
		switch {
		case strings.HasSuffix(n, ".list"):
			pkg = strings.TrimSuffix(n, ".list")
		case strings.HasSuffix(n, ".md5sums"):
			pkg, sums = strings.TrimSuffix(n, ".md5sums"), true
		default:
			continue
		}
		p := "var/lib/dpkg/info/" + n
		data, err := artifacts.ReadSmall(fsys, p)
		if err != nil {
			warn("/"+p, err.Error())
			continue
		}
		i := idx(pkg)
		for _, l := range bytes.Split(data, []byte{'\n'}) {
			if len(l) == 0 {
				continue
			}
			if !sums {
				db.owner[path.Clean("/"+string(l))] = i
				continue
			}
			// "<32 hex>  <path without leading slash>"
			if len(l) < 35 || l[32] != ' ' {
				continue
			}
			var sum [16]byte
			if _, err := hex.Decode(sum[:], l[:32]); err != nil {
				continue
			}
			fp := path.Clean("/" + strings.TrimLeft(string(l[33:]), " "))
			db.md5[fp] = sum
			if _, ok := db.owner[fp]; !ok {
				db.owner[fp] = i
			}
		}
	}
	db.conffiles(fsys, idx, warn)
	db.diversions(fsys)
	return db
}

// diversions applies /var/lib/dpkg/diversions (triples of lines: from,
// to, diverting package): the original package's file now lives at "to",
// and "from" holds the diverting package's file. Both are owned; their
// md5s are not checked, since md5sums files list both under "from".
func (db *packageDB) diversions(fsys iofs.FS) {
	data, err := artifacts.ReadSmall(fsys, "var/lib/dpkg/diversions")
	if err != nil {
		return
	}
	ls := strings.Split(string(data), "\n")
	for i := 0; i+2 < len(ls); i += 3 {
		from, to := path.Clean("/"+ls[i]), path.Clean("/"+ls[i+1])
		if o, ok := db.owner[from]; ok {
			if _, has := db.owner[to]; !has {
				db.owner[to] = o
			}
		}
		delete(db.md5, from)
		delete(db.md5, to)
	}
}

// conffiles reads the Conffiles blocks of /var/lib/dpkg/status
// (" /etc/x <md5>" lines after "Conffiles:") line by line.
func (db *packageDB) conffiles(fsys iofs.FS, idx func(string) int32, warn func(string, string)) {
	f, err := fsys.Open("var/lib/dpkg/status")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	pkg, in := "", false
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "Package: "):
			pkg, in = strings.TrimSpace(l[len("Package: "):]), false
		case l == "Conffiles:":
			in = true
		case in && strings.HasPrefix(l, " "):
			fl := strings.Fields(l)
			if len(fl) < 2 || len(fl[1]) != 32 || pkg == "" {
				continue
			}
			var sum [16]byte
			if _, err := hex.Decode(sum[:], []byte(fl[1])); err != nil {
				continue // "newconffile" and other markers
			}
			p := path.Clean("/" + fl[0])
			if _, has := db.md5[p]; !has {
				db.md5[p], db.conf[p] = sum, true
			}
			if _, has := db.owner[p]; !has {
				db.owner[p] = idx(pkg)
			}
		default:
			in = false
		}
	}
	if err := sc.Err(); err != nil {
		warn("/var/lib/dpkg/status", "read: "+err.Error())
	}
}

// lookup finds a path's package, trying the /usr-merged alias (/bin/ls and
// /usr/bin/ls name the same file on merged systems, and dpkg records
// whichever the package shipped).
func (db *packageDB) lookup(p string) (pkg string, sum *[16]byte, conf, ok bool) {
	if db == nil || db.kind == "" {
		return "", nil, false, false
	}
	for _, c := range aliases(p) {
		if i, found := db.owner[c]; found {
			pkg, ok = db.names[i], true
			if s, has := db.md5[c]; has {
				sum, conf = &s, db.conf[c]
			}
			return
		}
	}
	return "", nil, false, false
}

func aliases(p string) []string {
	out := []string{p}
	for _, d := range []string{"/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/"} {
		if strings.HasPrefix(p, "/usr"+d) {
			out = append(out, strings.TrimPrefix(p, "/usr"))
		} else if strings.HasPrefix(p, d) {
			out = append(out, "/usr"+p)
		}
	}
	return out
}
