/* writeutmp: writes wtmp records and a lastlog with glibc's own struct
 * layouts (updwtmp(3) and struct lastlog), so that coldcase's reader is
 * checked against the C library rather than against itself. Built by the
 * tests natively and with -m32.
 *
 * usage: writeutmp WTMP LASTLOG
 */
#include <arpa/inet.h>
#include <lastlog.h>
#include <stdio.h>
#include <string.h>
#include <utmp.h>

static void rec(const char *file, short type, pid_t pid, const char *line,
                const char *id, const char *user, const char *host,
                const char *addr, long sec, long usec)
{
	struct utmp ut;
	memset(&ut, 0, sizeof ut);
	ut.ut_type = type;
	ut.ut_pid = pid;
	strncpy(ut.ut_line, line, sizeof ut.ut_line);
	strncpy(ut.ut_id, id, sizeof ut.ut_id);
	strncpy(ut.ut_user, user, sizeof ut.ut_user);
	strncpy(ut.ut_host, host, sizeof ut.ut_host);
	if (addr && strchr(addr, ':'))
		inet_pton(AF_INET6, addr, ut.ut_addr_v6);
	else if (addr)
		inet_pton(AF_INET, addr, ut.ut_addr_v6);
	ut.ut_session = pid;
	ut.ut_tv.tv_sec = sec;
	ut.ut_tv.tv_usec = usec;
	updwtmp(file, &ut);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	FILE *w = fopen(argv[1], "w"); /* updwtmp appends only to an existing file */
	if (!w)
		return 1;
	fclose(w);
	rec(argv[1], BOOT_TIME, 0, "~", "~~", "reboot", "6.1.0-test", NULL, 1780000000, 1);
	rec(argv[1], USER_PROCESS, 4242, "pts/3", "ts/3", "carol", "198.51.100.23", "198.51.100.23", 1780000100, 250000);
	rec(argv[1], USER_PROCESS, 4343, "pts/4", "ts/4", "dave", "2001:db8:1::7", "2001:db8:1::7", 1780000200, 999999);
	rec(argv[1], DEAD_PROCESS, 4242, "pts/3", "ts/3", "", "", NULL, 1780003700, 0);
	rec(argv[1], RUN_LVL, 0, "~~", "~~", "shutdown", "6.1.0-test", NULL, 1780009999, 0);

	FILE *f = fopen(argv[2], "wb");
	if (!f)
		return 1;
	struct lastlog ll;
	memset(&ll, 0, sizeof ll);
	ll.ll_time = 1780000100;
	strncpy(ll.ll_line, "pts/3", sizeof ll.ll_line);
	strncpy(ll.ll_host, "198.51.100.23", sizeof ll.ll_host);
	fseek(f, 1001L * sizeof ll, SEEK_SET); /* a sparse hole before UID 1001 */
	fwrite(&ll, sizeof ll, 1, f);
	memset(&ll, 0, sizeof ll);
	ll.ll_time = 1780000200;
	strncpy(ll.ll_line, "tty1", sizeof ll.ll_line);
	fseek(f, 0, SEEK_SET);
	fwrite(&ll, sizeof ll, 1, f);
	fclose(f);
	printf("%zu %zu\n", sizeof(struct utmp), sizeof(struct lastlog));
	return 0;
}
