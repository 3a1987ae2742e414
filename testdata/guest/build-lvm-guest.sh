#!/usr/bin/env bash
# build-lvm-guest.sh — a guest with the hardened layout on LVM spanning two
# disks, for the end-to-end tests of guest assembly (cmd/coldcase).
#
#   build-lvm-guest.sh OUTDIR
#
#   disk1.raw  GPT: p1 EFI system (FAT32, 34 MiB), p2 LVM PV (770 MiB)
#   disk2.raw  GPT: p1 LVM PV (rest of 300 MiB)
#
#   VG vg0       LV           fs    label        mounted by (fstab)
#              root        64M ext4  root         /dev/mapper/vg0-root  /
#              var        300M XFS   var          /dev/mapper/vg0-var   /var
#              varlog     300M XFS   varlog       /dev/vg0/varlog       /var/log
#              varlogaudit 300M XFS  varlogaudit  UUID=…               /var/log/audit
#              home        48M ext4  home         LABEL=home            /home
#   p1 of disk1           FAT32 EFI                PARTUUID=…           /boot/efi
#
# root, var and varlog lie on disk1's PV; home on disk2's; varlogaudit
# starts in the last free extents of disk1 and continues on disk2, so one
# LV spans both images.
#
# Writes OUTDIR/disk1.raw, OUTDIR/disk2.raw (sparse), OUTDIR/src/NAME/ (the
# tree each filesystem was built from: root efi var varlog varlogaudit home)
# and OUTDIR/mounts (lines "NAME MOUNTPOINT FSTYPE", root first). Every file's
# mode, owner and bytes come from src/, so a test can compare the assembled
# guest with the union of the trees at their mount points. Symlinks cross
# mounts: /etc/alternatives/auditlog -> /var/log/audit/audit.log,
# /etc/logdir -> /var/log, /var/log/latest -> audit/audit.log,
# /home/alice/passwd -> ../../etc/passwd.
#
# Needs root (loop devices for LVM; nothing is mounted or activated, and
# nothing is written under /etc/lvm), lvm2, gdisk, util-linux, e2fsprogs,
# xfsprogs, dosfstools, mtools.
set -euo pipefail
export LC_ALL=C TZ=UTC LVM_SUPPRESS_FD_WARNINGS=1
PATH=$PATH:/usr/sbin:/sbin

die() { echo "build-lvm-guest.sh: $*" >&2; exit 1; }
out=${1:?usage: build-lvm-guest.sh OUTDIR}
[ "$(id -u)" = 0 ] || die "needs root for loop devices"
for tool in losetup pvcreate vgcreate lvcreate lvs pvs vgs sgdisk partx mkfs.ext4 mkfs.xfs mkfs.vfat mcopy; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not installed"
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/src
work=$out/work
rm -rf "$src" "$work"
mkdir -p "$src"/{root,efi,var,varlog,varlogaudit,home} "$work"

# Fixed identifiers, so fstab can name them.
uuid_root=6e170000-0000-4000-8000-0000000000a1
uuid_var=6e170000-0000-4000-8000-0000000000a2
uuid_varlog=6e170000-0000-4000-8000-0000000000a3
uuid_audit=6e170000-0000-4000-8000-0000000000a4
uuid_home=6e170000-0000-4000-8000-0000000000a5
partuuid_efi=6E170000-0000-4000-8000-0000000000E1

# --- source trees --------------------------------------------------------------
r=$src/root
mkdir -p "$r"/{etc/alternatives,etc/ssh,usr/bin,usr/share/doc,var,home,boot/efi,tmp,root,proc,sys,dev}
cat >"$r/etc/os-release" <<'X'
PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"
NAME="Rocky Linux"
VERSION_ID="9.4"
ID="rocky"
ID_LIKE="rhel centos fedora"
X
echo lvmhost >"$r/etc/hostname"
cat >"$r/etc/fstab" <<X
# /etc/fstab — hardened layout: /var, /var/log, /var/log/audit and /home apart
/dev/mapper/vg0-root    /               ext4  defaults                   1 1
PARTUUID=${partuuid_efi,,} /boot/efi  vfat  umask=0077,shortname=winnt 0 2
/dev/mapper/vg0-var     /var            xfs   defaults,nodev             0 0
/dev/vg0/varlog         /var/log        xfs   defaults,nodev,noexec      0 0
UUID=$uuid_audit /var/log/audit xfs defaults,nodev,noexec 0 0
LABEL=home              /home           ext4  defaults,nodev             0 2
tmpfs                   /tmp            tmpfs defaults,nosuid            0 0
X
cat >"$r/etc/passwd" <<'X'
root:x:0:0:root:/root:/bin/bash
alice:x:1000:1000:Alice:/home/alice:/bin/bash
bob:x:1001:1001::/home/bob:/bin/bash
X
printf 'root:x:0:\nalice:x:1000:\nbob:x:1001:\n' >"$r/etc/group"
printf 'root:!:19800:0:99999:7:::\nalice:$6$x$y:19800:0:99999:7:::\n' >"$r/etc/shadow"
chmod 000 "$r/etc/shadow"
printf 'PermitRootLogin no\n' >"$r/etc/ssh/sshd_config"
ln -s /var/log/audit/audit.log "$r/etc/alternatives/auditlog"
ln -s /var/log "$r/etc/logdir"
ln -s ../../etc/hostname "$r/etc/ssh/hostname-link"
cp /bin/true "$r/usr/bin/vi"
ln "$r/usr/bin/vi" "$r/usr/bin/vim" # a hard link
chmod 755 "$r/usr/bin/vi"
for p in $(seq -w 1 40); do
	mkdir -p "$r/usr/share/doc/pkg$p"
	printf 'package %s\n%*s\n' "$p" $((10#$p * 37)) x >"$r/usr/share/doc/pkg$p/copyright"
done
chmod 700 "$r/root"
chmod 1777 "$r/tmp"

v=$src/var
mkdir -p "$v"/{log,lib/dpkg/info,lib/rpm,cache/dnf,spool/cron,tmp}
for i in $(seq -w 1 400); do # a leaf-format XFS directory
	printf '/usr/share/doc/pkg%s\n' "$i" >"$v/lib/dpkg/info/package-number-$i.list"
done
head -c 200000 /dev/urandom >"$v/lib/rpm/Packages"
printf 'alice: */5 * * * * /usr/bin/true\n' >"$v/spool/cron/alice"
chmod 600 "$v/spool/cron/alice"
printf 'metadata\n' >"$v/cache/dnf/expired_repos.json"

l=$src/varlog
mkdir -p "$l"/{audit,dnf,private}
for i in $(seq 1 300); do
	printf 'Sep 12 04:%02d:%02d lvmhost sshd[%d]: line %d\n' $((i / 60 % 60)) $((i % 60)) $((1000 + i)) "$i"
done >"$l/secure"
printf 'boot\n' >"$l/boot.log"
printf '2026-09-12T02:00:00Z DEBUG dnf\n' >"$l/dnf/dnf.log"
ln -s audit/audit.log "$l/latest"
chmod 700 "$l/private"

a=$src/varlogaudit
for i in $(seq 1 200); do
	printf 'type=USER_LOGIN msg=audit(1757642400.%03d:%d): pid=%d uid=0 res=success\n' $((i % 1000)) "$i" $((2000 + i))
done >"$a/audit.log"
printf 'type=DAEMON_START msg=audit(1757600000.000:1): op=start\n' >"$a/audit.log.1"
chmod 600 "$a/audit.log" "$a/audit.log.1"

h=$src/home
mkdir -p "$h"/{alice/.ssh,bob}
printf 'export PATH=$HOME/bin:$PATH\n' >"$h/alice/.bashrc"
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx alice@laptop\n' >"$h/alice/.ssh/authorized_keys"
ln -s ../../etc/passwd "$h/alice/passwd"
printf 'notes\n' >"$h/bob/notes.txt"
chown -R 1000:1000 "$h/alice"
chown -R 1001:1001 "$h/bob"
chmod 700 "$h/alice" "$h/alice/.ssh"
chmod 600 "$h/alice/.ssh/authorized_keys"

e=$src/efi
mkdir -p "$e"/EFI/BOOT "$e"/EFI/rocky
cp /bin/true "$e/EFI/BOOT/BOOTX64.EFI"
printf 'search --fs-uuid %s --set root\n' "$uuid_root" >"$e/EFI/rocky/grub.cfg"

cat >"$out/mounts" <<'X'
root / ext4
efi /boot/efi vfat
var /var xfs
varlog /var/log xfs
varlogaudit /var/log/audit xfs
home /home ext4
X

# --- filesystem images -----------------------------------------------------------
mkfs.ext4 -q -F -L root -U "$uuid_root" -d "$src/root" "$work/root.img" 64M >/dev/null
mkfs.ext4 -q -F -L home -U "$uuid_home" -d "$src/home" "$work/home.img" 48M >/dev/null

# proto DIR — a mkfs.xfs protofile copying DIR with its modes, owners and
# symlinks. One find, no process per file: forks are slow on some CI hosts.
# Names hold no blanks (the protofile format cannot express them).
proto() {
	echo /dev/null
	echo 0 0
	find "$1" -printf '%d\t%y\t%m\t%U %G\t%f\t%p\t%l\n' | awk -F'\t' '
	function ind(n,  s) { s = ""; while (n-- > 0) s = s " "; return s }
	{
		depth = $1
		while (open > 0 && depth <= dirs[open]) { print ind(dirs[open]) "$"; open-- }
		perm = "000" $3; perm = substr(perm, length(perm) - 2) # permission bits only
		if (depth == 0) { print "d--" perm " " $4; dirs[++open] = 0; next }
		if ($2 == "d") { print ind(depth) $5 " d--" perm " " $4; dirs[++open] = depth }
		else if ($2 == "l") print ind(depth) $5 " l--" perm " " $4 " " $7
		else print ind(depth) $5 " ---" perm " " $4 " " $6
	}
	END { while (open > 0) { print ind(dirs[open]) "$"; open-- } }'
}
for fs in var:$uuid_var varlog:$uuid_varlog varlogaudit:$uuid_audit; do
	name=${fs%%:*} uuid=${fs#*:}
	proto "$src/$name" >"$work/$name.proto"
	truncate -s 300M "$work/$name.img"
	mkfs.xfs -q -f -L "$name" -m uuid="$uuid" -p "$work/$name.proto" "$work/$name.img"
done

truncate -s 34M "$work/efi.img"
mkfs.vfat -F 32 -n EFI -i 6E170EF1 "$work/efi.img" >/dev/null
mcopy -s -m -i "$work/efi.img" "$e/EFI" ::/

# --- disks and LVM -----------------------------------------------------------------
d1=$out/disk1.raw d2=$out/disk2.raw
rm -f "$d1" "$d2"
truncate -s 806M "$d1"
truncate -s 300M "$d2"
sgdisk -o -U 6E170000-0000-4000-8000-0000000D15C1 \
	-n1:2048:+34M -t1:ef00 -c1:EFI -u1:$partuuid_efi \
	-n2:0:+770M -t2:8e00 -c2:lvm "$d1" >/dev/null
sgdisk -o -U 6E170000-0000-4000-8000-0000000D15C2 -n1:2048:0 -t1:8e00 -c1:lvm "$d2" >/dev/null
part() { partx -g -o START,SECTORS -n "$2" "$1"; } # disk partno → start sectors

read -r s n < <(part "$d1" 1)
dd if="$work/efi.img" of="$d1" bs=1M oflag=seek_bytes seek=$((s * 512)) conv=notrunc,sparse status=none

declare -A pvfile pvoff
loops=()
cleanup() { for lp in "${loops[@]}"; do losetup -d "$lp" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM
for dp in "$d1:2" "$d2:1"; do
	disk=${dp%:*} pn=${dp##*:}
	read -r s n < <(part "$disk" "$pn")
	lp=$(losetup -f --show -o $((s * 512)) --sizelimit $((n * 512)) "$disk")
	loops+=("$lp")
	pvfile[$lp]=$disk pvoff[$lp]=$((s * 512))
done
pv1=${loops[0]} pv2=${loops[1]}
lvmopt=(--driverloaded n --devices "$pv1,$pv2" --config 'backup { backup = 0 archive = 0 }')
quiet() { "$@" 2> >(grep -v -e 'Activation disabled' -e 'not zeroed' -e 'NOT backed up' >&2); }
quiet pvcreate "${lvmopt[@]}" -qq -ff -y "$pv1" "$pv2" >/dev/null
quiet vgcreate "${lvmopt[@]}" -qq -s 4m vg0 "$pv1" "$pv2" >/dev/null
lvc() { quiet lvcreate "${lvmopt[@]}" -qq -an -Zn -y "$@" >/dev/null; }
lvc -L 64M -n root vg0 "$pv1"
lvc -L 300M -n var vg0 "$pv1"
lvc -L 300M -n varlog vg0 "$pv1"
lvc -L 48M -n home vg0 "$pv2"
pvnum() { pvs "${lvmopt[@]}" --noheadings --units b --nosuffix -o "$1" "$2" 2>/dev/null | tr -d ' '; }
count1=$(pvnum pv_pe_count "$pv1") used1=$(pvnum pv_pe_alloc_count "$pv1")
used2=$(pvnum pv_pe_alloc_count "$pv2")
free1=$((count1 - used1)) need=75 # 300 MiB of 4 MiB extents
[ "$free1" -gt 0 ] && [ "$free1" -lt "$need" ] || die "disk1 has $free1 free extents; the layout needs 1..$((need - 1))"
lvc -l $need -n varlogaudit vg0 "$pv1:$used1-$((count1 - 1))" "$pv2:$used2-$((used2 + need - free1 - 1))"
ext=$(vgs "${lvmopt[@]}" --noheadings --units b --nosuffix -o vg_extent_size vg0 2>/dev/null | tr -d ' ')

# Copy each filesystem image through its LV's segment map into the disks.
for lv in root var varlog varlogaudit home; do
	img=$work/$lv.img
	segs=0
	while read -r sstart ssize ranges; do
		[ -n "$sstart" ] || continue
		lp=${ranges%%:*} first=${ranges##*:}
		first=${first%%-*}
		[ -n "${pvfile[$lp]:-}" ] || die "segment of vg0/$lv on unknown device '$ranges'"
		pe_start=$(pvnum pe_start "$lp")
		off=$((pvoff[$lp] + pe_start + first * ext))
		dd if="$img" of="${pvfile[$lp]}" bs=1M iflag=skip_bytes,count_bytes,fullblock oflag=seek_bytes \
			skip="$sstart" seek="$off" count="$ssize" conv=notrunc,sparse status=none
		echo "vg0/$lv segment at $sstart+$ssize: ${pvfile[$lp]##*/} byte $off"
		segs=$((segs + 1))
	done < <(lvs "${lvmopt[@]}" --noheadings --units b --nosuffix --segments \
		-o seg_start,seg_size,seg_pe_ranges "vg0/$lv" 2>/dev/null)
	[ "$segs" -gt 0 ] || die "no segments for vg0/$lv"
done
rm -rf "$work"
