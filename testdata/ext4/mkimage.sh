#!/bin/bash
# Build ext2/3/4 test images with standard tools, for fs/ext4's cross-checks
# against TSK and debugfs.
#
#   mkimage.sh OUTDIR [VARIANT...]     VARIANT: ext4 inline ext2 ext3 (default: all)
#
# Writes OUTDIR/src (the generated tree) and OUTDIR/VARIANT.img. The tree has
# thousands of files, hard links, fast/slow/long symlinks, 255-byte and
# non-UTF-8 names, a sparse file, device nodes, a big htree directory; after
# mkfs, debugfs sets exact times (nanoseconds, past 2038, crtime), writes
# xattrs (security.capability as setcap writes it, one too big for the
# inode, so it goes to an external block), writes a file into freed gaps so it is fragmented, and deletes one
# file offline (kill_file + unlink).
#
# BIG=N makes OUTDIR/big.img instead: an ext4 with N files (benchmarks).
set -euo pipefail
export LC_ALL=C
out=${1:?usage: mkimage.sh OUTDIR [VARIANT...]}
shift
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(ext4 inline ext2 ext3)
PATH=$PATH:/usr/sbin:/sbin
export E2FSPROGS_FAKE_TIME=1700000000
mkdir -p "$out"

if [ -n "${BIG:-}" ]; then
	src=$out/bigsrc
	rm -rf "$src"
	mkdir -p "$src"
	per=1000
	for ((d = 0; d * per < BIG; d++)); do
		dir=$src/dir$d
		mkdir -p "$dir"
		n=$((BIG - d * per))
		[ $n -gt $per ] && n=$per
		(cd "$dir" && seq -f "file%05g" 1 $n | xargs touch)
		# some content, so the image is not all empty inodes
		head -c 3000 /dev/urandom >"$dir/file00001"
	done
	mkfs.ext4 -q -F -N $((BIG + 1000)) -L big -d "$src" "$out/big.img" $((BIG / 1000 * 4 + 64))M
	rm -rf "$src"
	exit 0
fi

src=$out/src
rm -rf "$src"
mkdir -p "$src"
cd "$src"

# Random text to cut file contents from with shell builtins only: forking
# a process per file would make this script slow.
pool=$(head -c 30000 /dev/urandom | base64 -w0)

# ~3000 files of varied sizes in 30 directories, some nested.
for d in $(seq -w 0 29); do
	mkdir -p "tree/d$d/sub"
	for f in $(seq -w 0 89); do
		n=$((10#$d * 97 + 10#$f * 31))
		size=$(((n * 7919) % 9000))
		printf '%s' "${pool:$((n % 20000)):$size}" >"tree/d$d/f$f"
	done
	for f in $(seq -w 0 9); do
		printf 'small %s %s\n' "$d" "$f" >"tree/d$d/sub/s$f"
	done
done
# Inline-data sized files: up to 60 bytes fit i_block, up to ~150 spill into system.data.
head -c 40 /dev/urandom >small40
head -c 120 /dev/urandom >small120
: >empty
mkdir emptydir

# A directory big enough for an htree index.
mkdir big
(cd big && seq -f 'entry_%05g_with_a_longer_name_to_fill_blocks' 1 2500 | xargs touch)

# Hard links.
mkdir links
ln tree/d00/f00 links/hard1
ln tree/d00/f00 links/hard2

# Symlinks: fast (target < 60 bytes), slow (longer), very long, absolute, to a
# directory, dangling, and a chain.
ln -s ../tree/d00/f01 links/fast
ln -s "../tree/d01/$(printf 'x%.0s' $(seq 1 70))/../f02" links/slow
ln -s "$(printf 'long/%.0s' $(seq 1 200))end" links/long
ln -s /tree/d02/f03 links/absolute
ln -s /tree/d03 links/todir
ln -s /nowhere/at/all links/dangling
ln -s fast links/chain

# Names: 255 bytes, non-UTF-8, spaces and odd characters.
mkdir names
: >"names/$(printf 'n%.0s' $(seq 1 255))"
: >"names/$(printf 'caf\xe9')"
: >"names/$(printf '\xff\xfe\x80bad')"
: >"names/with space and 'quotes'"
: >"names/ünïcødé"

# Sparse: 64 MiB with three data islands.
truncate -s 64M sparse.bin
printf 'start' | dd of=sparse.bin conv=notrunc status=none
head -c 100000 /dev/urandom | dd of=sparse.bin bs=1M seek=10 conv=notrunc status=none
printf 'end' | dd of=sparse.bin bs=1 seek=$((64 * 1024 * 1024 - 3)) conv=notrunc status=none

# Special files, modes and owners.
mkdir special
mkfifo special/fifo
mknod special/chr c 1 3
mknod special/blk b 7 0
printf '#!/bin/sh\n' >special/suid
chmod 4755 special/suid
chmod 1777 special
chown 1000:1000 tree/d01/f00
chown 65534:65534 tree/d02/f00
chown 123456:654321 tree/d03/f00

# Fragmentation victims: every other one is removed after mkfs.
mkdir frag
for i in $(seq -w 0 199); do printf '%s' "${pool:$((10#$i * 50)):8192}" >"frag/g$i"; done

# Files whose times and xattrs debugfs sets, and one to delete.
mkdir times xattr del
for i in 1 2 3 4 5; do echo "t$i" >"times/t$i"; done
echo data >xattr/plain
echo data >xattr/ping
echo data >xattr/bigattr
head -c 5000 /dev/urandom >del/victim
echo keep >del/keeper
head -c 700000 /dev/urandom >"$out/fragmented.src"
cd - >/dev/null

# security.capability as setcap 'cap_net_raw+ep' writes it: VFS_CAP_REVISION_2
# with the effective bit, permitted = 1<<13, inheritable 0.
printf '\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' >"$out/cap.bin"
printf '%s' "${pool:0:600}" >"$out/bigattr.txt"

# debugfs commands shared by all variants. *_extra holds ns<<2 | epoch bits.
cmds=$out/debugfs.cmds
{
	for i in $(seq -w 1 199 | awk 'NR % 2 == 1'); do echo "rm /frag/g$i"; done
	echo "write $out/fragmented.src /frag/fragmented"
	echo "sif /times/t1 mtime 20260912021530"
	echo "sif /times/t1 mtime_extra $((123456789 << 2))"
	echo "sif /times/t1 atime 20250101000001"
	echo "sif /times/t1 atime_extra $((999999999 << 2))"
	echo "sif /times/t1 ctime 20240229235959"
	echo "sif /times/t1 ctime_extra $((1 << 2))"
	echo "sif /times/t1 crtime 20200101120000"
	echo "sif /times/t1 crtime_extra $((500000000 << 2))"
	# 2040-01-02: past 2038, epoch bit 1
	echo "sif /times/t2 mtime 20400102030405"
	echo "sif /times/t2 mtime_extra $((((42 << 2)) | 1))"
	echo "sif /times/t2 crtime 20391231235959"
	echo "sif /times/t2 crtime_extra $((((7 << 2)) | 1))"
	# 2106 and beyond the 32-bit unsigned range
	echo "sif /times/t3 atime @4294967295"
	echo "sif /times/t3 atime_extra 1"
	echo "sif /times/t3 mtime @4294967296"
	echo "sif /times/t3 mtime_extra 1"
	# before 1970
	echo "sif /times/t4 mtime @-86400"
	echo "sif /times/t4 mtime_extra 0"
	echo "sif /times/t5 mtime 0"
	echo "sif /times/t5 atime 0"
	echo "ea_set /xattr/plain user.comment hello"
	echo "ea_set /xattr/plain trusted.x 12345"
	echo "ea_set -f $out/cap.bin /xattr/ping security.capability"
	echo "ea_set -f $out/bigattr.txt /xattr/bigattr user.big"
	echo "kill_file /del/victim"
	echo "unlink /del/victim"
} >"$cmds"

build() {
	local v=$1 img=$out/$1.img
	rm -f "$img"
	case $v in
	ext4) mkfs.ext4 -q -F -b 4096 -L coldcase-ext4 -d "$src" "$img" 160M ;;
	inline) mkfs.ext4 -q -F -b 4096 -L coldcase-inline -O inline_data -d "$src" "$img" 160M ;;
	ext2) mkfs.ext2 -q -F -b 1024 -L coldcase-ext2 -d "$src" "$img" 160M ;;
	ext3) mkfs.ext4 -q -F -b 2048 -t ext3 -L coldcase-ext3 -d "$src" "$img" 160M ;;
	*)
		echo "unknown variant $v" >&2
		return 2
		;;
	esac
	# mkfs -d writes linear directories; e2fsck -D indexes the big one (htree).
	e2fsck -fyD "$img" >"$out/$v.e2fsck.log" 2>&1 || [ $? -le 1 ] || {
		cat "$out/$v.e2fsck.log" >&2
		return 1
	}
	debugfs -w -f "$cmds" "$img" >/dev/null 2>"$out/$v.debugfs.log"
	if grep -v '^debugfs [0-9]' "$out/$v.debugfs.log" | grep -q .; then
		cat "$out/$v.debugfs.log" >&2
		return 1
	fi
}

# Variants build in parallel: mke2fs -d spends its time waiting on small reads.
pids=()
for v in "${variants[@]}"; do
	build "$v" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
