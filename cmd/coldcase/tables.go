package main

import (
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// table is one list of records rendered for a terminal.
type table struct {
	title  string
	header []string
	rows   [][]string
}

// maxCell keeps a table readable; the JSON output is complete.
const maxCell = 80

// tablesOf renders an extractor's records generically: every slice of
// structs it holds (at the top or one level down) becomes a table whose
// columns are the structs' scalar fields, named by their json tags. The
// extractors own their record types; this keeps the CLI free of them.
func tablesOf(name string, rec any) []table {
	v := reflect.ValueOf(rec)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	var out []table
	switch v.Kind() {
	case reflect.Slice:
		if t, ok := sliceTable(name, v); ok {
			out = append(out, t)
		}
	case reflect.Struct:
		var scalars [][]string
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() != reflect.Uint8 {
				if t, ok := sliceTable(name+" "+jsonName(f), fv); ok {
					out = append(out, t)
				}
				continue
			}
			if s, ok := scalar(fv); ok && s != "" {
				scalars = append(scalars, []string{jsonName(f), s})
			}
		}
		if len(scalars) > 0 {
			out = append([]table{{title: name, header: []string{"field", "value"}, rows: scalars}}, out...)
		}
	}
	return out
}

func sliceTable(title string, v reflect.Value) (table, bool) {
	et := v.Type().Elem()
	for et.Kind() == reflect.Pointer {
		et = et.Elem()
	}
	if et.Kind() != reflect.Struct {
		if v.Len() == 0 {
			return table{}, false
		}
		t := table{title: title, header: []string{"value"}}
		for i := 0; i < v.Len(); i++ {
			if s, ok := scalar(v.Index(i)); ok {
				t.rows = append(t.rows, []string{s})
			}
		}
		return t, true
	}
	var cols [][]int
	t := table{title: title}
	// Embedded structs (users.User embeds PasswdEntry) contribute their
	// fields as if declared in place.
	var collect func(st reflect.Type, index []int)
	collect = func(st reflect.Type, index []int) {
		for i := 0; i < st.NumField(); i++ {
			f := st.Field(i)
			idx := append(append([]int(nil), index...), i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				collect(f.Type, idx)
				continue
			}
			if !f.IsExported() || jsonName(f) == "-" {
				continue
			}
			if isScalarType(f.Type) {
				cols = append(cols, idx)
				t.header = append(t.header, jsonName(f))
			}
		}
	}
	collect(et, nil)
	if len(cols) == 0 {
		return table{}, false
	}
	// Drop columns empty in every row, so wide record types stay readable.
	used := make([]bool, len(cols))
	var cells [][]string
	for i := 0; i < v.Len(); i++ {
		e := v.Index(i)
		for e.Kind() == reflect.Pointer {
			e = e.Elem()
		}
		row := make([]string, len(cols))
		for j, c := range cols {
			row[j], _ = scalar(e.FieldByIndex(c))
			if row[j] != "" && row[j] != "0" && row[j] != "false" {
				used[j] = true
			}
		}
		cells = append(cells, row)
	}
	var hdr []string
	for j, u := range used {
		if u {
			hdr = append(hdr, t.header[j])
		}
	}
	t.header = hdr
	for _, row := range cells {
		var r []string
		for j, u := range used {
			if u {
				r = append(r, clip(row[j]))
			}
		}
		t.rows = append(t.rows, r)
	}
	return t, len(hdr) > 0
}

var timeType = reflect.TypeOf(time.Time{})

func isScalarType(t reflect.Type) bool {
	if t == timeType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

func scalar(v reflect.Value) (string, bool) {
	if !v.IsValid() {
		return "", false
	}
	if v.Type() == timeType {
		return fmtTime(v.Interface().(time.Time)), true
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), true
	case reflect.Bool:
		if v.Bool() {
			return "true", true
		}
		return "", true
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.String {
			parts := make([]string, v.Len())
			for i := range parts {
				parts[i] = v.Index(i).String()
			}
			return strings.Join(parts, ", "), true
		}
		return "", false
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return fmt.Sprint(v.Interface()), true
	}
	return "", false
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	if n, _, _ := strings.Cut(tag, ","); n != "" {
		return n
	}
	return f.Name
}

func clip(s string) string {
	if len(s) <= maxCell {
		return s
	}
	cut := maxCell
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
