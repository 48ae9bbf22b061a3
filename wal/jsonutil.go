package wal

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// Small JSON helpers for the two places the tailer reads JSON: tidwall's
// JSON lines and the json:FIELD time source. They work on byte slices
// without reflection and copy only what they return.

// appendUnescaped appends the decoded body of a JSON string (the bytes
// between the quotes) to dst. It fails on a raw quote or a bad escape.
func appendUnescaped(dst, s []byte) ([]byte, bool) {
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\\')
		run := s
		if i >= 0 {
			run = s[:i]
		}
		if bytes.IndexByte(run, '"') >= 0 {
			return dst, false
		}
		dst = append(dst, run...)
		if i < 0 {
			return dst, true
		}
		s = s[i:]
		if len(s) < 2 {
			return dst, false
		}
		switch c := s[1]; c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s[2:])
			if !ok {
				return dst, false
			}
			s = s[6:]
			if utf16.IsSurrogate(r) {
				// A pair is two escapes; a lone half becomes U+FFFD as in
				// encoding/json.
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					if r2, ok := hex4(s[2:]); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							s = s[6:]
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, false
		}
		s = s[2:]
	}
	return dst, true
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// jsonUnquote decodes a quoted JSON string.
func jsonUnquote(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	return appendUnescaped(make([]byte, 0, len(raw)-2), raw[1:len(raw)-1])
}

// jsonTopField returns the raw value of the top-level member named field of
// the JSON object in data (the first one, if the name repeats).
func jsonTopField(data []byte, field string) ([]byte, bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil, false
	}
	for i < len(data) {
		if data[i] != '"' {
			return nil, false
		}
		end, escaped, ok := stringEnd(data, i)
		if !ok {
			return nil, false
		}
		key := data[i+1 : end-1]
		var match bool
		if escaped {
			k, ok := appendUnescaped(nil, key)
			match = ok && string(k) == field
		} else {
			match = string(key) == field
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return nil, false
		}
		i = skipSpace(data, i+1)
		vend, ok := valueEnd(data, i)
		if !ok {
			return nil, false
		}
		if match {
			return data[i:vend], true
		}
		i = skipSpace(data, vend)
		if i >= len(data) || data[i] != ',' {
			return nil, false // '}' or garbage: no such member
		}
		i = skipSpace(data, i+1)
	}
	return nil, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string starting with the quote
// at b[i], and whether it holds escapes.
func stringEnd(b []byte, i int) (end int, escaped, ok bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped, true
		}
	}
	return 0, false, false
}

// valueEnd returns the index just past the JSON value starting at b[i].
func valueEnd(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		end, _, ok := stringEnd(b, i)
		return end, ok
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _, ok := stringEnd(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j, j > i
		}
		j++
	}
	return j, j > i
}
