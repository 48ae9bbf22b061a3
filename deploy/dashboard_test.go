package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []templateVar `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type templateVar struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"` // a string, or {"query": ...}
	Definition string          `json:"definition"`
	Datasource *datasource     `json:"datasource"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

// dsVar is how every query names its data source: the template variable.
const dsVar = "${datasource}"

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashPath, err)
	}
	return d
}

// panels returns every panel, those in rows included.
func (d dashboard) panels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// varQuery is a query variable's PromQL.
func (v templateVar) varQuery() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var q struct {
		Query string `json:"query"`
	}
	json.Unmarshal(v.Query, &q)
	return q.Query
}

// dashboardExprs maps each panel target and query variable to its PromQL.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	d := readDashboard(t)
	out := map[string]string{}
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			out[fmt.Sprintf("panel %q target %s", p.Title, tg.RefID)] = tg.Expr
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			out["variable $"+v.Name] = v.varQuery()
		}
	}
	return out
}

// TestDashboard: the data source is a template variable used by every
// query, queries parse as far as brackets go, and the panels the issue asks
// for are there.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q, uid %q: both are needed to import and link the dashboard", d.Title, d.UID)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Name == "datasource" {
			hasDS = strings.Contains(string(v.Query), "prometheus")
		}
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != dsVar) {
			t.Errorf("variable $%s: datasource %+v, want uid %s", v.Name, v.Datasource, dsVar)
		}
	}
	if !hasDS {
		t.Errorf("no template variable $datasource of type datasource for prometheus")
	}
	ids := map[int]bool{}
	titles := map[string]bool{}
	for _, p := range d.panels() {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		titles[p.Title] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != dsVar {
			t.Errorf("panel %q: datasource %+v, want uid %s", p.Title, p.Datasource, dsVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != dsVar {
				t.Errorf("panel %q target %s: datasource %+v, want uid %s", p.Title, tg.RefID, tg.Datasource, dsVar)
			}
			if err := balanced(tg.Expr); tg.Expr == "" || err != nil {
				t.Errorf("panel %q target %s: %q: %v", p.Title, tg.RefID, tg.Expr, err)
			}
		}
	}
	for _, want := range []string{"Lag per store", "Shipped bytes/s per store", "Segments/s", "Store requests by type", "Spool",
		"Degraded stores", "Gaps (range)", "Base snapshot age", "Compaction"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}
