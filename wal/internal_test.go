package wal

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseSegName(t *testing.T) {
	cases := []struct {
		name  string
		index uint64
		ext   string
		ok    bool
	}{
		{"00000000000000000001", 1, "", true},
		{"18446744073709551615", 1<<64 - 1, "", true},
		{"18446744073709551616", 0, "", false}, // overflows
		{"00000000000000000000", 0, "", false}, // index 0
		{"00000000000000000042.START", 42, ".START", true},
		{"00000000000000000042.END", 42, ".END", true},
		{"00000000000000000042.START.TEMP", 0, "", false},
		{"00000000000000000042.TEMP", 0, "", false},
		{"0000000000000000042", 0, "", false},
		{"0000000000000000004a", 0, "", false},
		{"000000000000000000042", 0, "", false},
	}
	for _, c := range cases {
		index, ext, ok := parseSegName(c.name)
		if index != c.index || ext != c.ext || ok != c.ok {
			t.Errorf("parseSegName(%q) = %d, %q, %v", c.name, index, ext, ok)
		}
	}
	if segmentName(7) != "00000000000000000007" {
		t.Error(segmentName(7))
	}
}

// TestLogical mirrors tidwall's load(): which files make up the log.
func TestLogical(t *testing.T) {
	n := func(i uint64, ext string) string { return segmentName(i) + ext }
	cases := []struct {
		files []string
		want  []string
	}{
		{[]string{n(1, ""), n(11, ""), n(21, "")}, []string{n(1, ""), n(11, ""), n(21, "")}},
		{[]string{n(21, ""), n(1, ""), n(11, "")}, []string{n(1, ""), n(11, ""), n(21, "")}},
		{[]string{n(1, ""), n(11, ""), n(15, ".START"), n(21, "")}, []string{n(15, ".START"), n(21, "")}},
		{[]string{n(1, ""), n(11, ""), n(11, ".START"), n(21, "")}, []string{n(11, ".START"), n(21, "")}},
		{[]string{n(1, ""), n(11, ""), n(11, ".END"), n(21, "")}, []string{n(1, ""), n(11, ".END")}},
		{[]string{n(1, ""), n(1, ".END"), n(11, "")}, []string{n(1, ".END")}},
		{[]string{n(11, ".END"), n(21, "")}, []string{n(11, ".END")}},
		{[]string{n(1, ""), n(5, ".END"), n(9, ".END"), n(11, "")}, []string{n(1, ""), n(5, ".END")}},
		{[]string{n(1, ""), n(5, ".START"), n(9, ".START"), n(11, "")}, []string{n(9, ".START"), n(11, "")}},
		// Both (tidwall refuses to open this); read it as START then END.
		{[]string{n(1, ""), n(15, ".START"), n(21, ""), n(21, ".END"), n(31, "")}, []string{n(15, ".START"), n(21, ".END")}},
		{[]string{n(1, ""), n(1, ".END"), n(15, ".START"), n(21, "")}, []string{n(15, ".START"), n(21, "")}},
	}
	for _, c := range cases {
		var all []segFile
		for _, f := range c.files {
			i, _, _ := parseSegName(f)
			all = append(all, segFile{index: i, name: f})
		}
		var got []string
		for _, s := range logical(all) {
			got = append(got, s.name)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("logical(%v) = %v, want %v", c.files, got, c.want)
		}
	}
}

func TestViewLookups(t *testing.T) {
	v := view{segs: []segFile{{index: 5}, {index: 10}, {index: 20}}}
	for index, want := range map[uint64]int{4: -1, 5: 0, 9: 0, 10: 1, 19: 1, 20: 2, 1000: 2} {
		if got := v.holding(index); got != want {
			t.Errorf("holding(%d) = %d, want %d", index, got, want)
		}
	}
	if s, ok := v.find(10); !ok || s.index != 10 {
		t.Error("find(10)")
	}
	if _, ok := v.find(11); ok {
		t.Error("find(11)")
	}
	if s, ok := v.after(10); !ok || s.index != 20 {
		t.Error("after(10)")
	}
	if _, ok := v.after(20); ok {
		t.Error("after(20)")
	}
}

func TestSniff(t *testing.T) {
	for in, want := range map[string]Format{
		"":                  FormatAuto,
		"{":                 FormatAuto,
		`{"index"`:          FormatAuto,
		`{"index":"`:        FormatJSON,
		`{"index":"1","da`:  FormatJSON,
		"\x05hello":         FormatBinary,
		"{x":                FormatBinary,
		"\x00":              FormatBinary,
		`{"index":1,"data"`: FormatBinary,
	} {
		if got := sniff([]byte(in)); got != want {
			t.Errorf("sniff(%q) = %v, want %v", in, got, want)
		}
	}
}

// tidwallLine is appendJSONEntry from tidwall/wal v1.2.1.
func tidwallLine(index uint64, data []byte) []byte {
	b := append([]byte(`{"index":"`), strconv.FormatUint(index, 10)...)
	b = append(b, `","data":`...)
	if utf8.Valid(data) {
		m, _ := json.Marshal(string(data))
		b = append(append(b, '"', '+'), m[1:]...)
	} else {
		b = append(append(b, '"', '$'), base64.URLEncoding.EncodeToString(data)...)
		b = append(b, '"')
	}
	return append(b, '}')
}

// TestJSONLineRoundTrip: whatever tidwall writes decodes to the same bytes.
func TestJSONLineRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "Z", " ", "\"", "\\", "/", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "<", ">", "&",
		"é", "€", "😀", "\u2028", "\u2029", "\ufffd", "\\u0041", "\xff", "\xc3"}
	for i := range 3000 {
		var sb strings.Builder
		for range rng.IntN(40) {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		data := []byte(sb.String())
		index := uint64(i + 1)
		got, problem := decodeJSONLine(tidwallLine(index, data), index, true)
		if problem != "" || string(got) != string(data) {
			t.Fatalf("%q: got %q, %q", data, got, problem)
		}
		if _, problem := decodeJSONLine(tidwallLine(index, data), index+1, true); !strings.Contains(problem, "want") {
			t.Fatalf("wrong index not reported: %q", problem)
		}
	}
}

func TestDecodeJSONLineVariants(t *testing.T) {
	cases := []struct {
		line    string
		want    string
		problem string
	}{
		{`{"index":"3","data":"+hi"}`, "hi", ""},
		{`{"index":"3","data":"+"}`, "", ""},
		{`{"index":"3","data":"$aGk="}`, "hi", ""},
		{`{"data":"+hi","index":"3"}`, "hi", ""},        // other member order
		{` {"index" : "3", "data" : "+hi"} `, "hi", ""}, // spaces
		{`{"index":"3","data":"+a\"b"}`, `a"b`, ""},
		{`{"index":"3","data":"+a"b"}`, "", "bad string"},
		{`{"index":"3","data":"hi"}`, "", `does not start with "+" or "$"`},
		{`{"index":"3","data":""}`, "", `does not start with "+" or "$"`},
		{`{"index":"3"}`, "", "not a tidwall/wal JSON entry"},
		{`{"index":3,"data":"+hi"}`, "", "not a tidwall/wal JSON entry"},
		{`{"index":"x3","data":"+hi"}`, "", "bad index"},
		{`{"index":"4","data":"+hi"}`, "", "index 4, want 3"},
		{`{"index":"3","data":"$!!"}`, "", "base64"},
		{`{"index":"3","data":"+\q"}`, "", "bad string"},
		{`[]`, "", "not a tidwall/wal JSON entry"},
	}
	for _, c := range cases {
		got, problem := decodeJSONLine([]byte(c.line), 3, true)
		if string(got) != c.want || (c.problem == "") != (problem == "") || !strings.Contains(problem, c.problem) {
			t.Errorf("decodeJSONLine(%s) = %q, %q; want %q, %q", c.line, got, problem, c.want, c.problem)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:                   "plain",
		`a\nb\tc\\d\/e\"f\bg\fh`:  "a\nb\tc\\d/e\"f\bg\fh",
		`\u0041\u00e9\u20ac`:      "Aé€",
		`\ud83d\ude00`:            "😀",
		`\ud83d`:                  "\ufffd",
		`\ud83dx`:                 "\ufffdx",
		`\ude00\ud83d\ude00`:      "\ufffd😀",
		`\u2028`:                  "\u2028",
		"raw \xff bytes":          "raw \xff bytes",
		`\u003cscript\u003e&amp;`: "<script>&amp;",
	} {
		got, ok := appendUnescaped(nil, []byte(in))
		if !ok || string(got) != want {
			t.Errorf("appendUnescaped(%s) = %q, %v; want %q", in, got, ok, want)
		}
		var std string
		if err := json.Unmarshal([]byte(`"`+in+`"`), &std); err == nil && utf8.ValidString(in) && std != want {
			t.Errorf("encoding/json reads %s as %q, we want %q", in, std, want)
		}
	}
	for _, in := range []string{`\`, `\x`, `\u12`, `\u12g4`, `a"b`} {
		if _, ok := appendUnescaped(nil, []byte(in)); ok {
			t.Errorf("appendUnescaped(%s) succeeded", in)
		}
	}
}

func TestJSONTopField(t *testing.T) {
	cases := []struct {
		doc, field, want string
		ok               bool
	}{
		{`{"ts":1}`, "ts", "1", true},
		{`{"a":{"ts":1},"ts":"x"}`, "ts", `"x"`, true},
		{`{"a":["}",{"b":"]"}],"ts":-5}`, "ts", "-5", true},
		{` { "ts" : true } `, "ts", "true", true},
		{`{"t\"s":1,"ts":2}`, "ts", "2", true},
		{`{"t\u0073":3}`, "ts", "3", true},
		{`{"ts":1,"ts":2}`, "ts", "1", true},
		{`{}`, "ts", "", false},
		{`{"a":1}`, "ts", "", false},
		{`[{"ts":1}]`, "ts", "", false},
		{`{"a":1 "ts":2}`, "ts", "", false},
		{`{"ts"`, "ts", "", false},
		{`{"ts":`, "ts", "", false},
		{`{"a":"unterminated`, "ts", "", false},
		{``, "ts", "", false},
	}
	for _, c := range cases {
		got, ok := jsonTopField([]byte(c.doc), c.field)
		if string(got) != c.want || ok != c.ok {
			t.Errorf("jsonTopField(%s, %s) = %s, %v; want %s, %v", c.doc, c.field, got, ok, c.want, c.ok)
		}
	}
}

func TestUnixByMagnitude(t *testing.T) {
	for n, want := range map[int64]time.Time{
		0:                    time.Unix(0, 0),
		99999999999:          time.Unix(99999999999, 0),
		100000000000:         time.UnixMilli(100000000000),
		1714979289123:        time.UnixMilli(1714979289123),
		99999999999999:       time.UnixMilli(99999999999999),
		100000000000000:      time.UnixMicro(100000000000000),
		1714979289123456:     time.UnixMicro(1714979289123456),
		100000000000000000:   time.Unix(0, 100000000000000000),
		1714979289123456789:  time.Unix(0, 1714979289123456789),
		-1714979289:          time.Unix(-1714979289, 0),
		-1714979289123:       time.UnixMilli(-1714979289123),
		-9223372036854775808: time.Unix(0, -9223372036854775808),
	} {
		if got := unixByMagnitude(n); !got.Equal(want) {
			t.Errorf("unixByMagnitude(%d) = %v, want %v", n, got, want)
		}
	}
}
