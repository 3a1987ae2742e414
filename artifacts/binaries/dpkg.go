package binaries

import (
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
	note  string
}

// loadDpkg reads /var/lib/dpkg/info/*.list and *.md5sums. It returns a
// database of kind "" when the folder is absent. rpm databases
// (/var/lib/rpm: Berkeley DB, NDB or sqlite) are detected but not read.
func loadDpkg(fsys iofs.FS, warn func(string, string)) *packageDB {
	db := &packageDB{owner: map[string]int32{}, md5: map[string][16]byte{}}
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
	return db
}

// lookup finds a path's package, trying the /usr-merged alias (/bin/ls and
// /usr/bin/ls name the same file on merged systems, and dpkg records
// whichever the package shipped).
func (db *packageDB) lookup(p string) (pkg string, sum *[16]byte, ok bool) {
	if db == nil || db.kind == "" {
		return "", nil, false
	}
	for _, c := range aliases(p) {
		if i, found := db.owner[c]; found {
			pkg, ok = db.names[i], true
			if s, has := db.md5[c]; has {
				sum = &s
			}
			return
		}
	}
	return "", nil, false
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
