package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The decoder's own type errors ("cannot unmarshal !!str `big` into
// config.Size") name neither the key nor what to write instead. So before
// decoding, checkShape walks the YAML tree beside the Config type (its
// fields' yaml tags) and reports every value that does not fit, by its key
// path, with the expected form and an example (forms.go). Leaf values are
// tried with the decoder itself, so what passes here decodes.

// maxShapeNodes bounds the walk: aliases can make a small document stand
// for a huge tree, and no real config comes near this.
const maxShapeNodes = 100_000

// maxShapeErrors is how many mistakes one message lists.
const maxShapeErrors = 10

// shapeWalk is one walk's state.
type shapeWalk struct {
	visited int
	errs    []error
}

// checkShape reports every key and value of doc (a parsed document) that
// does not fit t, the type it decodes into.
func checkShape(doc *yaml.Node, t reflect.Type) error {
	w := &shapeWalk{}
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	w.walk(n, t, path{}, "")
	return errors.Join(w.errs...)
}

// walk checks n against t. example is the field's own example, if it has
// one (the `example` tag).
func (w *shapeWalk) walk(n *yaml.Node, t reflect.Type, p path, example string) {
	if len(w.errs) >= maxShapeErrors {
		return
	}
	if w.visited++; w.visited > maxShapeNodes {
		if w.visited == maxShapeNodes+1 {
			w.errs = append(w.errs, fmt.Errorf("the config expands to more than %d values (aliases?): write it out plainly", maxShapeNodes))
		}
		return
	}
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // the zero value
	}
	if isUnmarshaler(t) {
		w.leaf(n, t, p, example)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		w.walk(n, t.Elem(), p, example)
	case reflect.Struct:
		w.mapping(n, t, p, example)
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			w.mistake(n, t, p, example)
			return
		}
		for i, item := range n.Content {
			w.walk(item, t.Elem(), p.index(i), "")
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.mistake(n, t, p, example)
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			w.leaf(k, t.Key(), p.key(k.Value), "")
			w.walk(n.Content[i+1], t.Elem(), p.key(k.Value), "")
		}
	case reflect.Interface:
		// Anything goes.
	default:
		w.leaf(n, t, p, example)
	}
}

// mapping checks a mapping against struct t: every key a field, given
// once, every value fitting its field.
func (w *shapeWalk) mapping(n *yaml.Node, t reflect.Type, p path, example string) {
	if n.Kind != yaml.MappingNode {
		w.mistake(n, t, p, example)
		return
	}
	fields := fieldsOf(t)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			w.merge(v, t, p, example)
			continue
		}
		f, ok := fields.byName(k.Value)
		if k.Kind != yaml.ScalarNode || !ok {
			w.unknownKey(k, fields, p)
			continue
		}
		if line, dup := seen[k.Value]; dup {
			w.errs = append(w.errs, fmt.Errorf("%s (line %d): given twice (first on line %d): keep one", p.key(k.Value), k.Line, line))
			continue
		}
		seen[k.Value] = k.Line
		w.walk(v, f.typ, p.key(k.Value), f.example)
	}
}

// merge checks the mappings a merge key (<<: *defaults, or a list of
// them) brings into a struct's mapping.
func (w *shapeWalk) merge(v *yaml.Node, t reflect.Type, p path, example string) {
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind != yaml.SequenceNode {
		w.walk(v, t, p, example)
		return
	}
	for _, item := range v.Content {
		w.walk(item, t, p, example)
	}
}

// leaf tries the decoder on n alone.
func (w *shapeWalk) leaf(n *yaml.Node, t reflect.Type, p path, example string) {
	if n.Decode(reflect.New(t).Interface()) != nil {
		w.mistake(n, t, p, example)
	}
}

// mistake reports that n does not fit t.
func (w *shapeWalk) mistake(n *yaml.Node, t reflect.Type, p path, example string) {
	if example == "" {
		example = exampleOf(t)
	}
	w.errs = append(w.errs, fmt.Errorf("%s (line %d): got %s; want %s, e.g. %s", p, n.Line, got(n), formOf(t), p.example(example)))
}

func (w *shapeWalk) unknownKey(k *yaml.Node, fields fieldList, p path) {
	msg := fmt.Sprintf("%s (line %d): a key must be a plain name", p, k.Line)
	if k.Kind == yaml.ScalarNode {
		msg = fmt.Sprintf("%s (line %d): unknown key", p.key(redact(k.Value)), k.Line)
		if s := fields.nearest(k.Value); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
	}
	w.errs = append(w.errs, fmt.Errorf("%s; %s takes %s", msg, p, strings.Join(fields.names(), ", ")))
}

// got describes what the document holds at n.
func got(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	v := redact(n.Value)
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return strconv.Quote(v)
}

// redact keeps an age secret key pasted in the wrong place out of a
// message (and so out of logs): not even a prefix of it is shown.
func redact(v string) string {
	if strings.Contains(strings.ToUpper(v), "AGE-SECRET-KEY-") {
		return "(an age secret key, not shown)"
	}
	return v
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func isUnmarshaler(t reflect.Type) bool {
	return t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)
}

// path is where a value sits in the document: keys and list indexes.
type path []pathElem

type pathElem struct {
	key   string
	index int // when key == ""
}

func (p path) key(k string) path { return append(p[:len(p):len(p)], pathElem{key: k}) }
func (p path) index(i int) path  { return append(p[:len(p):len(p)], pathElem{index: i}) }

// String prints the path as people write it: seal.size, stores[1].url.
func (p path) String() string {
	if len(p) == 0 {
		return "the config"
	}
	var b strings.Builder
	for i, e := range p {
		switch {
		case e.key == "":
			fmt.Fprintf(&b, "[%d]", e.index)
		case i > 0:
			b.WriteString("." + e.key)
		default:
			b.WriteString(e.key)
		}
	}
	return b.String()
}

// example nests a value's example inside its path, in flow style, so that
// it reads as a whole config: seal: {size: 16MiB}, stores: [{url: ...}].
func (p path) example(value string) string {
	for i := len(p) - 1; i >= 0; i-- {
		switch {
		case p[i].key == "":
			value = "[" + value + "]"
		case i == 0:
			value = p[i].key + ": " + value
		default:
			value = "{" + p[i].key + ": " + value + "}"
		}
	}
	return value
}

// field is one key of a struct.
type field struct {
	name    string
	typ     reflect.Type
	example string
}

type fieldList []field

// fieldsOf lists t's keys as the decoder sees them: yaml tags, else the
// lowercased field name; ",inline" structs contribute their own keys.
func fieldsOf(t reflect.Type) fieldList {
	var out fieldList
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") && sf.Type.Kind() == reflect.Struct {
			out = append(out, fieldsOf(sf.Type)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out = append(out, field{name: name, typ: sf.Type, example: sf.Tag.Get("example")})
	}
	return out
}

func (fs fieldList) byName(name string) (field, bool) {
	for _, f := range fs {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

func (fs fieldList) names() []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

// nearest returns the key closest to a mistyped one, if one is close.
func (fs fieldList) nearest(name string) string {
	best, bestD := "", 3
	if len(name) > 64 {
		return ""
	}
	for _, f := range fs {
		if d := editDistance(strings.ToLower(name), f.name); d < bestD {
			best, bestD = f.name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
