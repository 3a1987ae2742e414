#!/bin/bash
# seeds.sh OUT DEST — after build.sh OUT: writes the fuzz seeds of
# artifacts/rpmdb into DEST: cc-gamma.hdr (the header blob rpm stored for
# cc-gamma) and Packages.bdb (a Berkeley DB hash file with that blob on
# 512-byte pages, so it spans an overflow chain), both from real tools.
set -euo pipefail
out=$(realpath "$1"); dest=$2
db="$out/root/var/lib/rpm/rpmdb.sqlite"
hex=$(sqlite3 -readonly "$db" "select lower(hex(blob)) from Packages p where hnum = (select max(hnum) from Packages)")
echo "$hex" | xxd -r -p > "$dest/cc-gamma.hdr"
printf 'VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=512\nHEADER=END\n 03000000\n %s\nDATA=END\n' "$hex" > "$out/work/seed.dump"
rm -f "$dest/Packages.bdb"
db5.3_load -f "$out/work/seed.dump" "$dest/Packages.bdb"
