// Package utmp reads the login accounting files of Linux guests — wtmp,
// btmp, utmp and their rotations — and the sparse lastlog, and turns them
// into timeline events.
//
// The record layout is detected from the data, not from the guest's
// architecture: glibc's struct utmp is 384 bytes with 32-bit time fields on
// x86-64, i386, arm and the other 64-bit ports that keep the 32-bit compat
// layout (s390x and ppc64 write it big-endian), and 400 bytes with 64-bit
// ut_session and ut_tv on aarch64 and riscv64. A record of an unknown type is
// reported as a warning naming its byte offset and skipped; reading goes on.
// A partial record at the end of the file (a crash while writing) ends the
// file without a warning, as plaso and last(1) treat it, and is counted in
// the summary.
//
// # Events
//
// Source is "wtmp", "btmp" or "utmp" by the file's name (rotations
// included), and "lastlog" for lastlog. TimestampDesc by record type:
//
//	wtmp/utmp USER_PROCESS (7)          "Login"
//	wtmp/utmp DEAD_PROCESS (8)          "Logout"
//	wtmp/utmp BOOT_TIME (2)             "Boot"
//	wtmp/utmp RUN_LVL (1), user shutdown "Shutdown"
//	wtmp/utmp RUN_LVL (1), otherwise     "Run level"
//	wtmp/utmp OLD_TIME/NEW_TIME (3, 4)   "Clock change"
//	wtmp/utmp INIT_PROCESS (5)           "Init process"
//	wtmp/utmp LOGIN_PROCESS (6)          "Login process"
//	wtmp/utmp ACCOUNTING (9)             "Accounting"
//	btmp, every record                   "Failed login"
//	lastlog                              "Last login"
//
// EMPTY records (type 0) and records whose time is zero carry no event.
// User is ut_user (lastlog: the name /etc/passwd gives the UID, else the
// UID); IP is ut_addr_v6 as IPv4 or IPv6 (an address whose last twelve bytes
// are zero is IPv4 unless ut_host spells it as IPv6), else ut_host when it
// parses as an address; the unspecified address gives no IP. Attrs: "tty"
// (ut_line), "pid", "type" (the record type's name, e.g. USER_PROCESS),
// "host" (ut_host, when set), "session" (ut_session, when not 0); lastlog
// events have "uid", "tty" and "host" (when set). Evidence.Offset is the
// record's byte offset in the file (in the decompressed stream for .gz/.xz
// rotations); Evidence.Line is 0. Message reads like "Login alice on pts/0
// from 203.0.113.7 pid 1234".
package utmp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"
)

// Type is ut_type.
type Type int16

// Record types of glibc's <utmp.h>.
const (
	Empty        Type = 0
	RunLevel     Type = 1
	BootTime     Type = 2
	NewTime      Type = 3
	OldTime      Type = 4
	InitProcess  Type = 5
	LoginProcess Type = 6
	UserProcess  Type = 7
	DeadProcess  Type = 8
	Accounting   Type = 9
)

var typeNames = [...]string{"EMPTY", "RUN_LVL", "BOOT_TIME", "NEW_TIME", "OLD_TIME",
	"INIT_PROCESS", "LOGIN_PROCESS", "USER_PROCESS", "DEAD_PROCESS", "ACCOUNTING"}

func (t Type) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type " + strconv.Itoa(int(t))
}

// Valid reports whether t is one of the types glibc defines.
func (t Type) Valid() bool { return t >= Empty && t <= Accounting }

// Layout is one on-disk form of struct utmp.
type Layout struct {
	Name      string
	Size      int  // record size in bytes
	Time64    bool // ut_session and ut_tv fields are 64-bit
	BigEndian bool
}

// Layouts lists the forms NewReader tries, the most common first; ties in
// detection go to the earlier one.
var Layouts = []Layout{
	{Name: "glibc-384-le", Size: 384},                                // x86-64, i386, arm, ppc64le
	{Name: "glibc-400-le", Size: 400, Time64: true},                  // aarch64, riscv64
	{Name: "glibc-384-be", Size: 384, BigEndian: true},               // s390x, ppc64
	{Name: "glibc-400-be", Size: 400, Time64: true, BigEndian: true}, // big-endian 64-bit without compat
}

// Field offsets shared by every layout; the rest depend on Time64.
const (
	offType = 0
	offPID  = 4
	offLine = 8
	offID   = 40
	offUser = 44
	offHost = 76
	offExit = 332
	lenLine = 32
	lenID   = 4
	lenUser = 32
	lenHost = 256
)

func (l Layout) order() binary.ByteOrder {
	if l.BigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// Record is one struct utmp.
type Record struct {
	Offset      int64 // byte offset of the record in the file
	Type        Type
	PID         int32
	Line        string // ut_line, the tty ("pts/0", "~" for boot/run level)
	ID          string // ut_id, raw (inittab id or tty suffix)
	User        string
	Host        string
	Termination int16 // ut_exit.e_termination
	Exit        int16 // ut_exit.e_exit
	Session     int64
	Time        time.Time // ut_tv in UTC; zero time when ut_tv is 0
	Addr        [16]byte  // ut_addr_v6 as stored (network byte order)
}

// IP returns the record's address: IPv4 when only the first four bytes of
// ut_addr_v6 are used, IPv6 otherwise. An all-zero ut_addr_v6 gives
// 0.0.0.0, as utmpdump and plaso show it. When the last twelve bytes are
// zero the address is ambiguous (1337:1:: looks like 19.55.0.1); ut_host
// decides if it spells the IPv6 form.
func (r *Record) IP() netip.Addr {
	v6 := netip.AddrFrom16(r.Addr)
	if !allZero(r.Addr[4:]) {
		return v6
	}
	if h, err := netip.ParseAddr(r.Host); err == nil && h.Is6() && !h.Is4In6() && h == v6 {
		return v6
	}
	return netip.AddrFrom4([4]byte(r.Addr[:4]))
}

// RemoteIP is the address an event should carry: IP unless it is
// unspecified, else ut_host when that parses as an address.
func (r *Record) RemoteIP() string {
	if ip := r.IP().Unmap(); !ip.IsUnspecified() {
		return ip.String()
	}
	if h, err := netip.ParseAddr(r.Host); err == nil && !h.IsUnspecified() {
		return h.Unmap().String()
	}
	return ""
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// cstr returns a fixed-size C string field up to its first NUL, raw.
func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// decode fills r from one record's bytes; it does not judge validity.
func (l Layout) decode(b []byte, off int64) Record {
	o := l.order()
	r := Record{
		Offset:      off,
		Type:        Type(int16(o.Uint16(b[offType:]))),
		PID:         int32(o.Uint32(b[offPID:])),
		Line:        cstr(b[offLine : offLine+lenLine]),
		ID:          cstr(b[offID : offID+lenID]),
		User:        cstr(b[offUser : offUser+lenUser]),
		Host:        cstr(b[offHost : offHost+lenHost]),
		Termination: int16(o.Uint16(b[offExit:])),
		Exit:        int16(o.Uint16(b[offExit+2:])),
	}
	sec, usec, addr := l.times(b)
	if !l.Time64 {
		r.Session = int64(int32(o.Uint32(b[336:])))
	} else {
		r.Session = int64(o.Uint64(b[336:]))
	}
	if sec != 0 || usec != 0 {
		r.Time = time.Unix(sec, usec*1000).UTC()
	}
	copy(r.Addr[:], b[addr:addr+16])
	return r
}

// times returns ut_tv and the offset of ut_addr_v6. 32-bit times are read
// unsigned: a negative login time is nonsense, and unsigned reading keeps
// 32-bit records valid until 2106.
func (l Layout) times(b []byte) (sec, usec int64, addr int) {
	o := l.order()
	if l.Time64 {
		return int64(o.Uint64(b[344:])), int64(o.Uint64(b[352:])), 360
	}
	return int64(o.Uint32(b[340:])), int64(o.Uint32(b[344:])), 348
}

// Plausible login times: between 1980 and 2100. Zero means unset.
var (
	minTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
)

// check says why a record cannot be a struct utmp of this layout, or "".
func (l Layout) check(b []byte) string {
	o := l.order()
	t := Type(int16(o.Uint16(b[offType:])))
	if !t.Valid() {
		return "unsupported type " + strconv.Itoa(int(t))
	}
	if pid := int32(o.Uint32(b[offPID:])); pid < 0 {
		return "negative pid " + strconv.Itoa(int(pid))
	}
	sec, usec, _ := l.times(b)
	if usec < 0 || usec >= 1e6 {
		return "microseconds out of range"
	}
	if sec != 0 && (sec < minTime || sec >= maxTime) {
		return "time out of range"
	}
	return ""
}

// score rates how well the start of a file fits a layout. Misaligned
// reading (a 400-byte file read as 384 or the reverse) lands the next
// record's type and times in the padding and time fields, so besides the
// field checks the zero padding at the end of each record counts. All-zero
// records do not count either way.
func (l Layout) score(head []byte) int {
	s := 0
	for off := 0; off+l.Size <= len(head); off += l.Size {
		b := head[off : off+l.Size]
		if allZero(b) {
			continue
		}
		if l.check(b) != "" {
			s -= 3
			continue
		}
		s++
		t := Type(int16(l.order().Uint16(b[offType:])))
		sec, _, addr := l.times(b)
		if t != Empty {
			s++
			if sec == 0 {
				s-- // a real record has a time
			}
		}
		if sec != 0 {
			s++
		}
		if allZero(b[addr+16:]) {
			s++
		} else {
			s -= 2
		}
	}
	return s
}

// detectRecords is how many records detection looks at.
const detectRecords = 32

// Detect picks the layout that best explains the start of a file. It
// returns the first layout for data no layout explains (empty, all zero,
// garbage).
func Detect(head []byte) Layout {
	best, bestScore := Layouts[0], Layouts[0].score(head)
	for _, l := range Layouts[1:] {
		if s := l.score(head); s > bestScore {
			best, bestScore = l, s
		}
	}
	if bestScore <= 0 {
		// Nothing fits: garbage is reported against the common layout.
		return Layouts[0]
	}
	return best
}

// CorruptRecordError reports a record that is not a valid struct utmp.
// Reading can continue after it.
type CorruptRecordError struct {
	Offset int64
	Reason string
}

func (e *CorruptRecordError) Error() string {
	return fmt.Sprintf("utmp: record at offset %#08x: %s, record skipped", e.Offset, e.Reason)
}

// Reader reads the records of a utmp-format file in order.
type Reader struct {
	br       *bufio.Reader
	layout   Layout
	off      int64
	buf      []byte
	trailing int
	err      error
}

// NewReader reads a utmp, wtmp or btmp file of the given size, detecting
// its layout from its first records.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	if size < 0 {
		return nil, errors.New("utmp: negative size")
	}
	return NewStreamReader(io.NewSectionReader(r, 0, size))
}

// NewStreamReader reads records from a stream (a decompressed rotation),
// detecting the layout from the first records.
func NewStreamReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(detectRecords * 400)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fmt.Errorf("utmp: reading first records: %w", err)
	}
	return &Reader{br: br, layout: Detect(head)}, nil
}

// NewReaderLayout reads records of a known layout from a stream.
func NewReaderLayout(r io.Reader, l Layout) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), layout: l}
}

// Layout is the layout the reader uses.
func (r *Reader) Layout() Layout { return r.layout }

// Trailing is the number of bytes after the last whole record, known once
// Next has returned io.EOF.
func (r *Reader) Trailing() int { return r.trailing }

// Next returns the next record. At the end it returns io.EOF. A record
// that is not valid gives a *CorruptRecordError, after which Next may be
// called again; any other error is final.
func (r *Reader) Next() (*Record, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.buf == nil {
		r.buf = make([]byte, r.layout.Size)
	}
	n, err := io.ReadFull(r.br, r.buf)
	off := r.off
	r.off += int64(n)
	switch {
	case err == io.EOF:
		r.err = io.EOF
		return nil, io.EOF
	case err == io.ErrUnexpectedEOF:
		r.trailing = n
		r.err = io.EOF
		return nil, io.EOF
	case err != nil:
		r.err = fmt.Errorf("utmp: record at offset %#x: %w", off, err)
		return nil, r.err
	}
	// Only the type decides: a valid record with an odd time is still
	// evidence, and the event keeps the time it claims.
	if t := Type(int16(r.layout.order().Uint16(r.buf[offType:]))); !t.Valid() {
		return nil, &CorruptRecordError{Offset: off, Reason: "unsupported type " + strconv.Itoa(int(t))}
	}
	rec := r.layout.decode(r.buf, off)
	return &rec, nil
}
