// Package faultcheck is a seeded, randomized fault-injection checker of
// walship's exactness. Each run writes a tidwall/wal log in this process
// (the database, source.go) while `walship replicate` runs as another
// process (agentproc.go) shipping it to a file store that is never faulted
// and to MinIO and Azurite reached through Toxiproxy (faults.go). A plan
// drawn from (seed, run) alone (plan.go) appends, truncates, idles, stops
// and SIGKILLs the agent, adds toxics, SIGSTOPs and SIGKILLs MinIO and
// fills the state dir's tmpfs. At the end the agent drains and stops, and
// every store alone is restored with the CLI and compared byte for byte
// with the model of the source's history (oracle.go); report.go adds up.
//
// The same seed gives the same plan; what the faults do to timing may
// differ from one run to the next.
package faultcheck
