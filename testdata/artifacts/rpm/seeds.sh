#!/bin/bash
# seeds.sh OUT DEST SQLDEST — after build.sh OUT: writes the fuzz seeds of
# artifacts/rpmdb into DEST: cc-gamma.hdr (the header blob rpm stored for
# cc-gamma) and Packages.bdb (a Berkeley DB hash file with that blob on
# 512-byte pages, so it spans an overflow chain), and of
# artifacts/rpmdb/sqlite into SQLDEST: seed.db (rpm's Packages table
# layout on 512-byte pages, with that blob on overflow pages), all from
# real tools.
set -euo pipefail
out=$(realpath "$1"); dest=$2; sqldest=$3
db="$out/root/var/lib/rpm/rpmdb.sqlite"
hex=$(sqlite3 -readonly "$db" "select lower(hex(blob)) from Packages p where hnum = (select max(hnum) from Packages)")
echo "$hex" | xxd -r -p > "$dest/cc-gamma.hdr"
printf 'VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=512\nHEADER=END\n 03000000\n %s\nDATA=END\n' "$hex" > "$out/work/seed.dump"
rm -f "$dest/Packages.bdb"
db5.3_load -f "$out/work/seed.dump" "$dest/Packages.bdb"
rm -f "$sqldest/seed.db"
sqlite3 "$sqldest/seed.db" "PRAGMA page_size=512; CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);
INSERT INTO Packages(blob) VALUES (x'$hex'), (x'0000000100000004000003e8000000060000000000000001616263');"
