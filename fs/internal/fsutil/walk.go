package fsutil

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"strings"
)

// Hop and depth limits a Walker applies when its fields are zero: Linux's
// MAXSYMLINKS, and as many directories as a 4096-byte PATH_MAX can name.
const (
	DefaultMaxHops  = 40
	DefaultMaxDepth = 2048
)

// Errors of a walk; a Walker may replace them with its driver's own.
var (
	ErrLoop  = errors.New("too many levels of symbolic links")
	ErrCycle = errors.New("directory cycle")
)

// Walker resolves slash-separated paths over a driver's nodes N the way
// a Unix kernel does: "." and ".." (stopping at the root), symlinks in
// the middle of a path always followed, the last one when asked, absolute
// targets from this filesystem's root. It bounds what hostile input could
// make endless: symlink hops, directory depth, and (with Same) a directory
// that is its own ancestor.
type Walker[N any] struct {
	Root     func() (N, error)
	IsDir    func(N) bool
	IsLink   func(N) bool
	Lookup   func(dir N, name string) (N, error) // iofs.ErrNotExist when absent
	ReadLink func(N) (string, error)
	// Same, when set, makes a directory met again on the path from the
	// root an error: Cycle's, or one wrapping ErrCycle when Cycle is nil.
	Same  func(a, b N) bool
	Cycle func(again N, name string) error
	// NotDir, when set, is the error for a path that goes on through the
	// non-directory n, so that a driver can name the node; it should wrap
	// ErrNotDir and iofs.ErrNotExist as the default does.
	NotDir func(n N) error
	// Enter, when set, vets n, reached as name in dir, just before it
	// joins the path (after the cycle and depth checks): a driver's own
	// rule, such as ext4's that a directory is entered only from the
	// parent its ".." names.
	Enter func(dir, n N, name string) error

	MaxHops  int   // DefaultMaxHops when 0
	MaxDepth int   // DefaultMaxDepth when 0
	LoopErr  error // ErrLoop when nil
}

// Walk returns the nodes from the root to name, root first. Errors are
// *iofs.PathError with op and name.
func (w *Walker[N]) Walk(op, name string, follow bool) ([]N, error) {
	return w.walk(op, name, follow, nil)
}

// Last is Walk's last node, the one name names. It keeps the path of a
// usual depth off the heap, which counts when a tree walk resolves every
// directory it lists.
func (w *Walker[N]) Last(op, name string, follow bool) (N, error) {
	var buf [16]N
	stack, err := w.walk(op, name, follow, buf[:0])
	if err != nil {
		var zero N
		return zero, err
	}
	return stack[len(stack)-1], nil
}

// walk is Walk building the path in stack's room.
func (w *Walker[N]) walk(op, name string, follow bool, stack []N) ([]N, error) {
	fail := func(err error) ([]N, error) { return nil, &iofs.PathError{Op: op, Path: name, Err: err} }
	if !ValidPath(name) {
		return fail(iofs.ErrInvalid)
	}
	maxHops, maxDepth := w.MaxHops, w.MaxDepth
	if maxHops == 0 {
		maxHops = DefaultMaxHops
	}
	if maxDepth == 0 {
		maxDepth = DefaultMaxDepth
	}
	root, err := w.Root()
	if err != nil {
		return fail(err)
	}
	var comps []string
	if name != "." {
		comps = strings.Split(name, "/")
	}
	stack = append(stack[:0], root)
	hops := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		cur := stack[len(stack)-1]
		if !w.IsDir(cur) {
			if w.NotDir != nil {
				return fail(w.NotDir(cur))
			}
			// ENOTDIR, but also "not there" for callers probing paths.
			return fail(fmt.Errorf("%w: %w", ErrNotDir, iofs.ErrNotExist))
		}
		next, err := w.Lookup(cur, c)
		if err != nil {
			return fail(err)
		}
		if w.IsLink(next) && (len(comps) > 0 || follow) {
			if hops++; hops > maxHops {
				return fail(or(w.LoopErr, ErrLoop))
			}
			target, err := w.ReadLink(next)
			if err != nil {
				return fail(err)
			}
			if target == "" {
				return fail(iofs.ErrNotExist)
			}
			if strings.HasPrefix(target, "/") {
				stack = stack[:1]
			}
			comps = append(strings.Split(target, "/"), comps...)
			continue
		}
		if w.Same != nil && w.IsDir(next) {
			for _, a := range stack {
				if !w.Same(a, next) {
					continue
				}
				if w.Cycle != nil {
					return fail(w.Cycle(next, c))
				}
				return fail(fmt.Errorf("%w: %q is its own ancestor", ErrCycle, c))
			}
		}
		if len(stack) >= maxDepth {
			return fail(fmt.Errorf("deeper than %d directories: %w", maxDepth, or(w.LoopErr, ErrLoop)))
		}
		if w.Enter != nil {
			if err := w.Enter(cur, next, c); err != nil {
				return fail(err)
			}
		}
		stack = append(stack, next)
	}
	return stack, nil
}

func or(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// ValidPath is io/fs.ValidPath without its UTF-8 requirement: names on
// disk are bytes, and evidence with non-UTF-8 names must stay reachable.
func ValidPath(name string) bool {
	if name == "." {
		return true
	}
	for {
		i := strings.IndexByte(name, '/')
		elem := name
		if i >= 0 {
			elem = name[:i]
		}
		if elem == "" || elem == "." || elem == ".." {
			return false
		}
		if i < 0 {
			return true
		}
		name = name[i+1:]
	}
}
