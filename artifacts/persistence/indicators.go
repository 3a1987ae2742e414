package persistence

import "regexp"

// Indicators are the simple, documented patterns that mark a command or
// a profile line as fetching or running code from elsewhere. They are
// hints for a reader, not verdicts: a cron job that runs curl to a
// monitoring endpoint matches too.
//
//	download     curl, wget, fetch, tftp, scp/rsync from a host
//	netcat       nc, ncat, netcat, socat
//	decode       base64 -d/--decode, xxd -r, openssl enc -d/base64 -d
//	temp_path    /tmp/, /var/tmp/, /dev/shm/
//	dev_tcp      bash's /dev/tcp/ and /dev/udp/ sockets
//	pipe_shell   a pipe into sh, bash, zsh, dash, python, perl
//	inline_code  python/perl/ruby/php with -c/-e/-r
//	ld_preload   LD_PRELOAD= set
//	hidden_path  a hidden folder below another folder (/…/.x/), or a hidden
//	             file in /tmp, /var/tmp or /dev/shm
var indicatorPatterns = []struct {
	name string
	re   *regexp.Regexp
}{
	{"download", regexp.MustCompile(`(^|[^\w.-])(curl|wget|fetch|tftp)([^\w.-]|$)|(scp|rsync)\s+\S*\S+:`)},
	{"netcat", regexp.MustCompile(`(^|[^\w.-])(nc|ncat|netcat|socat)([^\w.-]|$)`)},
	{"decode", regexp.MustCompile(`base64\s+(-\w*d|--decode)|xxd\s+-r|openssl\s+(enc|base64)\b.*\s-d\b`)},
	{"temp_path", regexp.MustCompile(`(^|[^\w])(/tmp/|/var/tmp/|/dev/shm/)`)},
	{"dev_tcp", regexp.MustCompile(`/dev/(tcp|udp)/`)},
	{"pipe_shell", regexp.MustCompile(`\|\s*(sudo\s+)?(/usr)?(/bin/)?(ba|z|da|k)?sh\b|\|\s*(python[0-9.]*|perl)\b`)},
	{"inline_code", regexp.MustCompile(`(^|[^\w])(python[0-9.]*|perl|ruby|php)\s+(-\w*[cer])\b`)},
	{"ld_preload", regexp.MustCompile(`LD_PRELOAD=`)},
	{"hidden_path", regexp.MustCompile(`/[^/\s~]+/\.[^/\s.][^/\s]*/|(/tmp|/var/tmp|/dev/shm)/\.[^/\s.]`)},
}

// Indicators lists the names of the patterns a command matches.
func Indicators(cmd string) []string {
	var out []string
	for _, p := range indicatorPatterns {
		if p.re.MatchString(cmd) {
			out = append(out, p.name)
		}
	}
	return out
}
