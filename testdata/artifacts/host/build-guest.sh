#!/usr/bin/env bash
# Builds a small Linux guest as a folder and as an ext4 image of it, for the
# host artifact extractors' end-to-end test (artifacts/binaries/guest_ext4_test.go):
# a SUID binary, one with file capabilities (setcap), a hidden payload owned
# by uid 1000 under /tmp, an enabled systemd unit (symlink in a .wants
# folder), a cron.d job, accounts and an authorized_keys file, and a fixed
# birth time on /etc/machine-id (debugfs). Needs e2fsprogs and libcap2-bin.
#
# usage: build-guest.sh OUTDIR   → OUTDIR/tree, OUTDIR/guest.ext4
set -euo pipefail
export TZ=UTC
out=$1
t=$out/tree
mkdir -p "$t"/{etc/cron.d,etc/systemd/system/multi-user.target.wants,usr/bin,tmp/.x,home/alice/.ssh,var/log,root}

cat > "$t/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1000:1000:Alice:/home/alice:/bin/bash
P
printf 'root:*:20000:0:99999:7:::\nalice:$6$s$h:20100:0:99999:7:::\n' > "$t/etc/shadow"
printf 'root:x:0:\nalice:x:1000:\n' > "$t/etc/group"
printf 'guest01\n' > "$t/etc/hostname"
printf 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' > "$t/etc/os-release"
printf '0123456789abcdef0123456789abcdef\n' > "$t/etc/machine-id"
printf '*/10 * * * * root /tmp/.x/payload --beacon\n' > "$t/etc/cron.d/beacon"
printf '[Unit]\nDescription=x\n[Service]\nExecStart=/tmp/.x/payload\n[Install]\nWantedBy=multi-user.target\n' > "$t/etc/systemd/system/evil.service"
ln -s /etc/systemd/system/evil.service "$t/etc/systemd/system/multi-user.target.wants/evil.service"
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq0LW3sWxTjxLAO8Xz5G4x8bZ3i9u+7xRkq1p9QnWvE alice@laptop\n' > "$t/home/alice/.ssh/authorized_keys"
printf 'id\nwhoami\n' > "$t/root/.bash_history"
printf 'log\n' > "$t/var/log/syslog"

cp /bin/true "$t/usr/bin/suidbin" && chmod 4755 "$t/usr/bin/suidbin"
cp /bin/true "$t/usr/bin/capbin" && chmod 755 "$t/usr/bin/capbin"
setcap cap_net_raw,cap_net_admin+ep "$t/usr/bin/capbin"
cp /bin/true "$t/tmp/.x/payload" && chmod 755 "$t/tmp/.x/payload"
chown -R 1000:1000 "$t/tmp/.x" "$t/home/alice"

mkfs.ext4 -q -F -L guest -d "$t" "$out/guest.ext4" 32M
debugfs -w -R 'sif /etc/machine-id crtime 20240203040506' "$out/guest.ext4" 2>/dev/null
