package image

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/coldcase-dfir/coldcase/internal/testenv"
)

// makeSmall builds a small image of a qemu format with some data in it.
func makeSmall(t *testing.T, dir, name, format string, opts ...string) []byte {
	t.Helper()
	raw := filepath.Join(dir, "small.raw")
	if _, err := os.Stat(raw); err != nil {
		writeTestRaw(t, raw, 12<<20)
	}
	p := filepath.Join(dir, name)
	testenv.Run(t, "qemu-img", append(append([]string{"convert", "-O", format}, opts...), raw, p)...)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantErr opens b (after patch) and reads the whole disk, expecting an
// error that mentions every one of subs.
func wantErr(t *testing.T, name string, b []byte, subs ...string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	im, err := Open(p)
	if err == nil {
		_, err = im.WriteTo(discard{})
		im.Close()
	}
	if err == nil {
		t.Fatalf("%s: no error", name)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("%s: error %q does not mention %q", name, err, s)
		}
	}
	t.Logf("%s: %v", name, err)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestBadInput(t *testing.T) {
	testenv.NeedTool(t, "qemu-img")
	dir := t.TempDir()
	be, le := binary.BigEndian, binary.LittleEndian
	q := makeSmall(t, dir, "q.qcow2", "qcow2")
	l1 := be.Uint64(q[40:])
	clone := func(b []byte) []byte { return append([]byte(nil), b...) }

	t.Run("qcow2-truncated-header", func(t *testing.T) { wantErr(t, "a.qcow2", q[:50], "qcow2", "header at 0x0") })
	t.Run("qcow2-truncated-l1", func(t *testing.T) { wantErr(t, "a.qcow2", q[:l1+4], "L1 table at", "past end of file") })
	t.Run("qcow2-truncated-data", func(t *testing.T) {
		wantErr(t, "a.qcow2", q[:len(q)-100000], "qcow2", "file offset 0x", "short read")
	})
	t.Run("qcow2-l1-past-eof", func(t *testing.T) {
		b := clone(q)
		be.PutUint64(b[40:], 0x100000000)
		wantErr(t, "a.qcow2", b, "L1 table at 0x100000000", "past end of file")
	})
	t.Run("qcow2-l2-past-eof", func(t *testing.T) {
		b := clone(q)
		be.PutUint64(b[l1:], 1<<63|0x7fff0000)
		wantErr(t, "a.qcow2", b, "L2 table (L1 entry 0) at 0x7fff0000", "past end of file")
	})
	t.Run("qcow2-l2-unaligned", func(t *testing.T) {
		b := clone(q)
		be.PutUint64(b[l1:], 0x10200)
		wantErr(t, "a.qcow2", b, "L2 table (L1 entry 0) at 0x10200", "aligned")
	})
	t.Run("qcow2-refcount-past-eof", func(t *testing.T) {
		b := clone(q)
		be.PutUint64(b[48:], 0x40000000)
		wantErr(t, "a.qcow2", b, "refcount table at 0x40000000")
	})
	t.Run("qcow2-data-past-eof", func(t *testing.T) {
		b := clone(q)
		l2 := be.Uint64(b[l1:]) & qcowOffsetMask
		be.PutUint64(b[l2:], 1<<63|0x7000000000)
		wantErr(t, "a.qcow2", b, "file offset 0x7000000000")
	})
	t.Run("qcow2-2^62", func(t *testing.T) {
		b := clone(q)
		be.PutUint64(b[24:], 1<<62)
		be.PutUint32(b[36:], 0xffffffff) // an L1 that claims to be big enough
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		wantErr(t, "a.qcow2", b, "header at 0x18", "virtual size 4611686018427387904")
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 16<<20 {
			t.Errorf("refusing the header allocated %d bytes", d)
		}
	})
	t.Run("qcow2-cluster-bits", func(t *testing.T) {
		b := clone(q)
		be.PutUint32(b[20:], 40)
		wantErr(t, "a.qcow2", b, "cluster_bits 40")
	})
	t.Run("qcow2-compressed-garbage", func(t *testing.T) {
		c := makeSmall(t, dir, "c.qcow2", "qcow2", "-c")
		l1 := be.Uint64(c[40:])
		l2 := be.Uint64(c[l1:]) & qcowOffsetMask
		e := be.Uint64(c[l2:])
		coff := e & (1<<(62-8) - 1)
		copy(c[coff:coff+64], strings.Repeat("\xff", 64))
		wantErr(t, "c.qcow2", c, "compressed cluster at")
	})
	t.Run("qcow2-encrypted", func(t *testing.T) {
		// crypt_method 1 is qcow's legacy AES; creating a LUKS image with
		// qemu-img takes seconds of key stretching, the header is the same.
		b := clone(q)
		be.PutUint32(b[32:], 1)
		wantErr(t, "enc.qcow2", b, "header at 0x20", "encrypted", "not supported")
	})
	t.Run("qcow2-data-file", func(t *testing.T) {
		p := filepath.Join(dir, "df.qcow2")
		testenv.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "data_file="+filepath.Join(dir, "df.raw"), p, "1M")
		b, _ := os.ReadFile(p)
		wantErr(t, "df.qcow2", b, "external data file", "not supported")
	})

	t.Run("vmdk-extent-device", func(t *testing.T) {
		// A descriptor may not make us read the examining host's devices.
		d := "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\nRW 2048 FLAT \"/dev/zero\" 0\n"
		wantErr(t, "dev.vmdk", []byte(d), "/dev/zero", "not a regular file")
	})
	v := makeSmall(t, dir, "v.vmdk", "vmdk")
	t.Run("vmdk-gd-past-eof", func(t *testing.T) {
		b := clone(v)
		le.PutUint64(b[56:], 0xffffff00)
		wantErr(t, "v.vmdk", b, "grain directory at sector 0xffffff00", "past end of file")
	})
	t.Run("vmdk-gt-past-eof", func(t *testing.T) {
		b := clone(v)
		gd := le.Uint64(b[56:]) * 512
		le.PutUint32(b[gd:], 0x7ffffff0)
		wantErr(t, "v.vmdk", b, "grain table 0 at 0xffffffe000", "past end of file")
	})
	t.Run("vmdk-grain-size", func(t *testing.T) {
		b := clone(v)
		le.PutUint64(b[20:], 3)
		wantErr(t, "v.vmdk", b, "header at 0x14", "grain size 3")
	})
	t.Run("vmdk-truncated-stream", func(t *testing.T) {
		s := makeSmall(t, dir, "s.vmdk", "vmdk", "-o", "subformat=streamOptimized")
		wantErr(t, "s.vmdk", s[:len(s)/2], "vmdk", "grain")
	})

	d := makeSmall(t, dir, "d.vhd", "vpc")
	dyn := be.Uint64(d[len(d)-512+16:])
	t.Run("vhd-bat-past-eof", func(t *testing.T) {
		b := clone(d)
		h := b[dyn : dyn+1024]
		be.PutUint64(h[16:], 0x10000000)
		be.PutUint32(h[36:], vhdChecksum(h, 36))
		wantErr(t, "d.vhd", b, "BAT at 0x10000000", "past end of file")
	})
	t.Run("vhd-bat-entry-past-eof", func(t *testing.T) {
		b := clone(d)
		bat := be.Uint64(b[dyn+16:])
		be.PutUint32(b[bat:], 0x7ffffff0)
		wantErr(t, "d.vhd", b, "BAT at", "entry 0", "past end of file")
	})
	t.Run("vhd-bad-checksum", func(t *testing.T) {
		b := clone(d)
		b[len(b)-512+48] ^= 1 // current size, end copy
		b[48] ^= 1            // and the copy at 0
		wantErr(t, "d.vhd", b, "footer at", "checksum")
	})
	t.Run("vhd-truncated", func(t *testing.T) {
		wantErr(t, "d.vhd", d[:len(d)-40000], "vhd")
	})

	x := makeSmall(t, dir, "x.vhdx", "vhdx")
	t.Run("vhdx-headers", func(t *testing.T) {
		b := clone(x)
		b[vhdxHeader1+100] ^= 1
		b[vhdxHeader2+100] ^= 1
		wantErr(t, "x.vhdx", b, "header at 0x10000", "checksum")
	})
	t.Run("vhdx-region", func(t *testing.T) {
		b := clone(x)
		for _, rt := range []int{vhdxRegion1, vhdxRegion2} {
			le.PutUint64(b[rt+16+16:], 0x7000000000)
			le.PutUint64(b[rt+16+32+16:], 0x7000000000)
			le.PutUint32(b[rt+4:], 0)
			le.PutUint32(b[rt+4:], crc32c32(b[rt:rt+vhdxRegionSize]))
		}
		wantErr(t, "x.vhdx", b, "region at 0x7000000000", "past end of file")
	})
	t.Run("vhdx-truncated", func(t *testing.T) {
		wantErr(t, "x.vhdx", x[:300<<10], "vhdx")
	})
}

func crc32c32(b []byte) uint32 {
	c := append([]byte(nil), b...)
	clear(c[4:8])
	return crc32Checksum(c)
}
