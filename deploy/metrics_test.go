package deploy

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// metricRef finds walship's metric names in PromQL. A label value such as
// job="walship" has no underscore after the name, and is not one.
var metricRef = regexp.MustCompile(`\bwalship_[A-Za-z0-9_]*`)

// selectorRef finds a walship metric with a label selector, and matcherRef
// the label names in it.
var (
	selectorRef = regexp.MustCompile(`\b(walship_[A-Za-z0-9_]*)\{([^}]*)\}`)
	matcherRef  = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)`)
)

// scrapeLabels are added by the scraper, not exported by the agent.
var scrapeLabels = []string{"instance", "job"}

// resolve returns the family a metric name in a query stands for: itself,
// or, for a histogram's or summary's _bucket, _sum or _count series, the
// family it belongs to.
func resolve(fams map[string]*dto.MetricFamily, name string) (*dto.MetricFamily, bool) {
	if mf, ok := fams[name]; ok {
		return mf, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if mf, ok := fams[base]; ok && (mf.GetType() == dto.MetricType_HISTOGRAM || mf.GetType() == dto.MetricType_SUMMARY ||
			mf.GetType() == dto.MetricType_GAUGE_HISTOGRAM) {
			return mf, true
		}
	}
	return nil, false
}

func hasLabel(mf *dto.MetricFamily, label string) bool {
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label {
				return true
			}
		}
	}
	return false
}

// checkExported fails for every walship metric a query of file names that
// the agent does not export (with a sample: a vector without series prints
// no # TYPE line either), and for every label a selector matches on that
// the metric does not have. exprs maps where each query is (for messages)
// to the query.
func checkExported(t *testing.T, file string, exprs map[string]string, fams map[string]*dto.MetricFamily) {
	t.Helper()
	var exported []string
	for name := range fams {
		exported = append(exported, name)
	}
	slices.Sort(exported)
	named := 0
	for where, expr := range exprs {
		for _, name := range metricRef.FindAllString(expr, -1) {
			named++
			if _, ok := resolve(fams, name); !ok {
				t.Errorf("%s, %s: %s is not exported by the agent\n  query: %s\n  exported: %s", file, where, name, expr, strings.Join(exported, " "))
			}
		}
		for _, sel := range selectorRef.FindAllStringSubmatch(expr, -1) {
			mf, ok := resolve(fams, sel[1])
			if !ok {
				continue
			}
			for _, m := range matcherRef.FindAllStringSubmatch(sel[2], -1) {
				if !slices.Contains(scrapeLabels, m[1]) && !hasLabel(mf, m[1]) {
					t.Errorf("%s, %s: %s has no label %q, so the selector matches nothing\n  query: %s", file, where, sel[1], m[1], expr)
				}
			}
		}
	}
	if named == 0 {
		t.Errorf("%s names no walship metric: nothing was checked", file)
	}
}

func TestMetricRef(t *testing.T) {
	got := metricRef.FindAllString(`up{job="walship"} == 0 or rate(walship_a_total{store=~"$store"}[5m]) / walship_b_bucket`, -1)
	if want := []string{"walship_a_total", "walship_b_bucket"}; !slices.Equal(got, want) {
		t.Errorf("metricRef found %q, want %q", got, want)
	}
	fams := map[string]*dto.MetricFamily{
		"walship_h": {Type: dto.MetricType_HISTOGRAM.Enum()},
		"walship_g": {Type: dto.MetricType_GAUGE.Enum()},
	}
	for name, want := range map[string]bool{"walship_h_bucket": true, "walship_h_count": true, "walship_g_count": false, "walship_g": true, "walship_x": false} {
		if _, ok := resolve(fams, name); ok != want {
			t.Errorf("resolve(%s) = %v, want %v", name, ok, want)
		}
	}
}
