#!/bin/bash
# dnf.sh OUT — after build.sh OUT: makes a local repository of the built
# packages with createrepo_c and runs three real, offline dnf transactions
# into OUT/dnfroot (install two packages, install one, remove one), so
# OUT/dnfroot/var/lib/dnf/history.sqlite and the rpm database dnf wrote
# (OUT/dnfroot/var/lib/rpm) are dnf's and rpm's own. dnf leaves both
# databases in WAL mode; the -wal files are kept as dnf left them.
set -euo pipefail
out=$(realpath "$1")
r=$out/dnfroot
mkdir -p "$out/repo" "$r/etc/yum.repos.d" "$r/var/lib/rpm" "$r/root"
cp "$out"/work/RPMS/noarch/*.rpm "$out/repo/"
createrepo_c -q "$out/repo"
printf '[local]\nname=local\nbaseurl=file://%s/repo\nenabled=1\ngpgcheck=0\n' "$out" > "$r/etc/yum.repos.d/local.repo"
# Debian's rpm keeps its database in ~/.rpmdb; point it where RHEL has it.
ln -s ../var/lib/rpm "$r/root/.rpmdb"
dnf() {
	command dnf -y -q --installroot "$r" --setopt=reposdir="$r/etc/yum.repos.d" --releasever 9 \
		--disablerepo='*' --enablerepo=local --setopt=install_weak_deps=0 --nogpgcheck "$@" >/dev/null 2>&1
}
dnf install cc-alpha cc-beta
sleep 1 # distinct begin times
dnf install cc-gamma
sleep 1
dnf remove cc-alpha
