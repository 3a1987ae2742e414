#!/usr/bin/env bash
# mklvm.sh — build a raw disk image holding an LVM2 volume group, and write
# filesystem images into its logical volumes. Needs root (loop devices) and
# lvm2, util-linux, gdisk/fdisk. Nothing is activated: device-mapper is not
# needed, and the host's LVM backup/archive files are not touched.
#
# Usage:
#   mklvm.sh OUT.raw SIZE_MB VG LV:SIZE_MB[:FSIMAGE] [LV:SIZE_MB[:FSIMAGE] ...]
#
#   OUT.raw   the disk image to create (replaced if it exists), sparse
#   SIZE_MB   its size in MiB
#   VG        volume group name ([A-Za-z0-9+_.-], not starting with '-')
#   LV:SIZE_MB[:FSIMAGE]
#             a linear LV of SIZE_MB MiB; FSIMAGE (a file, e.g. made by
#             mkfs.ext4 -d) is copied to the LV's start. It must not be
#             larger than the LV. LVs are created in the order given.
#
# Environment:
#   MKLVM_TABLE=gpt|mbr|none  partition table of the new image (default gpt):
#             one partition from 1 MiB to the end, type Linux LVM (GPT 8e00,
#             MBR 0x8e), GPT name "lvm"; with "none" the PV is the whole disk.
#   MKLVM_PARTITION=N         do not create OUT.raw: use partition N of the
#             existing OUT.raw as the PV (SIZE_MB is then ignored; give 0).
#   MKLVM_EXTENT=4m           extent size (vgcreate -s); default 4m.
#
# Output (stdout): one line per LV,
#   VG/LV <size bytes> <disk byte offset of segment 1>[,<offset of segment 2>…]
# Diagnostics go to stderr. Exit status is non-zero on any failure, and the
# loop device is always detached.
#
# Example (a guest's /var on LVM):
#   mkfs.ext4 -q -F -L var -d vardir var.img 64M
#   testdata/volume/mklvm.sh lvm.raw 128 vg0 var:72:var.img swap:16
set -euo pipefail
export LVM_SUPPRESS_FD_WARNINGS=1

die() { echo "mklvm.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 4 ] || usage
out=$1 size_mb=$2 vg=$3
shift 3
table=${MKLVM_TABLE:-gpt}
partno=${MKLVM_PARTITION:-}
extent=${MKLVM_EXTENT:-4m}

[ "$(id -u)" = 0 ] || die "needs root for loop devices"
for tool in losetup pvcreate vgcreate lvcreate lvs pvs vgs dd partx truncate; do
	command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
	command -v "$tool" >/dev/null 2>&1 || die "$tool not installed"
done
name_ok() { [[ $1 =~ ^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$ ]] && [ "$1" != . ] && [ "$1" != .. ]; }
name_ok "$vg" || die "bad VG name '$vg'"
[[ $size_mb =~ ^[0-9]+$ ]] || die "SIZE_MB '$size_mb' is not a number"
[[ $extent =~ ^[0-9]+[kKmMgG]?$ ]] || die "MKLVM_EXTENT '$extent' is not a size"

# Parse the LV specs before touching anything.
lv_names=() lv_sizes=() lv_images=()
for spec in "$@"; do
	IFS=: read -r name mb img extra <<<"$spec"
	[ -z "${extra:-}" ] || die "bad LV spec '$spec' (LV:SIZE_MB[:FSIMAGE])"
	name_ok "$name" || die "bad LV name '$name' in '$spec'"
	[[ $mb =~ ^[1-9][0-9]*$ ]] || die "bad LV size '$mb' in '$spec'"
	if [ -n "${img:-}" ]; then
		[ -f "$img" ] || die "FSIMAGE '$img' is not a file"
		[ "$(stat -c %s "$img")" -le $((mb << 20)) ] || die "FSIMAGE '$img' is larger than $mb MiB"
	fi
	for n in "${lv_names[@]}"; do [ "$n" != "$name" ] || die "LV '$name' given twice"; done
	lv_names+=("$name") lv_sizes+=("$mb") lv_images+=("${img:-}")
done

# The disk and the PV's place on it.
if [ -n "$partno" ]; then
	[ -f "$out" ] || die "MKLVM_PARTITION set but '$out' is not an existing image file"
	[[ $partno =~ ^[1-9][0-9]*$ ]] || die "MKLVM_PARTITION '$partno' is not a partition number"
	read -r pstart psectors < <(partx -g -o START,SECTORS -n "$partno" "$out") ||
		die "no partition $partno in '$out'"
	pv_off=$((pstart * 512)) pv_size=$((psectors * 512))
else
	[ "$size_mb" -ge 8 ] || die "SIZE_MB must be at least 8"
	if [ -e "$out" ] && [ ! -f "$out" ]; then
		die "'$out' exists and is not a regular file"
	fi
	rm -f "$out"
	truncate -s "${size_mb}M" "$out"
	case $table in
	gpt)
		command -v sgdisk >/dev/null || die "sgdisk not installed (gdisk)"
		sgdisk -n1:2048:0 -t1:8e00 -c1:lvm "$out" >/dev/null 2>&1 ||
			die "sgdisk failed on '$out'"
		;;
	mbr)
		command -v sfdisk >/dev/null || die "sfdisk not installed (fdisk)"
		printf 'label: dos\nstart=2048, type=8e\n' | sfdisk -q "$out" >/dev/null
		;;
	none) ;;
	*) die "MKLVM_TABLE must be gpt, mbr or none" ;;
	esac
	if [ "$table" = none ]; then
		pv_off=0 pv_size=$((size_mb << 20))
	else
		read -r pstart psectors < <(partx -g -o START,SECTORS -n 1 "$out") ||
			die "could not read back the partition table of '$out'"
		pv_off=$((pstart * 512)) pv_size=$((psectors * 512))
	fi
fi

loop=$(losetup -f --show -o "$pv_off" --sizelimit "$pv_size" "$out")
cleanup() { [ -z "${loop:-}" ] || losetup -d "$loop" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# Only our loop device is scanned, nothing is activated, and nothing is
# written under /etc/lvm.
lvmopt=(--driverloaded n --devices "$loop" --config 'backup { backup = 0 archive = 0 }')
quiet() { "$@" 2> >(grep -v -e 'Activation disabled' -e 'not zeroed' -e 'NOT backed up' >&2); }

quiet pvcreate "${lvmopt[@]}" -qq -ff -y "$loop" >/dev/null
quiet vgcreate "${lvmopt[@]}" -qq -s "$extent" "$vg" "$loop" >/dev/null
for i in "${!lv_names[@]}"; do
	quiet lvcreate "${lvmopt[@]}" -qq -an -Zn -y -L "${lv_sizes[$i]}M" -n "${lv_names[$i]}" "$vg" >/dev/null
done

pe_start=$(pvs "${lvmopt[@]}" --noheadings --units b --nosuffix -o pe_start "$loop" 2>/dev/null | tr -d ' ')
ext_bytes=$(vgs "${lvmopt[@]}" --noheadings --units b --nosuffix -o vg_extent_size "$vg" 2>/dev/null | tr -d ' ')
[[ $pe_start =~ ^[0-9]+$ && $ext_bytes =~ ^[0-9]+$ ]] || die "could not read pe_start/extent size"

# Segments of every LV: LV start byte, length, first PE on the PV.
declare -a seg_lines
for i in "${!lv_names[@]}"; do
	lv=${lv_names[$i]}
	while read -r sstart ssize ranges; do
		[ -n "$sstart" ] || continue
		# ranges is "/dev/loopN:FIRST-LAST" for a linear segment.
		first=${ranges##*:}
		first=${first%%-*}
		[[ $first =~ ^[0-9]+$ ]] || die "unexpected segment '$ranges' for $vg/$lv"
		seg_lines+=("$i $sstart $ssize $((pv_off + pe_start + first * ext_bytes))")
	done < <(lvs "${lvmopt[@]}" --noheadings --units b --nosuffix --segments \
		-o seg_start,seg_size,seg_pe_ranges "$vg/$lv" 2>/dev/null)
done
lv_bytes=()
for i in "${!lv_names[@]}"; do
	lv_bytes+=("$(lvs "${lvmopt[@]}" --noheadings --units b --nosuffix -o lv_size "$vg/${lv_names[$i]}" 2>/dev/null | tr -d ' ')")
done

losetup -d "$loop"
loop=

# Write the filesystem images through the segment map, into the file.
for line in "${seg_lines[@]}"; do
	read -r i sstart ssize diskoff <<<"$line"
	img=${lv_images[$i]}
	[ -n "$img" ] || continue
	isize=$(stat -c %s "$img")
	[ "$sstart" -lt "$isize" ] || continue
	n=$((isize - sstart < ssize ? isize - sstart : ssize))
	dd if="$img" of="$out" bs=1M iflag=skip_bytes,count_bytes,fullblock oflag=seek_bytes \
		skip="$sstart" seek="$diskoff" count="$n" conv=notrunc,sparse status=none
done

for i in "${!lv_names[@]}"; do
	offs=""
	for line in "${seg_lines[@]}"; do
		read -r j _ _ diskoff <<<"$line"
		[ "$j" = "$i" ] && offs=${offs:+$offs,}$diskoff
	done
	echo "$vg/${lv_names[$i]} ${lv_bytes[$i]} $offs"
done
