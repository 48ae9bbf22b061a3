package wal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeJSONLine: any line decodes or gives a reason, never panics;
// what it accepts, encoding/json reads the same way (where encoding/json
// accepts the line too); and what tidwall writes decodes to itself.
func FuzzDecodeJSONLine(f *testing.F) {
	for _, s := range []string{
		`{"index":"3","data":"+hi"}`,
		`{"index":"3","data":"$aGk="}`,
		`{"data":"+hi","index":"3"}`,
		`{"index":"3","data":"+a\"b\u00e9\ud83d\ude00"}`,
		`{"index":"}`,
		`{"index":"3","data":"+\u12"}`,
		`{"index":"3","data":"+\ud800x"}`,
	} {
		f.Add([]byte(s), uint64(3), true)
	}
	f.Fuzz(func(t *testing.T, line []byte, want uint64, keep bool) {
		data, problem := decodeJSONLine(line, want, keep)
		if problem != "" {
			if data != nil {
				t.Fatalf("data %q with problem %q", data, problem)
			}
		} else if keep {
			// encoding/json replaces invalid UTF-8 and refuses raw control
			// characters; compare where it reads the line as it stands.
			var v struct{ Index, Data string }
			if utf8.Valid(line) && json.Unmarshal(line, &v) == nil && len(v.Data) > 0 {
				ref := []byte(v.Data[1:])
				if v.Data[0] == '$' {
					var err error
					if ref, err = base64.URLEncoding.DecodeString(v.Data[1:]); err != nil {
						t.Fatalf("accepted base64 encoding/json's decoder refuses: %v", err)
					}
				}
				if !bytes.Equal(data, ref) {
					t.Fatalf("decoded %q, encoding/json reads %q", data, ref)
				}
			}
			// What tidwall would write for these bytes reads back the same.
			back, problem := decodeJSONLine(tidwallLine(want, data), want, true)
			if problem != "" || !bytes.Equal(back, data) {
				t.Fatalf("tidwall line for %q: %q, %q", data, back, problem)
			}
		}
		// The whole line, as tidwall writes it, decodes to itself.
		back, problem := decodeJSONLine(tidwallLine(want, line), want, true)
		if problem != "" || !bytes.Equal(back, line) {
			t.Fatalf("tidwall line for %q: %q, %q", line, back, problem)
		}
	})
}

// FuzzNames: the names and settings the tailer parses: segment file names
// print back to themselves; time sources and formats print to what parses to
// the same setting; extracting a timestamp from any entry never panics.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"00000000000000000001", "00000000000000000500.START", "18446744073709551615.END",
		"observed", "json:ts", "be64:0", "be64:007", "auto", "binary", `{"ts":"2026-01-02T03:04:05Z"}`, `{"ts":1.7e9}`} {
		f.Add(s, []byte(s))
	}
	f.Fuzz(func(t *testing.T, s string, entry []byte) {
		if index, ext, ok := parseSegName(s); ok && (segmentName(index)+ext != s || index == 0) {
			t.Fatalf("segment name %q parses to %d %q", s, index, ext)
		}
		if ts, err := ParseTimeSource(s); err == nil {
			ts2, err := ParseTimeSource(ts.String())
			if err != nil || ts2 != ts {
				t.Fatalf("time source %q prints %q, which parses to %v, %v", s, ts.String(), ts2, err)
			}
			ts.extract(entry)
		}
		if fm, err := ParseFormat(s); err == nil {
			if fm2, err := ParseFormat(fm.String()); err != nil || fm2 != fm {
				t.Fatalf("format %q prints %q", s, fm.String())
			}
		}
		for _, src := range []string{"json:" + s, "json:ts", "be64:0", "be64:3"} {
			if ts, err := ParseTimeSource(src); err == nil {
				ts.extract(entry)
			}
		}
		if raw, ok := jsonTopField(entry, s); ok && json.Valid(entry) && !json.Valid(raw) {
			t.Fatalf("member %q of valid JSON %q is not valid JSON: %q", s, entry, raw)
		}
		if u, ok := jsonUnquote(entry); ok && utf8.Valid(entry) {
			var ref string
			if json.Unmarshal(entry, &ref) == nil && string(u) != ref {
				t.Fatalf("unquote %s = %q, encoding/json says %q", entry, u, ref)
			}
		}
	})
}
