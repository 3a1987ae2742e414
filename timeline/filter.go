package timeline

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Filter selects events. Zero fields select everything.
type Filter struct {
	From, To   time.Time // inclusive bounds; zero = open
	Sources    []string  // any of these sources
	User       string
	Grep       *regexp.Regexp // matched against message, path, user, ip and attribute values
	PathPrefix string
}

// Match reports whether e passes the filter.
func (f *Filter) Match(e *Event) bool {
	if !f.From.IsZero() && e.Time.Before(f.From) {
		return false
	}
	if !f.To.IsZero() && e.Time.After(f.To) {
		return false
	}
	if len(f.Sources) > 0 {
		ok := false
		for _, s := range f.Sources {
			if s == e.Source {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if f.User != "" && e.User != f.User {
		return false
	}
	if f.PathPrefix != "" && !strings.HasPrefix(e.Path, f.PathPrefix) && !strings.HasPrefix(e.Evidence.Path, f.PathPrefix) {
		return false
	}
	if f.Grep != nil {
		if f.Grep.MatchString(e.Message) || f.Grep.MatchString(e.Path) || f.Grep.MatchString(e.User) || f.Grep.MatchString(e.IP) {
			return true
		}
		for _, v := range e.Attrs {
			if f.Grep.MatchString(v) {
				return true
			}
		}
		return false
	}
	return true
}

// ParseBound reads a --from/--to value: RFC 3339 (with or without
// fractional seconds), "2006-01-02T15:04:05" (UTC), or a date. A date as
// upper bound (end=true) means the end of that day.
func ParseBound(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02 15:04:05", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		if end {
			t = t.Add(24*time.Hour - time.Nanosecond)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-09-12T02:15:30Z) or a date (2026-09-12)", s)
}
