#!/usr/bin/env bash
# Rebuilds the small results committed under testdata/ with standard tools
# (make testdata). The other scripts here are run by the tests themselves,
# into temporary folders, every time.
set -euo pipefail
cd "$(dirname "$0")"
bash sample/build.sh sample/sample.qcow2
bash ext4/mkseed.sh
