#!/usr/bin/env bash
# Builds test journals from a journal export file with systemd's own
# writer, in each format this host's systemd can write, and prints what
# journalctl reads from them. artifacts/journal's tests do the same at test
# time (tool_test.go writes the export file); this script is for looking at
# the files by hand.
#
# usage: build.sh EXPORT.txt OUTDIR
set -euo pipefail
export_file=$1
out=$2
remote=/lib/systemd/systemd-journal-remote
mkdir -p "$out"
build() { # name, then env assignments, then -- and extra flags
	local name=$1; shift
	local envs=()
	while [[ $# -gt 0 && $1 != -- ]]; do envs+=("$1"); shift; done
	[[ $# -gt 0 ]] && shift
	rm -f "$out/$name".journal "$out/$name"@*.journal
	env "${envs[@]}" "$remote" -o "$out/$name.journal" "$@" "$export_file"
	journalctl --file "$out/$name.journal" --header | grep -E 'Incompatible flags|Entry objects'
}
build compact-zstd SYSTEMD_JOURNAL_COMPACT=1 SYSTEMD_JOURNAL_KEYED_HASH=1
build regular-zstd SYSTEMD_JOURNAL_COMPACT=0 SYSTEMD_JOURNAL_KEYED_HASH=0
build regular-plain SYSTEMD_JOURNAL_COMPACT=0 SYSTEMD_JOURNAL_KEYED_HASH=0 -- --compress=no
build compact-plain SYSTEMD_JOURNAL_COMPACT=1 -- --compress=no
# Debian 12's systemd (252) writes only zstd; SYSTEMD_JOURNAL_COMPRESS does
# not choose the algorithm there. LZ4 comes from the peer journals
# (2004.journal) and xz from the tests' own tiny writer (tiny_test.go).
