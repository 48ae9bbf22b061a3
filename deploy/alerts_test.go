package deploy

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func readRules(t *testing.T) []rule {
	t.Helper()
	raw, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", alertsPath, err)
	}
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatalf("%s has no rules", alertsPath)
	}
	return out
}

// alertExprs maps each alert's name to its expression.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range readRules(t) {
		out["alert "+r.Alert] = r.Expr
	}
	return out
}

// balanced reports whether expr's brackets pair up, outside quotes: the
// syntax check within reach without a PromQL parser.
func balanced(expr string) error {
	var stack []rune
	pair := map[rune]rune{')': '(', ']': '[', '}': '{'}
	quote := rune(0)
	for _, c := range expr {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case pair[c] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pair[c] {
				return fmt.Errorf("unbalanced %q", c)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if quote != 0 || len(stack) > 0 {
		return fmt.Errorf("unclosed %q", append(stack, quote))
	}
	return nil
}

// TestAlertRules: every rule is an alert an operator can act on, and the
// rules cover what the agent's metrics can say is wrong.
func TestAlertRules(t *testing.T) {
	rules := readRules(t)
	seen := map[string]bool{}
	all := ""
	for _, r := range rules {
		name := r.Alert
		if name == "" || r.Record != "" {
			t.Errorf("rule %q: want an alert, not a recording rule", r.Record)
			continue
		}
		if seen[name] {
			t.Errorf("alert %s: defined twice", name)
		}
		seen[name] = true
		if err := balanced(r.Expr); r.Expr == "" || err != nil {
			t.Errorf("alert %s: expr %q: %v", name, r.Expr, err)
		}
		if _, err := model.ParseDuration(r.For); err != nil {
			t.Errorf("alert %s: for: %q: %v", name, r.For, err)
		}
		switch r.Labels["severity"] {
		case "critical", "warning", "info":
		default:
			t.Errorf("alert %s: severity %q, want critical, warning or info", name, r.Labels["severity"])
		}
		if len(r.Annotations["summary"]) < 20 {
			t.Errorf("alert %s: summary %q: say what is wrong", name, r.Annotations["summary"])
		}
		if len(r.Annotations["description"]) < 80 {
			t.Errorf("alert %s: description %q: tell the operator what it means and what to do", name, r.Annotations["description"])
		}
		for k := range r.Annotations {
			if k != "summary" && k != "description" && k != "runbook_url" {
				t.Errorf("alert %s: unexpected annotation %q", name, k)
			}
		}
		all += r.Expr + "\n"
	}
	for _, want := range []string{
		`up{job="walship"} == 0`,               // agent down
		"walship_store_degraded",               // a store past its retry bound
		"walship_store_lag_seconds",            // lag over a bound
		"walship_store_gaps_total",             // recorded gaps
		`walship_snapshots_total{result="ok"}`, // no base for too long
		"walship_spool_bytes",                  // spool filling
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no alert rule uses %s", want)
		}
	}
}

var labelRef = regexp.MustCompile(`\$labels\.([A-Za-z_][A-Za-z0-9_]*)`)

// checkAnnotationLabels fails for an annotation that names a label
// ({{ $labels.X }}) that no walship metric of the rule's expression has: it
// would print empty. Rules on no walship metric (up) are left alone.
func checkAnnotationLabels(t *testing.T, rules []rule, fams map[string]*dto.MetricFamily) {
	t.Helper()
	checked := 0
	for _, r := range rules {
		names := metricRef.FindAllString(r.Expr, -1)
		if len(names) == 0 {
			continue
		}
		for k, text := range r.Annotations {
			for _, m := range labelRef.FindAllStringSubmatch(text, -1) {
				checked++
				ok := slices.Contains(scrapeLabels, m[1])
				for _, name := range names {
					if mf, found := resolve(fams, name); found && hasLabel(mf, m[1]) {
						ok = true
					}
				}
				if !ok {
					t.Errorf("alert %s, %s: $labels.%s: none of %v has that label", r.Alert, k, m[1], names)
				}
			}
		}
	}
	if checked == 0 {
		t.Errorf("%s: no annotation names a label: nothing was checked", alertsPath)
	}
}

func TestBalanced(t *testing.T) {
	for expr, ok := range map[string]bool{`rate(a{b="("}[5m])`: true, `sum(rate(a[5m])`: false, `a{b="x"]`: false, `a{b="x}`: false} {
		if err := balanced(expr); (err == nil) != ok {
			t.Errorf("balanced(%q) = %v, want ok=%v", expr, err, ok)
		}
	}
}
