#!/bin/bash
# build.sh OUT — builds tiny noarch rpm packages with rpmbuild and installs
# them with rpm into OUT/root (files and rpmdb.sqlite under
# OUT/root/var/lib/rpm), then copies the same header blobs into Berkeley
# DB hash files OUT/bdb*/Packages with db5.3_load (the real BerkeleyDB
# library), as CentOS 7 / RHEL 8 keep them. Needs rpm, rpmbuild, sqlite3,
# db5.3-util. Prints nothing on success.
set -euo pipefail
out=$(realpath "$1")
w=$out/work
mkdir -p "$w"/{SPECS,SOURCES,BUILD,RPMS,SRPMS} "$out/root" "$out/bdb"

spec() { # name epoch nfiles algo
	local name=$1 epoch=$2 n=$3
	{
		echo "Name: $name"
		echo "Version: 1.${n}"
		echo "Release: 3.el9"
		[ "$epoch" != - ] && echo "Epoch: $epoch"
		echo "Summary: coldcase test package $name"
		echo "License: MIT"
		echo "Vendor: Coldcase Test Vendor"
		echo "Packager: Test Packager <t@example.org>"
		echo "BuildArch: noarch"
		echo "AutoReqProv: no" # no /bin/sh dependency: dnf installs into an empty root
		echo "%description"
		echo "test"
		echo "%install"
		echo "mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/$name %{buildroot}/usr/share/$name"
		echo "printf '#!/bin/sh\necho $name\n' > %{buildroot}/usr/bin/$name"
		echo "chmod 755 %{buildroot}/usr/bin/$name"
		echo "printf 'setting=1\n' > %{buildroot}/etc/$name/$name.conf"
		echo "printf '#!/bin/sh\nexit 0\n' > %{buildroot}/etc/$name/hook.sh"
		echo "for i in \$(seq 1 $n); do echo \"data \$i of $name\" > %{buildroot}/usr/share/$name/file-\$i.txt; done"
		echo "ln -s ../bin/$name %{buildroot}/usr/share/$name/link"
		echo "%files"
		echo "%attr(0755,root,root) /usr/bin/$name"
		echo "%config(noreplace) /etc/$name/$name.conf"
		echo "%config %attr(0755,root,root) /etc/$name/hook.sh" # an executable %config file
		echo "/usr/share/$name"
	} > "$w/SPECS/$name.spec"
}
spec cc-alpha - 3
spec cc-beta 2 250 # a header larger than a page: overflow pages in both containers
spec cc-gamma - 1

for s in cc-alpha cc-beta; do
	rpmbuild --quiet --define "_topdir $w" --define '_build_id_links none' -bb "$w/SPECS/$s.spec" >/dev/null 2>&1
done
# md5 file digests, as rpm < 4.6 and some vendors wrote them
rpmbuild --quiet --define "_topdir $w" --define '_build_id_links none' \
	--define '_binary_filedigest_algorithm 1' -bb "$w/SPECS/cc-gamma.spec" >/dev/null 2>&1

mkdir -p "$out/root/var/lib/rpm"
rpm --root "$out/root" --dbpath /var/lib/rpm --initdb
rpm --root "$out/root" --dbpath /var/lib/rpm -i --nodeps --noscripts --nosignature --ignorearch \
	"$w"/RPMS/noarch/*.rpm >/dev/null 2>&1

# Berkeley DB: key = hnum as a native-endian uint32, value = blob. Also
# a big-endian database (as s390x/ppc64 guests write it) and one with
# page checksums, both by db5.3_load.
db="$out/root/var/lib/rpm/rpmdb.sqlite"
dump() { # le|be
	printf 'VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=4096\nHEADER=END\n'
	sqlite3 "$db" "select printf('%08x', hnum), lower(hex(blob)) from Packages order by hnum" |
		while IFS='|' read -r k v; do
			if [ "$1" = le ]; then k="${k:6:2}${k:4:2}${k:2:2}${k:0:2}"; fi
			printf ' %s\n %s\n' "$k" "$v"
		done
	printf 'DATA=END\n'
}
dump le > "$w/Packages.dump"
dump be > "$w/Packages-be.dump"
mkdir -p "$out/bdb-be" "$out/bdb-chksum"
db5.3_load -f "$w/Packages.dump" "$out/bdb/Packages"
db5.3_load -c db_lorder=4321 -f "$w/Packages-be.dump" "$out/bdb-be/Packages"
db5.3_load -c chksum=1 -f "$w/Packages.dump" "$out/bdb-chksum/Packages"
