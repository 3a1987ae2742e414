package main

// Filesystem drivers and artifact extractors register themselves from
// init, as database/sql drivers do; importing them here is what makes them
// available to every verb.
import (
	_ "github.com/coldcase-dfir/coldcase/fs/ext4"
	_ "github.com/coldcase-dfir/coldcase/fs/fat"
	_ "github.com/coldcase-dfir/coldcase/fs/ntfs"
	_ "github.com/coldcase-dfir/coldcase/fs/xfs"

	_ "github.com/coldcase-dfir/coldcase/artifacts/audit"
	_ "github.com/coldcase-dfir/coldcase/artifacts/binaries"
	_ "github.com/coldcase-dfir/coldcase/artifacts/journal"
	_ "github.com/coldcase-dfir/coldcase/artifacts/packages"
	_ "github.com/coldcase-dfir/coldcase/artifacts/persistence"
	_ "github.com/coldcase-dfir/coldcase/artifacts/syslog"
	_ "github.com/coldcase-dfir/coldcase/artifacts/system"
	_ "github.com/coldcase-dfir/coldcase/artifacts/users"
	_ "github.com/coldcase-dfir/coldcase/artifacts/utmp"
)
