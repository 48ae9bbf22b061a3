package deploy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/walship/walship/backends/storeurl"
	"github.com/walship/walship/config"
)

// k8sObject is the part of a manifest the tests look at; yaml.v3 leaves
// the rest alone.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Template struct {
			Metadata struct {
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int             `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               *securityContext `yaml:"securityContext"`
	Containers                    []container      `yaml:"containers"`
	InitContainers                []container      `yaml:"initContainers"`
	Volumes                       []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		EmptyDir              any `yaml:"emptyDir"`
		PersistentVolumeClaim any `yaml:"persistentVolumeClaim"`
	} `yaml:"volumes"`
}

type securityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	SecurityContext *securityContext `yaml:"securityContext"`
	Resources       struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	StartupProbe   *probe `yaml:"startupProbe"`
}

type probe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"` // a number or a port's name
	} `yaml:"httpGet"`
}

// k8sManifest is the parsed statefulset.yaml.
type k8sManifest struct {
	secret, configMap, sts *k8sObject
	walship                *container
	others                 []container
}

func readManifest(t *testing.T) k8sManifest {
	t.Helper()
	raw, err := os.ReadFile(statefulSet)
	if err != nil {
		t.Fatal(err)
	}
	var m k8sManifest
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for n := 1; ; n++ {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s document %d: %v", statefulSet, n, err)
		}
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			t.Errorf("%s document %d: apiVersion, kind and metadata.name are required", statefulSet, n)
		}
		switch o.Kind {
		case "Secret":
			m.secret = &o
		case "ConfigMap":
			m.configMap = &o
		case "StatefulSet":
			m.sts = &o
		}
	}
	if m.secret == nil || m.configMap == nil || m.sts == nil {
		t.Fatalf("%s: want a Secret, a ConfigMap and a StatefulSet", statefulSet)
	}
	pod := &m.sts.Spec.Template.Spec
	for i, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		if c.Name == "walship" {
			m.walship = &slices.Concat(pod.InitContainers, pod.Containers)[i]
		} else {
			m.others = append(m.others, c)
		}
	}
	if m.walship == nil || len(m.others) == 0 {
		t.Fatalf("%s: want a container named walship beside the database's", statefulSet)
	}
	return m
}

// mountOf returns the walship mount that holds p.
func mountOf(c *container, p string) (name, mountPath string, readOnly, ok bool) {
	for _, vm := range c.VolumeMounts {
		if p == vm.MountPath || strings.HasPrefix(p, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			if len(vm.MountPath) > len(mountPath) { // the innermost
				name, mountPath, readOnly, ok = vm.Name, vm.MountPath, vm.ReadOnly, true
			}
		}
	}
	return
}

// portNumber resolves a probe's port (a number or a container port's name).
func portNumber(c *container, n yaml.Node) (int, bool) {
	if v, err := strconv.Atoi(n.Value); err == nil {
		return v, true
	}
	for _, p := range c.Ports {
		if p.Name == n.Value {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// walshipConfig parses the ConfigMap's config the way the container reads
// it: every ${VAR} must be one of the container's env variables.
func walshipConfig(t *testing.T, m k8sManifest) *config.Config {
	t.Helper()
	w := m.walship
	cfgPath, ok := flagValue(w.Args, "config")
	if len(w.Args) == 0 || w.Args[0] != "replicate" || !ok {
		t.Fatalf("walship args %q: want replicate --config FILE", w.Args)
	}
	vol, mountPath, _, ok := mountOf(w, cfgPath)
	if !ok {
		t.Fatalf("--config %s is on no volume of the walship container", cfgPath)
	}
	var cm string
	for _, v := range m.sts.Spec.Template.Spec.Volumes {
		if v.Name == vol && v.ConfigMap != nil {
			cm = v.ConfigMap.Name
		}
	}
	if cm != m.configMap.Metadata.Name {
		t.Fatalf("--config %s: volume %s is not the ConfigMap %s", cfgPath, vol, m.configMap.Metadata.Name)
	}
	key := strings.TrimPrefix(cfgPath, strings.TrimSuffix(mountPath, "/")+"/")
	text, ok := m.configMap.Data[key]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s (what --config %s reads)", cm, key, cfgPath)
	}
	for _, e := range w.Env {
		t.Setenv(e.Name, "test-"+strings.ToLower(e.Name))
	}
	cfg, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatalf("ConfigMap %s %s, with the container's environment: %v", cm, key, err)
	}
	return cfg
}

// TestKubernetesStatefulSet checks the sidecar's invariants.
func TestKubernetesStatefulSet(t *testing.T) {
	m := readManifest(t)
	w := m.walship
	pod := m.sts.Spec.Template.Spec
	cfg := walshipConfig(t, m)

	// The WAL: read only for walship, written by the database.
	walVol, _, ro, ok := mountOf(w, cfg.Source.WAL)
	if !ok || !ro {
		t.Errorf("source.wal %s: want it on a readOnly: true mount of the walship container (ok %v, readOnly %v)", cfg.Source.WAL, ok, ro)
	}
	shared := false
	for _, c := range m.others {
		for _, vm := range c.VolumeMounts {
			shared = shared || vm.Name == walVol && !vm.ReadOnly
		}
	}
	if !shared {
		t.Errorf("the WAL's volume %q is not written by another container", walVol)
	}
	for _, vm := range w.VolumeMounts {
		if vm.Name == walVol && !vm.ReadOnly {
			t.Errorf("walship mounts the WAL's volume %q writable at %s", walVol, vm.MountPath)
		}
	}

	// The state: its own persistent volume, a directory of it.
	stateVol, stateMount, ro, ok := mountOf(w, cfg.State)
	switch {
	case !ok || ro:
		t.Errorf("state %s: want it on a writable mount of the walship container", cfg.State)
	case stateVol == walVol:
		t.Errorf("state %s is on the WAL's volume", cfg.State)
	case path.Clean(cfg.State) == path.Clean(stateMount):
		t.Errorf("state %s is the root of its volume: walship makes it 0700, which the root of a volume refuses; use a directory in it", cfg.State)
	}
	persistent := false
	for _, vct := range m.sts.Spec.VolumeClaimTemplates {
		persistent = persistent || vct.Metadata.Name == stateVol
	}
	if !persistent {
		t.Errorf("state volume %q is not a volumeClaimTemplate: a new state dir refuses a store prefix that holds a backup", stateVol)
	}

	// Security.
	sc, psc := w.SecurityContext, pod.SecurityContext
	if sc == nil {
		t.Fatal("the walship container has no securityContext")
	}
	nonRoot := sc.RunAsNonRoot != nil && *sc.RunAsNonRoot || sc.RunAsNonRoot == nil && psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	if !nonRoot {
		t.Error("walship: runAsNonRoot is not true")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("walship: readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("walship: allowPrivilegeEscalation is not false")
	}
	for _, k := range []string{"cpu", "memory"} {
		if w.Resources.Requests[k] == "" || w.Resources.Limits[k] == "" {
			t.Errorf("walship: resources.requests and .limits need %s", k)
		}
	}

	// Probes and scraping, on the port the agent serves.
	host, portText, err := net.SplitHostPort(cfg.Metrics.Addr)
	if err != nil {
		t.Fatalf("metrics.addr %q: %v", cfg.Metrics.Addr, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		t.Errorf("metrics.addr %s: the kubelet and Prometheus cannot reach a loopback address", cfg.Metrics.Addr)
	}
	port, _ := strconv.Atoi(portText)
	for name, p := range map[string]*probe{"livenessProbe": w.LivenessProbe, "readinessProbe": w.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path == "" {
			t.Errorf("walship: no httpGet %s", name)
			continue
		}
		if n, ok := portNumber(w, p.HTTPGet.Port); !ok || n != port {
			t.Errorf("walship %s: port %q is %d, the agent serves on %d", name, p.HTTPGet.Port.Value, n, port)
		}
	}
	ann := m.sts.Spec.Template.Metadata.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != portText || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("pod annotations %v: want prometheus.io/scrape true, port %s, path /metrics", ann, portText)
	}

	// Secrets come from the Secret, by env.
	fromSecret := 0
	for _, e := range w.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		fromSecret++
		ref := e.ValueFrom.SecretKeyRef
		_, inString := m.secret.StringData[ref.Key]
		_, inData := m.secret.Data[ref.Key]
		if ref.Name != m.secret.Metadata.Name || !inString && !inData {
			t.Errorf("env %s: secret %s key %s is not in the Secret %s", e.Name, ref.Name, ref.Key, m.secret.Metadata.Name)
		}
	}
	if fromSecret == 0 {
		t.Error("walship takes no env from the Secret: store credentials belong there")
	}
	for _, s := range cfg.Stores {
		if _, err := storeurl.Parse(s.URL); err != nil {
			t.Errorf("store %s: %v", s.Name, err)
		}
		if strings.Contains(s.URL, "@") {
			t.Errorf("store %s: credentials in the URL; they come from the environment", s.Name)
		}
	}

	// Stopping: the pod's grace period covers the agent's drain.
	drain := 30 * time.Second
	if v, ok := flagValue(w.Args, "drain-timeout"); ok {
		if drain, err = time.ParseDuration(v); err != nil {
			t.Fatalf("--drain-timeout %q: %v", v, err)
		}
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second < drain+15*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v: want at least the drain timeout %v plus 15s", g, drain)
	}
}

// k8sHTTPPaths is every path the manifest GETs from the agent: its probes
// and the scrape path.
func k8sHTTPPaths(t *testing.T) []string {
	t.Helper()
	m := readManifest(t)
	w := m.walship
	var out []string
	for _, p := range []*probe{w.LivenessProbe, w.ReadinessProbe, w.StartupProbe} {
		if p != nil && p.HTTPGet != nil {
			out = append(out, p.HTTPGet.Path)
		}
	}
	if p := m.sts.Spec.Template.Metadata.Annotations["prometheus.io/path"]; p != "" {
		out = append(out, p)
	}
	if len(out) < 3 {
		t.Fatalf("%s GETs %q from the agent: want liveness, readiness and scrape paths", statefulSet, out)
	}
	return out
}
