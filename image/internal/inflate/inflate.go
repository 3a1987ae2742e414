// Package inflate decodes a whole DEFLATE stream (RFC 1951), raw or in a
// zlib wrapper (RFC 1950), from one byte slice into another.
//
// Compressed qcow2 clusters and streamOptimized vmdk grains are small,
// whole streams whose decompressed size is known, so they need none of a
// streaming reader's machinery: no sliding window copied between calls, no
// io.Reader per byte run. Knowing both buffers up front lets the decoder
// refill its bit buffer eight bytes at a time, look up a literal or a
// length together with its extra-bit count in one table entry, and copy
// matches eight bytes at a time — the techniques of libdeflate. On the
// clusters qemu-img writes this is about twice as fast as compress/flate.
//
// The input is attacker-controlled: every code-length set is checked
// (over-subscribed and incomplete codes are rejected as zlib rejects them),
// every distance against the output written, and reading past the input's
// end is an error. Tables have a fixed size; nothing is allocated per call.
package inflate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
)

// Decode errors. Those from a malformed stream are wrapped in a *Error
// giving the input offset.
var (
	ErrTruncated = errors.New("input ends inside the stream")
	ErrCorrupt   = errors.New("corrupt stream")
)

// Error reports where in the input a stream went wrong.
type Error struct {
	Offset int    // byte offset in src of the structure being decoded
	What   string // the structure and what is wrong with it
	Err    error  // ErrTruncated or ErrCorrupt
}

func (e *Error) Error() string { return fmt.Sprintf("deflate: byte %#x: %s", e.Offset, e.What) }
func (e *Error) Unwrap() error { return e.Err }

// Table entries pack what one Huffman lookup yields into a uint32:
//
//	bits 0-7   code length: bits to drop from the bit buffer
//	bits 8-11  extra bits following the code (lengths, distances), or the
//	           index width of a subtable
//	bits 16-31 literal byte, length or distance base, or subtable start
const (
	fInvalid  = 1 << 12 // no code maps here (incomplete code, symbols 286-287, 30-31)
	fSubtable = 1 << 13 // codes longer than the main table: look again
	fEnd      = 1 << 14 // end of block
	fLiteral  = 1 << 15
)

const (
	litBits  = 11 // main-table index width for literal/lengths
	distBits = 8  // and for distances
	maxCode  = 15 // longest code RFC 1951 allows
	// Subtables all have the width of the longest code minus the main
	// table's, so at most one per code longer than the main table.
	litTableSize  = 1<<litBits + 288<<(maxCode-litBits)
	distTableSize = 1<<distBits + 32<<(maxCode-distBits)
)

var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// The order code-length code lengths are sent in (RFC 1951 3.2.7).
	precodeOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// litEntry and distEntry give the table entry for a symbol, code length
// not yet added.
func litEntry(sym int) uint32 {
	switch {
	case sym < 256:
		return fLiteral | uint32(sym)<<16
	case sym == 256:
		return fEnd
	case sym < 286:
		i := sym - 257
		return uint32(lengthBase[i])<<16 | uint32(lengthExtra[i])<<8
	}
	return fInvalid
}

func distEntry(sym int) uint32 {
	if sym < 30 {
		return uint32(distBase[sym])<<16 | uint32(distExtra[sym])<<8
	}
	return fInvalid
}

func precodeEntry(sym int) uint32 { return uint32(sym) << 16 }

// fixedLit and fixedDist are the tables of the fixed code (block type 1).
var fixedLit, fixedDist = func() (*[litTableSize]uint32, *[distTableSize]uint32) {
	var lens [288 + 32]uint8
	for i := range 288 {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	for i := range 32 {
		lens[288+i] = 5
	}
	lit, dist := new([litTableSize]uint32), new([distTableSize]uint32)
	if !build(lit[:], lens[:288], litBits, litEntry) || !build(dist[:], lens[288:], distBits, distEntry) {
		panic("inflate: fixed code tables")
	}
	return lit, dist
}()

// build fills t, a main table of 1<<bits entries followed by room for
// subtables, for the canonical Huffman code with the given code lengths.
// It reports false for a set of lengths that is not a code: one
// over-subscribed, or incomplete other than the single one-bit code RFC
// 1951 allows (zlib's rule). An empty set gives a table of invalid entries.
func build(t []uint32, lens []uint8, bits uint, entry func(int) uint32) bool {
	var count [maxCode + 1]int
	maxLen := 0
	for _, l := range lens {
		count[l]++
		maxLen = max(maxLen, int(l))
	}
	count[0] = 0
	left := 1
	for l := 1; l <= maxCode; l++ {
		left = left<<1 - count[l]
		if left < 0 {
			return false // over-subscribed
		}
	}
	for i := range t[:1<<bits] {
		t[i] = fInvalid
	}
	if maxLen == 0 {
		return true
	}
	if left > 0 && !(maxLen == 1 && count[1] == 1) {
		return false // incomplete
	}
	var next [maxCode + 2]int
	for l := 1; l <= maxCode; l++ {
		next[l+1] = (next[l] + count[l]) << 1
	}
	subBits := uint(max(maxLen-int(bits), 0))
	free := 1 << bits
	for sym, l := range lens {
		if l == 0 {
			continue
		}
		code := next[l]
		next[l]++
		rev := reverse(code, uint(l))
		e := entry(sym)
		if uint(l) <= bits {
			for i := rev; i < 1<<bits; i += 1 << l {
				t[i] = e | uint32(l)
			}
			continue
		}
		prefix := rev & (1<<bits - 1)
		if t[prefix]&fSubtable == 0 {
			t[prefix] = fSubtable | uint32(free)<<16 | uint32(subBits)<<8 | uint32(bits)
			for i := range t[free : free+1<<subBits] {
				t[free+i] = fInvalid
			}
			free += 1 << subBits
		}
		start := int(t[prefix] >> 16)
		sl := uint(l) - bits
		for i := rev >> bits; i < 1<<subBits; i += 1 << sl {
			t[start+i] = e | uint32(sl)
		}
	}
	return true
}

func reverse(code int, n uint) int {
	r := 0
	for range n {
		r = r<<1 | code&1
		code >>= 1
	}
	return r
}

// A Decoder holds the tables of one dynamic block; reusing it saves
// allocating them per stream. It is not safe for concurrent use.
type Decoder struct {
	lit  [litTableSize]uint32
	dist [distTableSize]uint32
	pre  [1 << 7]uint32
	lens [288 + 32]uint8

	src      []byte
	pos      int    // next byte of src to load; may pass len(src) by zero padding
	bitbuf   uint64 // loaded bits, next bit lowest
	bitsleft uint   // valid bits in bitbuf
	ended    bool   // the final block ended (not just dst filled)
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder { return new(Decoder) }

// Decode decompresses the raw DEFLATE stream in src into dst and returns
// the number of bytes written. It stops, without error, when the stream's
// final block ends or when dst is full — what qemu accepts for a
// compressed cluster — so n < len(dst) means the stream was shorter.
// Bytes after the stream are ignored.
func (d *Decoder) Decode(dst, src []byte) (n int, err error) {
	d.src, d.pos, d.bitbuf, d.bitsleft, d.ended = src, 0, 0, 0, false
	defer func() { d.src = nil }()
	// Once dst is full, blocks that follow are still read, to learn where
	// the stream ends (zlib's trailer follows); they may not add output,
	// and what is wrong in them is not an error: the bytes asked for are
	// all there.
	tail := len(dst) == 0
	for {
		start := d.offset()
		d.need(3)
		final := d.bitbuf&1 != 0
		typ := d.bitbuf >> 1 & 3
		d.drop(3)
		if d.overrun() {
			if tail {
				return n, nil
			}
			return n, &Error{len(src), "block header: input ends inside the stream", ErrTruncated}
		}
		ended := false
		switch typ {
		case 0:
			n, ended, err = d.stored(dst, n)
		case 1:
			n, ended, err = d.huffman(dst, n, fixedLit, fixedDist)
		case 2:
			if err = d.dynamicHeader(start); err == nil {
				n, ended, err = d.huffman(dst, n, &d.lit, &d.dist)
			}
		default:
			err = &Error{start, "reserved block type 3", ErrCorrupt}
		}
		if err == nil && d.overrun() {
			err = &Error{len(src), "block runs past the end of the input", ErrTruncated}
		}
		if tail && err != nil {
			return n, nil
		}
		if err != nil || !ended || final {
			d.ended = err == nil && ended && final
			return n, err
		}
		tail = n == len(dst)
	}
}

// DecodeZlib decompresses the zlib stream in src into dst, as Decode. The
// Adler-32 trailer is checked when the stream ends before dst is full or
// exactly at its end.
func (d *Decoder) DecodeZlib(dst, src []byte) (int, error) {
	if len(src) < 2 {
		return 0, &Error{0, "zlib header cut short", ErrTruncated}
	}
	cmf, flg := src[0], src[1]
	switch {
	case cmf&0x0f != 8 || cmf>>4 > 7:
		return 0, &Error{0, fmt.Sprintf("zlib header %#02x: not deflate with a window of at most 32 KiB", cmf), ErrCorrupt}
	case (uint(cmf)<<8|uint(flg))%31 != 0:
		return 0, &Error{0, "zlib header check bits wrong", ErrCorrupt}
	case flg&0x20 != 0:
		return 0, &Error{1, "zlib stream needs a preset dictionary", ErrCorrupt}
	}
	n, err := d.Decode(dst, src[2:])
	if e, ok := err.(*Error); ok {
		e.Offset += 2
	}
	if err != nil || !d.ended {
		return n, err
	}
	// The trailer starts at the next byte boundary after the final block.
	p := 2 + d.pos - int(d.bitsleft/8)
	if p+4 > len(src) {
		return n, &Error{p, "zlib Adler-32 trailer cut short", ErrTruncated}
	}
	if want := binary.BigEndian.Uint32(src[p:]); adler32.Checksum(dst[:n]) != want {
		return n, &Error{p, "zlib Adler-32 mismatch", ErrCorrupt}
	}
	return n, nil
}

// offset is the input byte holding the next unread bit.
func (d *Decoder) offset() int { return (d.pos*8 - int(d.bitsleft)) / 8 }

// overrun reports whether bits past the end of the input (read as zeros)
// were consumed.
func (d *Decoder) overrun() bool { return d.pos*8-int(d.bitsleft) > len(d.src)*8 }

// fail reports a malformed structure; when the bits read ran past the
// input's end, that is the cause and what is reported.
func (d *Decoder) fail(at int, what string) error {
	if d.overrun() {
		return &Error{len(d.src), what + ": input ends inside the stream", ErrTruncated}
	}
	return &Error{at, what, ErrCorrupt}
}

// refill tops the bit buffer up to at least 56 bits. With eight input
// bytes left it loads a whole word: the bytes wholly used are counted,
// and the part of the next byte also ORed in is ORed again, identically,
// by the next refill. Near the end it loads a byte at a time and pads with
// zeros, which overrun detects once consumed.
func (d *Decoder) refill() {
	if d.pos+8 <= len(d.src) {
		d.bitbuf |= binary.LittleEndian.Uint64(d.src[d.pos:]) << d.bitsleft
		d.pos += int(63-d.bitsleft) >> 3
		d.bitsleft |= 56
		return
	}
	for d.bitsleft < 56 {
		if d.pos < len(d.src) {
			d.bitbuf |= uint64(d.src[d.pos]) << d.bitsleft
		}
		d.pos++
		d.bitsleft += 8
	}
}

func (d *Decoder) need(n uint) {
	if d.bitsleft < n {
		d.refill()
	}
}

func (d *Decoder) drop(n uint) {
	d.bitbuf >>= n
	d.bitsleft -= n
}

func (d *Decoder) take(n uint) int {
	v := int(d.bitbuf & (1<<n - 1))
	d.drop(n)
	return v
}

// stored copies a stored block. It reports whether the block ended (as
// opposed to dst filling up).
func (d *Decoder) stored(dst []byte, n int) (int, bool, error) {
	d.drop(d.bitsleft & 7)
	p := d.offset()
	d.pos, d.bitbuf, d.bitsleft = p, 0, 0
	if p+4 > len(d.src) {
		return n, false, &Error{min(p, len(d.src)), "stored block header cut short", ErrTruncated}
	}
	ln, nln := binary.LittleEndian.Uint16(d.src[p:]), binary.LittleEndian.Uint16(d.src[p+2:])
	if ln != ^nln {
		return n, false, &Error{p, fmt.Sprintf("stored block length %#04x does not match its complement %#04x", ln, nln), ErrCorrupt}
	}
	p += 4
	k := min(int(ln), len(dst)-n)
	if p+k > len(d.src) {
		return n, false, &Error{p, fmt.Sprintf("stored block of %d bytes cut short", ln), ErrTruncated}
	}
	n += copy(dst[n:], d.src[p:p+k])
	if k < int(ln) {
		d.pos = p + k
		return n, false, nil
	}
	d.pos = p + k
	return n, true, nil
}

// dynamicHeader reads the code lengths of a dynamic block and builds its
// tables.
func (d *Decoder) dynamicHeader(start int) error {
	d.need(14)
	nlit, ndist, npre := d.take(5)+257, d.take(5)+1, d.take(4)+4
	if nlit > 286 || ndist > 30 {
		return d.fail(start, fmt.Sprintf("dynamic block header: %d literal/length and %d distance codes", nlit, ndist))
	}
	var pl [19]uint8
	for i := range npre {
		d.need(3)
		pl[precodeOrder[i]] = uint8(d.take(3))
	}
	if !build(d.pre[:], pl[:], 7, precodeEntry) {
		return d.fail(start, "dynamic block header: code-length code is not a Huffman code")
	}
	lens := d.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		d.need(7 + 7)
		e := d.pre[d.bitbuf&(1<<7-1)]
		if e&fInvalid != 0 {
			return d.fail(d.offset(), "dynamic block header: invalid code-length code")
		}
		d.drop(uint(e & 0xff))
		sym := uint8(e >> 16)
		if sym < 16 {
			lens[i] = sym
			i++
			continue
		}
		var fill uint8
		var r int
		switch sym {
		case 16:
			if i == 0 {
				return d.fail(d.offset(), "dynamic block header: repeat of a code length before the first")
			}
			fill, r = lens[i-1], 3+d.take(2)
		case 17:
			r = 3 + d.take(3)
		default:
			r = 11 + d.take(7)
		}
		if i+r > len(lens) {
			return d.fail(d.offset(), "dynamic block header: code lengths repeat past the last code")
		}
		for range r {
			lens[i] = fill
			i++
		}
	}
	if lens[256] == 0 {
		return d.fail(start, "dynamic block header: no end-of-block code")
	}
	if !build(d.lit[:], lens[:nlit], litBits, litEntry) {
		return d.fail(start, "dynamic block header: literal/length code is not a Huffman code")
	}
	if !build(d.dist[:], lens[nlit:], distBits, distEntry) {
		return d.fail(start, "dynamic block header: distance code is not a Huffman code")
	}
	return nil
}

// huffman decodes the symbols of a compressed block into dst from out on.
// It reports whether the block ended (as opposed to dst filling up).
//
// The bit buffer lives in locals here: this loop is where the time goes.
// Each turn refills to at least 56 bits, enough for the longest
// literal/length code with its extra bits (20) and the longest distance
// code with its extra bits (28).
func (d *Decoder) huffman(dst []byte, out int, lit *[litTableSize]uint32, dist *[distTableSize]uint32) (int, bool, error) {
	src := d.src
	bitbuf, bitsleft, pos := d.bitbuf, d.bitsleft, d.pos

	// A turn is fast while two words of input can be loaded (a refill at
	// the top, one before a match) and dst has room for three literals and
	// the longest match copied in words: no per-byte bounds to test, and
	// up to three literals (15 bits each at most) per refill before a
	// match needs 48 bits. Near the end of the input or of dst a turn is
	// careful: bytes are loaded one at a time, padded with zeros that
	// overrun catches, and dst's end is watched.
	for {
		fast := pos+16 <= len(src) && out+fastRoom <= len(dst)
		if fast {
			bitbuf |= binary.LittleEndian.Uint64(src[pos:]) << bitsleft
			pos += int(63-bitsleft) >> 3
			bitsleft |= 56
		} else {
			if pos*8-int(bitsleft) > len(src)*8 {
				d.bitbuf, d.bitsleft, d.pos = bitbuf, bitsleft, pos
				return out, false, d.fail(len(src), "compressed block")
			}
			for bitsleft < 56 {
				if pos < len(src) {
					bitbuf |= uint64(src[pos]) << bitsleft
				}
				pos++
				bitsleft += 8
			}
		}
		e := lookLit(lit, bitbuf)
		if !fast && out == len(dst) {
			// Full: the block ends here only if its end-of-block code is
			// next, and wholly in the input.
			ended := e&fEnd != 0 && pos*8-int(bitsleft)+int(e&0xff) <= len(src)*8
			if ended {
				bitbuf >>= e & 0xff
				bitsleft -= uint(e & 0xff)
			}
			d.bitbuf, d.bitsleft, d.pos = bitbuf, bitsleft, pos
			return out, ended, nil
		}
		if e&fLiteral != 0 {
			bitbuf >>= e & 0xff
			bitsleft -= uint(e & 0xff)
			dst[out] = byte(e >> 16)
			out++
			if !fast {
				continue
			}
			if e = lookLit(lit, bitbuf); e&fLiteral != 0 {
				bitbuf >>= e & 0xff
				bitsleft -= uint(e & 0xff)
				dst[out] = byte(e >> 16)
				out++
				if e = lookLit(lit, bitbuf); e&fLiteral != 0 {
					bitbuf >>= e & 0xff
					bitsleft -= uint(e & 0xff)
					dst[out] = byte(e >> 16)
					out++
					continue
				}
			}
			if bitsleft < 48 {
				bitbuf |= binary.LittleEndian.Uint64(src[pos:]) << bitsleft
				pos += int(63-bitsleft) >> 3
				bitsleft |= 56
			}
		}
		if e&(fEnd|fInvalid) != 0 {
			if e&fEnd != 0 {
				bitbuf >>= e & 0xff
				bitsleft -= uint(e & 0xff)
				d.bitbuf, d.bitsleft, d.pos = bitbuf, bitsleft, pos
				return out, true, nil
			}
			d.bitbuf, d.bitsleft, d.pos = bitbuf, bitsleft, pos
			return out, false, d.fail(d.offset(), "invalid literal/length code")
		}
		nb, x := uint(e&0xff), uint(e>>8&15)
		length := int(e>>16) + int(bitbuf>>nb&(1<<x-1))
		bitbuf >>= nb + x
		bitsleft -= nb + x

		e = lookDist(dist, bitbuf)
		if e&fInvalid != 0 {
			d.bitbuf, d.bitsleft, d.pos = bitbuf, bitsleft, pos
			return out, false, d.fail(d.offset(), "invalid distance code")
		}
		nb, x = uint(e&0xff), uint(e>>8&15)
		distance := int(e>>16) + int(bitbuf>>nb&(1<<x-1))
		bitbuf >>= nb + x
		bitsleft -= nb + x
		if distance > out {
			d.bitbuf, d.bitsleft, d.pos = bitbuf, bitsleft, pos
			return out, false, d.fail(d.offset(), fmt.Sprintf("match distance %d before the start of the output (%d bytes)", distance, out))
		}
		if out+length+8 <= len(dst) {
			if distance >= 8 {
				// A word or more back, each word read was written before:
				// copy a word at a time, the first two (most matches are
				// short) without a loop.
				s := out - distance
				binary.LittleEndian.PutUint64(dst[out:], binary.LittleEndian.Uint64(dst[s:]))
				if length > 8 {
					binary.LittleEndian.PutUint64(dst[out+8:], binary.LittleEndian.Uint64(dst[s+8:]))
					for i := 16; i < length; i += 8 {
						binary.LittleEndian.PutUint64(dst[out+i:], binary.LittleEndian.Uint64(dst[s+i:]))
					}
				}
			} else {
				copyNear(dst, out, distance, length)
			}
			out += length
			continue
		}
		// Near the end of dst: byte by byte, stopping when it is full.
		s := out - distance
		k := min(length, len(dst)-out)
		for i := range k {
			dst[out+i] = dst[s+i]
		}
		out += k
	}
}

// fastRoom is the room in dst the fast loop needs: three literals, and a
// longest match copied in words that may write 7 bytes past its end.
const fastRoom = 3 + 258 + 8

// lookLit and lookDist give the table entry for the code at the bottom of
// bitbuf, following a subtable; the code length counts both lookups.
func lookLit(t *[litTableSize]uint32, bitbuf uint64) uint32 {
	e := t[bitbuf&(1<<litBits-1)]
	if e&fSubtable != 0 {
		e = t[e>>16+uint32(bitbuf>>litBits)&(1<<(e>>8&15)-1)] + litBits
	}
	return e
}

func lookDist(t *[distTableSize]uint32, bitbuf uint64) uint32 {
	e := t[bitbuf&(1<<distBits-1)]
	if e&fSubtable != 0 {
		e = t[e>>16+uint32(bitbuf>>distBits)&(1<<(e>>8&15)-1)] + distBits
	}
	return e
}

// copyNear copies a match less than a word back (distance 1-7) to
// dst[out:], which has 8 bytes of room past it: a run of one byte a word
// at a time, other short periods byte by byte, each byte read after it
// was written.
func copyNear(dst []byte, out, distance, length int) {
	s := out - distance
	if distance == 1 {
		v := uint64(dst[s]) * 0x0101010101010101
		for i := 0; i < length; i += 8 {
			binary.LittleEndian.PutUint64(dst[out+i:], v)
		}
		return
	}
	for i := range length {
		dst[out+i] = dst[s+i]
	}
}
