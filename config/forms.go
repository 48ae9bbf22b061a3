package config

import (
	"reflect"
	"strings"
)

// What a value of each type looks like, for the messages of checkShape: a
// form in words and an example in YAML (flow style, so it nests). A
// struct field's `example` tag, when present, is its example instead.

// shaped is implemented by config types whose YAML form is not their Go
// kind's.
type shaped interface {
	form() string
	example() string
}

func (Size) form() string {
	return "a size: a whole number of bytes, or a number with a unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
}
func (Size) example() string { return "16MiB" }

func (Duration) form() string {
	return "a duration: a number with a unit (ms, s, m, h), or 0"
}
func (Duration) example() string { return "1s" }

func (Command) form() string {
	return "a command: a string (run by " + Shell + " -c) or a list of arguments (run without a shell)"
}
func (Command) example() string { return `"mydb-ctl checkpoint --json"` }

func (DirCommand) form() string {
	return "a command given the directory as its last argument: a string (run by " + Shell + ` -c 'STRING "$1"' sh DIR) or a list of arguments`
}
func (DirCommand) example() string { return `"rm -rf"` }

// formOf says in words what a value of type t looks like.
func formOf(t reflect.Type) string {
	if s, ok := reflect.Zero(t).Interface().(shaped); ok {
		return s.form()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return formOf(t.Elem())
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list, each item " + formOf(t.Elem())
	case reflect.Map:
		return "a mapping of names to values, each " + formOf(t.Elem())
	case reflect.Struct:
		return "a mapping with the keys " + strings.Join(fieldsOf(t).names(), ", ")
	}
	return "a value"
}

// exampleOf returns a YAML example of a value of type t.
func exampleOf(t reflect.Type) string {
	if s, ok := reflect.Zero(t).Interface().(shaped); ok {
		return s.example()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return exampleOf(t.Elem())
	case reflect.Bool:
		return "true"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "3"
	case reflect.Float32, reflect.Float64:
		return "2.5"
	case reflect.String:
		return "text"
	case reflect.Slice, reflect.Array:
		return "[" + exampleOf(t.Elem()) + "]"
	case reflect.Map:
		return "{name: " + exampleOf(t.Elem()) + "}"
	case reflect.Struct:
		return structExample(t)
	}
	return "~"
}

// structExample shows a struct's first two keys that have examples of
// their own (or all of its keys, if it has fewer).
func structExample(t reflect.Type) string {
	var parts []string
	for _, f := range fieldsOf(t) {
		if len(parts) == 2 {
			break
		}
		ex := f.example
		if ex == "" && f.typ.Kind() != reflect.Struct {
			ex = exampleOf(f.typ)
		}
		if ex != "" {
			parts = append(parts, f.name+": "+ex)
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
