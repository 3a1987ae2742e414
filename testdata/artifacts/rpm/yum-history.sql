-- yum 3's history database (CentOS/RHEL <= 7, /var/lib/yum/history/
-- history-YYYY-MM-DD.sqlite). Schema: yum's yum/history.py (the tables
-- coldcase reads). Rows: libdnf's tests/swdb/TransformerTest.cpp, whose
-- assertions (transaction 1: begin 1513267401, end 1513267509, login uid
-- 1000, "upgrade -y", chrony 1:3.1-4.fc26 upgraded; transaction 2: begin
-- 1513267535, end 1513267539, "-y install Foo", kernel installed) the Go
-- test checks. Transaction 3 (no trans_end: interrupted) is ours.
CREATE TABLE trans_beg (
     tid INTEGER PRIMARY KEY,
     timestamp INTEGER NOT NULL, rpmdb_version TEXT NOT NULL,
     loginuid INTEGER);
CREATE TABLE trans_end (
     tid INTEGER PRIMARY KEY REFERENCES trans_beg,
     timestamp INTEGER NOT NULL, rpmdb_version TEXT NOT NULL,
     return_code INTEGER NOT NULL);
CREATE TABLE trans_cmdline (
     tid INTEGER NOT NULL REFERENCES trans_beg,
     cmdline TEXT NOT NULL);
CREATE TABLE trans_data_pkgs (
     tid INTEGER NOT NULL REFERENCES trans_beg,
     pkgtupid INTEGER NOT NULL REFERENCES pkgtups,
     done BOOL NOT NULL DEFAULT FALSE, state TEXT NOT NULL);
CREATE TABLE pkgtups (
     pkgtupid INTEGER PRIMARY KEY,     name TEXT NOT NULL, arch TEXT NOT NULL,
     epoch TEXT NOT NULL, version TEXT NOT NULL, release TEXT NOT NULL,
     checksum TEXT);
CREATE INDEX i_pkgtup_naevr ON pkgtups (name, arch, epoch, version, release);
INSERT INTO pkgtups VALUES
    (1, 'chrony', 'x86_64', 1, '3.1', '4.fc26', 'sha256:6cec2091'),
    (2, 'kernel', 'x86_64', 0, '4.11.6', '301.fc26', 'sha256:8dc6bb96'),
    (3, 'nmap-ncat', 'x86_64', 2, '6.40', '19.el7', 'sha256:00');
INSERT INTO trans_beg VALUES
    (1, 1513267401, '2213:9795b6a4db5e5368628b5240ec63a629833c5594', 1000),
    (2, 1513267535, '2213:9eab991133c166f8bcf3ecea9fb422b853f7aebc', 1000),
    (3, 1513300000, '2214:e02004142740afb5b6d148d50bc84be4ab41ad13', 4294967295);
INSERT INTO trans_end VALUES
    (1, 1513267509, '2213:9eab991133c166f8bcf3ecea9fb422b853f7aebc', 0),
    (2, 1513267539, '2214:e02004142740afb5b6d148d50bc84be4ab41ad13', 0);
INSERT INTO trans_cmdline VALUES
    (1, 'upgrade -y'),
    (2, '-y install Foo'),
    (3, 'install nmap-ncat');
INSERT INTO trans_data_pkgs VALUES
    (1, 1, 'TRUE', 'Upgrade'),
    (2, 2, 'TRUE', 'Install'),
    (3, 3, 'FALSE', 'Dep-Install');
