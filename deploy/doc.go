// Package deploy holds the files that run walship in production, and the
// tests that keep them true to the code:
//
//	systemd/walship@.service   one agent per database log; walship@NAME reads /etc/walship/NAME.yml
//	systemd/example.yml        a config for that unit
//	kubernetes/statefulset.yaml walship as a sidecar of a database StatefulSet
//	prometheus/alerts.yml      alert rules on the agent's metrics
//	grafana/walship.json       a dashboard of the same metrics
//
// The package has no code of its own. Its tests build the walship binary,
// check the unit with systemd-analyze, parse every config the files embed
// with package config, and run a real agent with the unit's command line:
// every metric an alert rule or a dashboard panel names must be one the
// agent exports, and every path a probe asks for must be one it serves.
package deploy
