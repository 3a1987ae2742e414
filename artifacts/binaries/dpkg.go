package binaries

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	iofs "io/fs"
	"path"
	"strings"

	"github.com/coldcase-dfir/coldcase/artifacts"
	"github.com/coldcase-dfir/coldcase/artifacts/rpmdb"
)

// packageDB maps guest paths to the installed package that owns them and,
// where the package recorded one, the file's digest: md5 (dpkg, old rpm)
// or sha256 (rpm ≥ 4.6's default).
type packageDB struct {
	kind   string // "dpkg", "rpm", or "" when no database was read
	names  []string
	owner  map[string]int32
	md5    map[string][16]byte
	sha256 map[string][32]byte
	// conf marks paths whose digest came from a package's Conffiles
	// (dpkg status) or %config file list (rpm): admins edit those
	// legitimately, so a mismatch is told apart.
	conf map[string]bool
	note string
}

func newPackageDB() *packageDB {
	return &packageDB{owner: map[string]int32{}, md5: map[string][16]byte{}, sha256: map[string][32]byte{}, conf: map[string]bool{}}
}

// loadPackageDB reads dpkg's database, or else the rpm database.
func loadPackageDB(fsys iofs.FS, warn func(string, string)) *packageDB {
	if db := loadDpkg(fsys, warn); db.kind != "" {
		return db
	}
	return loadRPM(fsys, warn)
}

// loadRPM reads the rpm database (package rpmdb): owners of every file,
// md5 and sha256 file digests. Digests of other algorithms are not
// compared (the inventory hashes md5 and sha256 only), nor are those of
// paths two packages record with different contents (multilib). Files
// changed by prelink (RHEL ≤ 7, where installed) differ from rpm's
// digest; rpm -V undoes prelinking first, we do not.
func loadRPM(fsys iofs.FS, warn func(string, string)) *packageDB {
	db := newPackageDB()
	d, ok := rpmdb.Find(fsys)
	if !ok {
		return db
	}
	if d.Format == rpmdb.FormatNDB {
		db.note = "rpm database " + d.Path + " is in NDB format, not read: package ownership unknown"
		return db
	}
	ambiguous := map[string]bool{}
	skipped := map[string]int{}
	err := d.Walk(fsys, func(p *rpmdb.Package, _ rpmdb.Record) error {
		i := int32(len(db.names))
		db.names = append(db.names, p.Name)
		for _, f := range p.Files {
			fp := path.Clean("/" + f.Path)
			if _, has := db.owner[fp]; !has {
				db.owner[fp] = i
			}
			if f.Digest == "" || f.Flags&rpmdb.FileGhost != 0 || f.Mode&0o170000 != 0o100000 || ambiguous[fp] {
				continue
			}
			sum, err := hex.DecodeString(f.Digest)
			if err != nil {
				continue
			}
			var same, had bool
			switch {
			case p.DigestAlgo == "md5" && len(sum) == 16:
				old, has := db.md5[fp]
				had, same = has, has && string(old[:]) == string(sum)
				db.md5[fp] = [16]byte(sum)
			case p.DigestAlgo == "sha256" && len(sum) == 32:
				old, has := db.sha256[fp]
				had, same = has, has && string(old[:]) == string(sum)
				db.sha256[fp] = [32]byte(sum)
			default:
				skipped[p.DigestAlgo]++
				continue
			}
			if had && !same {
				ambiguous[fp] = true
				delete(db.md5, fp)
				delete(db.sha256, fp)
				delete(db.conf, fp)
				continue
			}
			if f.Config() {
				db.conf[fp] = true
			}
		}
		return nil
	}, func(msg string) { warn(d.Path, msg) })
	if err != nil {
		warn(d.Path, err.Error())
		if len(db.names) == 0 {
			db.note = "rpm database " + d.Path + " not read: " + err.Error()
			return db
		}
	}
	db.kind = "rpm"
	for algo, n := range skipped {
		db.note += fmt.Sprintf("%d file digests in %s not compared; ", n, algo)
	}
	db.note = strings.TrimSuffix(db.note, "; ")
	return db
}

// loadDpkg reads /var/lib/dpkg/info/*.list and *.md5sums. It returns a
// database of kind "" when the folder is absent.
func loadDpkg(fsys iofs.FS, warn func(string, string)) *packageDB {
	db := newPackageDB()
	ents, err := iofs.ReadDir(fsys, "var/lib/dpkg/info")
	if err != nil {
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

// lookup finds a path's package and the digest it recorded ("md5" or
// "sha256"; algo "" when none), trying the /usr-merged alias (/bin/ls
// and /usr/bin/ls name the same file on merged systems, and packages
// record whichever they shipped).
func (db *packageDB) lookup(p string) (pkg, algo string, sum []byte, conf, ok bool) {
	if db == nil || db.kind == "" {
		return "", "", nil, false, false
	}
	for _, c := range aliases(p) {
		if i, found := db.owner[c]; found {
			pkg, ok = db.names[i], true
			if s, has := db.md5[c]; has {
				algo, sum, conf = "md5", s[:], db.conf[c]
			} else if s, has := db.sha256[c]; has {
				algo, sum, conf = "sha256", s[:], db.conf[c]
			}
			return
		}
	}
	return "", "", nil, false, false
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
