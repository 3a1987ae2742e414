package fsutil

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"strings"
	"testing"
	"testing/iotest"
)

// node is a toy tree: a directory has kids, a symlink a target.
type node struct {
	name   string
	kids   map[string]*node
	target string
	link   bool
}

func dir(name string, kids ...*node) *node {
	n := &node{name: name, kids: map[string]*node{}}
	for _, k := range kids {
		n.kids[k.name] = k
	}
	return n
}

func link(name, target string) *node { return &node{name: name, target: target, link: true} }

func walker(root *node) *Walker[*node] {
	return &Walker[*node]{
		Root:   func() (*node, error) { return root, nil },
		IsDir:  func(n *node) bool { return n.kids != nil },
		IsLink: func(n *node) bool { return n.link },
		Lookup: func(d *node, name string) (*node, error) {
			if k, ok := d.kids[name]; ok {
				return k, nil
			}
			return nil, iofs.ErrNotExist
		},
		ReadLink: func(n *node) (string, error) { return n.target, nil },
		Same:     func(a, b *node) bool { return a == b },
	}
}

func names(st []*node) string {
	var s []string
	for _, n := range st {
		s = append(s, n.name)
	}
	return strings.Join(s, "/")
}

func TestWalk(t *testing.T) {
	root := dir("", dir("a", dir("b", &node{name: "f"}), link("up", ".."), link("abs", "/a/b/f")), link("loop", "loop"), link("dangling", ""))
	w := walker(root)
	for _, c := range []struct {
		path   string
		follow bool
		want   string
		err    error
	}{
		{".", true, "", nil},
		{"a/b/f", true, "/a/b/f", nil},
		{"a/up/a/b", true, "/a/b", nil},
		{"a/abs", true, "/a/b/f", nil},
		{"a/abs", false, "/a/abs", nil},
		{"loop", false, "/loop", nil},
		{"loop", true, "", ErrLoop},
		{"loop/x", false, "", ErrLoop},
		{"dangling", true, "", iofs.ErrNotExist},
		{"a/b/f/x", true, "", ErrNotDir},
		{"a/../b", true, "", iofs.ErrInvalid},
		{"nope", true, "", iofs.ErrNotExist},
		{"a/b/f/y", true, "", iofs.ErrNotExist},
	} {
		st, err := w.Walk("stat", c.path, c.follow)
		last, lerr := w.Last("stat", c.path, c.follow)
		if c.err != nil {
			if !errors.Is(err, c.err) || !errors.Is(lerr, c.err) {
				t.Errorf("Walk(%q, %v) = %v, Last %v; want %v", c.path, c.follow, err, lerr, c.err)
			}
			continue
		}
		if err != nil || names(st) != c.want {
			t.Errorf("Walk(%q, %v) = %q, %v; want %q", c.path, c.follow, names(st), err, c.want)
		}
		if lerr != nil || last != st[len(st)-1] {
			t.Errorf("Last(%q, %v) = %v, %v; want Walk's last node", c.path, c.follow, last, lerr)
		}
	}
}

// A directory that contains its own ancestor under another name, as a
// forged directory entry can make.
func TestWalkCycle(t *testing.T) {
	a := dir("a")
	b := dir("b")
	a.kids["b"] = b
	b.kids["again"] = a
	root := dir("", a)
	if _, err := walker(root).Walk("open", "a/b/again/b", true); !errors.Is(err, ErrCycle) {
		t.Fatalf("err = %v, want ErrCycle", err)
	}
	mine := errors.New("cluster reused")
	w := walker(root)
	w.Cycle = func(n *node, name string) error { return fmt.Errorf("%s (%s): %w", name, n.name, mine) }
	if _, err := w.Walk("open", "a/b/again", true); !errors.Is(err, mine) || !strings.Contains(err.Error(), "again (a)") {
		t.Fatalf("err = %v, want the driver's cycle error", err)
	}
	w = walker(root)
	w.Same = nil
	w.MaxDepth = 10
	if _, err := w.Walk("open", "a/b"+strings.Repeat("/again/b", 6), true); err == nil || !strings.Contains(err.Error(), "deeper than 10") {
		t.Fatalf("err = %v, want depth limit", err)
	}
}

// The driver hooks: NotDir names the node a path runs through, Enter
// refuses a node by the driver's own rule, after the generic checks.
func TestWalkHooks(t *testing.T) {
	root := dir("", dir("a", &node{name: "f"}, dir("b")))
	w := walker(root)
	w.NotDir = func(n *node) error { return fmt.Errorf("%s is %w: %w", n.name, ErrNotDir, iofs.ErrNotExist) }
	_, err := w.Walk("stat", "a/f/x", true)
	if !errors.Is(err, ErrNotDir) || !errors.Is(err, iofs.ErrNotExist) || !strings.Contains(err.Error(), "f is not a directory") {
		t.Fatalf("NotDir: err = %v", err)
	}
	refused := errors.New("refused")
	var entered []string
	w.Enter = func(d, n *node, name string) error {
		entered = append(entered, d.name+">"+name)
		if name == "b" {
			return refused
		}
		return nil
	}
	if st, err := w.Walk("stat", "a/f", true); err != nil || names(st) != "/a/f" {
		t.Fatalf("Enter: a/f = %q, %v", names(st), err)
	}
	if _, err := w.Walk("stat", "a/b", true); !errors.Is(err, refused) {
		t.Fatalf("Enter: a/b err = %v, want refused", err)
	}
	if got := strings.Join(entered, " "); got != ">a a>f >a a>b" {
		t.Fatalf("Enter calls %q", got)
	}
}

func TestDirPaging(t *testing.T) {
	var ents []iofs.DirEntry
	for _, n := range []string{"a", "b", "c"} {
		ents = append(ents, iofs.FileInfoToDirEntry(&FileInfo{N: n, St: nil}))
	}
	calls := 0
	d := Dir{Load: func() ([]iofs.DirEntry, error) { calls++; return ents, nil }}
	var got []string
	for {
		e, err := d.ReadDir(2)
		for _, x := range e {
			got = append(got, x.Name())
		}
		if err == io.EOF {
			break
		}
		if err != nil || len(e) == 0 {
			t.Fatalf("ReadDir = %v, %v", e, err)
		}
	}
	if strings.Join(got, "") != "abc" || calls != 1 {
		t.Fatalf("got %q in %d loads", got, calls)
	}
	if e, err := d.ReadDir(-1); len(e) != 0 || err != nil {
		t.Fatalf("ReadDir(-1) at end = %v, %v", e, err)
	}
	bad := errors.New("bad block")
	d = Dir{Load: func() ([]iofs.DirEntry, error) { return ents[:1], bad }}
	if e, err := d.ReadDir(-1); len(e) != 1 || !errors.Is(err, bad) {
		t.Fatalf("partial load = %v, %v", e, err)
	}
}

func TestCursor(t *testing.T) {
	r := strings.NewReader("hello, world")
	var c Cursor
	if err := iotest.TestReader(readerFunc(func(p []byte) (int, error) { return c.Read(r, p) }), []byte("hello, world")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(-1, io.SeekStart, 12); err == nil {
		t.Fatal("negative seek accepted")
	}
	if p, err := c.Move(-5, io.SeekEnd, 12); p != 7 || err != nil {
		t.Fatalf("Seek = %d, %v", p, err)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
