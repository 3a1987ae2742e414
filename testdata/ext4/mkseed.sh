#!/bin/bash
# Rebuild the two tiny seed images fs/ext4's hostile-input tests and fuzz
# targets start from (committed, gzipped, 128 KiB each):
#   seed-ext4.img.gz  ext4, 1 KiB blocks, extents, no journal
#   seed-ext2.img.gz  ext2, 1 KiB blocks, indirect blocks
# Both hold d/a, d/fast and d/slow symlinks, d/big (20000 bytes, two
# extents / an indirect block), d/sparse and d/sub with 40 entries.
set -euo pipefail
PATH=$PATH:/usr/sbin:/sbin
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export E2FSPROGS_FAKE_TIME=1700000000
src=$tmp/src
mkdir -p "$src/d/sub"
echo hello >"$src/d/a"
ln -s a "$src/d/fast"
ln -s "$(printf 'y%.0s' $(seq 1 80))" "$src/d/slow"
seq 1 4000 | head -c 20000 >"$src/d/big"
for i in $(seq 1 40); do : >"$src/d/sub/entry_with_long_name_$i"; done
truncate -s 300000 "$src/d/sparse"
echo x | dd of="$src/d/sparse" bs=1 seek=200000 conv=notrunc status=none
touch -d @1700000000 "$src"/d/* "$src"/d/sub/* "$src/d" "$src"
for t in ext4 ext2; do
	img=$tmp/seed-$t.img
	mkfs.$t -q -F -b 1024 -N 64 -O ^resize_inode -L seed-$t \
		-U 0c0ffee0-0000-4000-8000-00000000000${t: -1} -E hash_seed=0c0ffee0-0000-4000-8000-000000000000 \
		-d "$src" "$img" 128K
	gzip -9n <"$img" >"$here/seed-$t.img.gz"
done
