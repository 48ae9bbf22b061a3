// Package faultcheck is a seeded, randomized fault-injection checker of
// walship's exactness. Each run writes a tidwall/wal log in this process
// (the database, source.go) while `walship replicate` runs as another
// process (agentproc.go) shipping it to a file store that is never faulted
// and to MinIO, Azurite and Google Cloud Storage (a fake-gcs-server of the
// checker's own, gcs.go), each reached through a Toxiproxy proxy of its
// own (faults.go). A plan drawn from (seed, run) alone (plan.go) appends,
// truncates, idles, stops and SIGKILLs the agent, adds toxics (each on one
// of the three remote stores), SIGSTOPs and SIGKILLs MinIO, SIGSTOPs
// fake-gcs-server and fills the state dir's tmpfs. Half the plans encrypt
// some stores, each to one of up to two age identities made for the run
// (encrypt.go): the agent's config names only their recipients (and, in
// odd runs with compaction, the first encrypted store's identity as
// compaction.identity_file, so the agent merges those stores' segments:
// Plan.CompactEncrypted), and every fault reaches them as it reaches plain
// stores. At the end the agent
// drains and stops, and every store alone is restored with the CLI (an
// encrypted one with its identity) and compared byte for byte with the
// model of the source's history (oracle.go). An encrypted store is also
// read straight from its server, without a key: every segment, base chunk,
// timeline record and base manifest must be version 2 sealed to its
// recipient alone (sealed.go); and a restore of it without an identity
// must be refused with crypt's no-identity error, writing no log.
// report.go adds up, per store too: toxics, calls the agent's deadlines
// cut (from its log), runs a store had not caught up in, entries compared.
//
// A third of the drawn plans give the agent a call deadline of 1 to 3 s
// (Plan.CallTimeout), which their hangs may outlast among kills and other
// faults; the rest keep the default (30 s), which no drawn fault
// outlasts. Minimal plans (minimal_test.go) replay findings and
// fixed scenarios; one hangs an encrypted GCS store past a 2 s deadline (a
// timeout toxic, then fake-gcs-server SIGSTOPped across a kill and restart
// of the agent): the deadline must cut its calls, the file store stay
// fresh, and GCS catch up and restore byte for byte.
//
// The same seed gives the same plan; what the faults do to timing may
// differ from one run to the next.
package faultcheck
