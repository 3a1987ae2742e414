#!/bin/sh
# mkimage.sh OUT.img — builds an NTFS image for fs/ntfs's tests with
# ntfs-3g's offline tools only (no mount): resident and non-resident
# files, a Unicode name, an alternate data stream, a sparse file (made by
# growing a file with ntfstruncate), and a file whose $SI mtime comes from
# the source (ntfscp -t). ntfscp cannot create directories, so the tree
# is flat apart from mkntfs's own $Extend; the peer images cover
# directories.
set -eu
out=$1
export LC_ALL=C.UTF-8
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
printf 'hello ntfs\n' > "$src/small"
seq 1 40000 > "$src/big"
printf 'secret stream\n' > "$src/ads"
touch -d '2020-02-29 12:34:56' "$src/big"
rm -f "$out"
truncate -s 24M "$out"
mkntfs -q -F -Q -L COLDNTFS "$out" >/dev/null 2>&1
ntfscp -q "$out" "$src/small" small.txt
ntfscp -q "$out" "$src/big" big.txt
ntfscp -q -t "$out" "$src/big" 'timed big.txt'
ntfscp -q -N hidden "$out" "$src/ads" small.txt
ntfscp -q -N "second stream" "$src/big" "$out" small.txt 2>/dev/null ||
  ntfscp -q -N "second stream" "$out" "$src/big" small.txt
ntfscp -q "$out" "$src/small" 'Ünïcödé name.txt'
ntfscp -q "$out" "$src/small" sparse.bin
i=0
while [ $i -lt 60 ]; do
  ntfscp -q "$out" "$src/small" "file $i with a longer name.txt"
  i=$((i+1))
done
# Grow sparse.bin to 4 MB: ntfs-3g makes the new range sparse.
ino=$(ntfsls -F -i "$out" | awk '$2 == "sparse.bin" {print $1}')
ntfstruncate -q "$out" "$ino" 4000000 >/dev/null
