#!/bin/sh
# mkimage.sh OUT.img 12|16|32 — builds a FAT image for fs/fat's tests with
# dosfstools and mtools only (no mount): a generated tree of a few hundred
# files with long, mixed-case and Unicode names, nested directories, an
# EFI-like boot tree, and two files deleted with mdel so that deleted
# directory entries (0xE5) remain, one with and one without a long name. Times come from the files' mtimes; mtools
# copies them (mcopy -m) so the tree has known, varied times.
set -eu
out=$1
bits=$2
case $bits in
12) size=4096 ;;  # KiB: stays under 4085 clusters with 1 KiB clusters
16) size=20480 ;;
32) size=40960 ;;
*) echo "usage: $0 OUT.img 12|16|32" >&2; exit 2 ;;
esac
export LC_ALL=C.UTF-8 MTOOLS_SKIP_CHECK=1 TZ=UTC
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT

mkdir -p "$src/EFI/BOOT" "$src/Docs/Deeply/Nested/Folder/Tree" "$src/many" "$src/Ünïcödé dir"
printf 'MZ fake efi loader\n' > "$src/EFI/BOOT/BOOTX64.EFI"
printf 'timeout 3\n' > "$src/EFI/BOOT/grub.cfg"
printf 'short\n' > "$src/SHORT.TXT"
printf 'lower case 8.3\n' > "$src/lower.txt"
printf 'mixed\n' > "$src/MixedCase.Txt"
printf 'ext lower\n' > "$src/UPPER.ext"
printf 'A long file name with spaces and dots\n' > "$src/A long file name with spaces.and.dots.text"
printf 'a BMP symbol (mtools cannot write surrogate pairs)\n' > "$src/smile ☺ face.txt"
printf 'cyrillic\n' > "$src/Ünïcödé dir/Привет мир.txt"
printf 'deep\n' > "$src/Docs/Deeply/Nested/Folder/Tree/leaf file.md"
# A multi-cluster file with a known pattern.
i=0; while [ $i -lt 3000 ]; do printf 'line %05d of the big file\n' $i; i=$((i+1)); done > "$src/Docs/big.log"
# Hundreds of small files, some with long names, spread over two levels.
i=0
while [ $i -lt 300 ]; do
  d="$src/many/d$((i % 7))"
  mkdir -p "$d"
  if [ $((i % 3)) -eq 0 ]; then n="file number $i with a long name.dat"; else n="F$i.BIN"; fi
  printf 'content of %d\n' $i > "$d/$n"
  # Vary mtimes deterministically (FAT keeps 2 s resolution; odd seconds round).
  touch -d "@$((1600000000 + i * 86413))" "$d/$n"
  i=$((i+1))
done
printf 'to be deleted\n' > "$src/Docs/deleted me please.txt"
touch -d '2021-03-04 05:06:07' "$src/SHORT.TXT"
touch -d '1999-12-31 23:59:58' "$src/lower.txt"

img=$out
rm -f "$img"
mkfs.vfat -C -F "$bits" -n "COLD$bits" -i 1234ABCD "$img" "$size" >/dev/null
mcopy -s -m -i "$img" "$src"/* ::/
mdel -i "$img" "::/Docs/deleted me please.txt"
mdel -i "$img" "::/many/d0/F7.BIN" # 8.3 only: its first character is lost
