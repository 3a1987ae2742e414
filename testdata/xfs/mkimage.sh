#!/usr/bin/env bash
# Builds an XFS image for the fs/xfs tests without mounting anything:
# mkfs.xfs copies a generated source tree through a protofile, then xfs_db
# edits what a protofile cannot express (times past 2038, nanoseconds, a hard
# link, extended attributes, a fragmented B+tree file with holes and an
# unwritten extent).
#
#   mkimage.sh OUTDIR VARIANT
#
# VARIANT: v5       default v5 features (crc, ftype, bigtime, 512-byte inodes)
#          v5legacy v5 with bigtime=0 (32-bit timestamps)
#          v4       -m crc=0 (v2 inodes, 256 bytes)
#          v4noftype v4 without file types in directory entries
#          v5b1k    1 KiB blocks with 4 KiB directory blocks, nrext64
#          bench    v5 with ~100k empty files in 100 directories
#
# Writes OUTDIR/xfs.img (sparse, 320 MiB; 1 GiB for bench), OUTDIR/src/ (the
# files the protofile copies) and OUTDIR/proto.
set -euo pipefail
export TZ=UTC LC_ALL=C

out=${1:?usage: mkimage.sh OUTDIR VARIANT}
variant=${2:?usage: mkimage.sh OUTDIR VARIANT}
mkdir -p "$out/src"
src=$(cd "$out/src" && pwd)
img=$out/xfs.img
proto=$out/proto
PATH=$PATH:/usr/sbin:/sbin

mkfsopts=()
size=320M
case $variant in
v5) ;;
v5legacy) mkfsopts=(-m bigtime=0) ;;
v4) mkfsopts=(-m crc=0) ;;
v4noftype) mkfsopts=(-m crc=0 -n ftype=0) ;; # entries without file type
v5b1k) mkfsopts=(-b size=1024 -n size=4096 -i nrext64=1) ;; # 4-block directory blocks, 64-bit extent counters
bench) size=1G ;;
*) echo "unknown variant $variant" >&2; exit 2 ;;
esac

# file NAME MODE UID GID CONTENT-FILE — one protofile line
ent() { printf '%s %s %s %s %s\n' "$@" >>"$proto"; }

printf '/dev/null\n0 0\nd--755 0 0\n' >"$proto"

if [ "$variant" = bench ]; then
	: >"$src/empty"
	for d in $(seq -w 0 99); do
		echo "d$d d--755 0 0" >>"$proto"
		for f in $(seq -w 0 999); do
			echo "f$f ---644 0 0 $src/empty" >>"$proto"
		done
		echo '$' >>"$proto"
	done
	echo '$' >>"$proto"
	rm -f "$img"; truncate -s "$size" "$img"
	mkfs.xfs -q -f -L bench -p "$proto" "$img"
	exit 0
fi

printf 'hello world\n' >"$src/hello"
: >"$src/empty"
head -c 8388608 /dev/urandom >"$src/big"    # one large extent
head -c 1228800 /dev/urandom >"$src/frag"   # 300 blocks, re-mapped below
ent hello.txt ---644 0 0 "$src/hello"
ent empty ---600 0 0 "$src/empty"
ent owned ---640 1000 100 "$src/hello"
ent suid -u-4755 0 0 "$src/hello"
ent sgid --g2750 0 50 "$src/hello"
echo 'fifo p--644 0 0' >>"$proto"
echo 'cdev c--600 0 0 4 5' >>"$proto"
echo 'bdev b--660 0 6 8 1' >>"$proto"
ent "$(printf 'L%.0s' $(seq 1 255))" ---644 0 0 "$src/hello"
ent $'bad\xff\xfename' ---644 0 0 "$src/hello"
ent $'caf\xc3\xa9' ---644 0 0 "$src/hello"
ent big ---644 0 0 "$src/big"
ent frag ---644 0 0 "$src/frag"
ent xattrs ---644 0 0 "$src/hello"
ent bigattrs ---644 0 0 "$src/hello"

# Short-form directory; b becomes a hard link to a below.
echo 'short d--755 0 0' >>"$proto"
ent a ---644 0 0 "$src/hello"
ent b ---644 0 0 "$src/empty"
ent c ---644 0 0 "$src/hello"
echo '$' >>"$proto"

# Directories sized for block, leaf and node format; every second file has
# one of 97 different contents (creating thousands of source files is slow
# on some hosts), the others are empty.
for ((i = 0; i < 97; i++)); do printf 'content %d\n%*s\n' $i $((i * 41)) x >"$src/c.$i"; done
mkdirents() { # NAME COUNT PREFIX
	local i
	{
		echo "$1 d--755 0 0"
		for ((i = 1; i <= $2; i++)); do
			if ((i % 2)); then
				printf '%s ---644 %d %d %s\n' "$3$i" $((i % 7)) $((i % 5)) "$src/c.$((i % 97))"
			else
				printf '%s ---644 0 0 %s\n' "$3$i" "$src/empty"
			fi
		done
		echo '$'
	} >>"$proto"
}
mkdirents block 40 f
mkdirents leaf 300 leaf_entry_
mkdirents node 5000 node_directory_entry_with_a_long_name_
echo 'deep d--700 0 0' >>"$proto"
for d in a b c d e f; do echo "$d d--755 0 0" >>"$proto"; done
ent file ---644 0 0 "$src/hello"
for d in a b c d e f deep; do echo '$' >>"$proto"; done

long=/$(printf 'long-symlink-target-component/%.0s' $(seq 1 20))end
echo 'links d--755 0 0' >>"$proto"
echo 'rel l--777 0 0 ../hello.txt' >>"$proto"
echo 'abs l--777 0 0 /hello.txt' >>"$proto"
echo "long l--777 0 0 $long" >>"$proto"
echo 'todeep l--777 0 0 /deep/a/b' >>"$proto"
echo 'loop1 l--777 0 0 loop2' >>"$proto"
echo 'loop2 l--777 0 0 loop1' >>"$proto"
echo 'dangling l--777 0 0 nowhere' >>"$proto"
echo '$' >>"$proto"
echo '$' >>"$proto"

rm -f "$img"
truncate -s "$size" "$img"
mkfs.xfs -q -f -L "$variant" "${mkfsopts[@]}" -p "$proto" "$img"

db() { xfs_db -r "$@" "$img"; }
# ino DIR NAME — inode number of DIR/NAME from xfs_db's own directory listing
ino() { db -c "ls $1" | awk -v n="$2" '$NF == "(good)" && $(NF-1) == n { print $2 }'; }

v5=0
vn=$(db -c 'sb 0' -c 'p versionnum' | awk '{print $3}')
if (((vn & 0xf) == 5)); then v5=1; fi
u=u; [ $v5 = 1 ] && u=u3

cmds=$out/xfs_db.cmds
: >"$cmds"
w() { echo "write -d $*" >>"$cmds"; }

# Times: nanoseconds everywhere, and past 2038 where bigtime allows.
hello=$(ino / hello.txt)
echo "inode $hello" >>"$cmds"
if [ "$variant" = v5 ]; then
	# With bigtime, xfs_db writes the raw 64-bit nanosecond counter
	# (seconds since 1901-12-13T20:45:52Z times 1e9 plus ns).
	w core.mtime.sec $(((4102444800 + 2147483648) * 1000000000 + 123456789)) # 2100-01-01
	w core.atime.sec $(((2147483648 + 2147483648) * 1000000000 + 999999999)) # 2038-01-19T03:14:08
	w v3.crtime.sec $(((946684800 + 2147483648) * 1000000000 + 1))            # 2000-01-01
	w core.ctime.sec $(((0) * 1000000000 + 5))                               # 1901-12-13T20:45:52
else
	w core.mtime.sec 2147483647
	w core.mtime.nsec 123456789
	w core.atime.sec -- -315619200 # 1960-01-01
	w core.atime.nsec 999999999
	w core.ctime.sec 0
	w core.ctime.nsec 1
	if [ $v5 = 1 ]; then w v3.crtime.sec 946684800; w v3.crtime.nsec 7; fi
fi

# Hard link: point short/b at a's inode and give a two links.
sd=$(ino / short)
a=$(ino /short a)
echo "inode $sd" >>"$cmds"
sf=$(db -c "inode $sd" -c p | grep -o "^$u\.sfdir[23]" | head -1)
w "$sf.list[1].inumber.i4" "$a"
echo "inode $a" >>"$cmds"
w core.nlinkv2 2

# Extended attributes: short-form, then leaf with a local and a remote value.
x=$(ino / xattrs)
echo "inode $x" >>"$cmds"
echo 'attr_set -s -v 20 capability' >>"$cmds"
echo 'attr_set -v 5 comment' >>"$cmds"
echo 'attr_set -r -v 3 trustme' >>"$cmds"
# (xfs_db 6.1 crashes building attribute leaves on v4, so only on v5.)
if [ $v5 = 1 ]; then
	ba=$(ino / bigattrs)
	echo "inode $ba" >>"$cmds"
	echo 'attr_set -v 1000 medium' >>"$cmds"
	echo 'attr_set -s -v 6000 remote' >>"$cmds"
fi

# Fragmented file: rewrite the start of frag's single extent as a B+tree of
# up to 100 two-block extents (as many as one leaf block holds) with
# one-block holes between them (extent 8 is unwritten); the tree's leaf
# block is the 300th block of the file.
fr=$(ino / frag)
start=$(db -c "inode $fr" -c bmap | awk '{print $5; exit}')
leaf=$((start + 299))
daddr=$(db -c "convert fsblock $leaf daddr" | sed 's/ .*//')
uuid=$(db -c 'sb 0' -c 'p uuid' | awk '{print $3}')
bs=$(db -c 'sb 0' -c 'p blocksize' | awk '{print $3}')
hdr=24; [ $v5 = 1 ] && hdr=72
nrec=$(((bs - hdr) / 16)); ((nrec > 100)) && nrec=100
{
	echo "fsblock $leaf"
	echo 'type bmapbtd'
	if [ $v5 = 1 ]; then
		echo 'write -d magic 0x424d4133'
	else
		echo 'write -d magic 0x424d4150'
	fi
	echo 'write -d level 0'
	echo "write -d numrecs $nrec"
	echo 'write -d leftsib -- -1'
	echo 'write -d rightsib -- -1'
	if [ $v5 = 1 ]; then
		echo "write -d bno $daddr"
		echo 'write -d lsn 0'
		echo "write -d uuid $uuid"
		echo "write -d owner $fr"
	fi
	for ((i = 0; i < nrec; i++)); do
		j=$((i + 1))
		echo "write -d recs[$j].startoff $((i * 3))"
		echo "write -d recs[$j].startblock $((start + i * 2))"
		echo "write -d recs[$j].blockcount 2"
		echo "write -d recs[$j].extentflag $((i == 7 ? 1 : 0))"
	done
	echo "inode $fr"
	echo 'write -d core.format 3'
	echo "write -d core.nextents $nrec"
	echo "write -d $u.bmbt.level 1"
	echo "write -d $u.bmbt.numrecs 1"
	echo "write -d $u.bmbt.keys[1].startoff 0"
	echo "write -d $u.bmbt.ptrs[1] $leaf"
} >>"$cmds"

xfs_db -x -f "$img" <"$cmds" >"$out/xfs_db.log" 2>&1
if grep -v "Metadata CRC error detected" "$out/xfs_db.log" | grep -qi "error\|invalid\|bad option\|not found"; then
	echo "xfs_db edits failed:" >&2
	grep -i 'error\|invalid\|bad option\|not found' "$out/xfs_db.log" >&2
	exit 1
fi
