// Package crypt owns walship's client-side encryption: keys, the sealed
// envelope every encrypted object is wrapped in, keyed chunk names, and the
// key record that carries a store's chunk-name secret. It is built on age
// (filippo.io/age) and writes age's format unchanged; it hand-rolls no
// cipher.
//
// # Who holds which key
//
// Objects are sealed to recipients: age X25519 public keys ("age1..."),
// several at once, from the config or a recipients file (ParseRecipients,
// ReadRecipientsFile). The agent holds only these, so a compromised database
// node cannot read its own old backups. Identities ("AGE-SECRET-KEY-1...")
// open objects; only restore, verify of contents, copy and migrate need
// them, and they come from a file of mode 0600 or stricter
// (ReadIdentityFile) or an environment variable (IdentitiesFromEnv,
// WALSHIP_AGE_IDENTITY), never from the config or the command line.
// Passphrase mode (age scrypt: PassphraseFromEnv, ReadPassphraseFile) is
// symmetric, so there the agent holds the secret; scrypt runs once per
// sealed object (about 0.9 s at the default work factor), which suits few,
// large objects.
//
// No printed form of an Identity, a ChunkSecret or a ChunkNamer holds the
// secret: String, every fmt verb, %#v, slog (text and JSON) and JSON show
// a fingerprint or an id, and errors name files and line numbers, never the
// text of a line.
//
// # Fingerprints
//
// A Fingerprint names a recipient: the first 8 bytes of SHA-256 of its
// "age1..." text, shown as 16 hex digits. age's header does not say whom a
// stanza is for, so walship records the fingerprints beside the ciphertext,
// in its own clear header (SealWithFingerprints returns them; OpenRecorded
// takes them back). A reader without a matching identity then fails with a
// *NoIdentityError (ErrNoIdentity) naming the fingerprints it needs; with
// an identity whose fingerprint is recorded, a failure to open is damage
// (ErrAuth). All passphrases share PassphraseFingerprint ("passphrase"):
// anything derived from a passphrase would let a reader of the store test
// guesses.
//
// # What is encrypted, what stays visible
//
// The envelope (Seal, Open) is an age stream: a header with one stanza per
// recipient, then 64 KiB chunks each authenticated by ChaCha20-Poly1305, the
// last one marked. A flipped byte or a cut anywhere fails with ErrAuth
// (which is also ErrCorrupt) rather than yielding a short or altered
// plaintext. Everything inside is hidden; the size of the object (to 64
// KiB chunk granularity plus a few bytes) is not. Outside it stay the object
// keys (timeline, index ranges, times: what restore planning reads from a
// listing) and walship's clear header (format version, recipients'
// fingerprints).
//
// # Chunk names and the key record
//
// A plain store names a snapshot chunk by the SHA-256 of its bytes, which
// tells anyone who can list the store whether it holds a file they can
// guess. An encrypted store names chunks with a ChunkNamer: HMAC-SHA256
// under a key derived from a 32-byte per-store ChunkSecret. The same bytes
// get the same name within a store, so dedup still works; without the
// secret a name says nothing.
//
// The agent has to name chunks yet holds only public keys, so it holds this
// secret in clear: it generates it once, keeps it in its state dir
// (WriteChunkSecretFile: STATE/chunk-secret, 0600, create-only), and writes
// a copy sealed to the store's recipients as a key record
// (EncodeKeyRecord, keys/chunk-secret/ID-SET.wkey, drawn in keyrecord.go).
// A restore or verify, or a second agent taking over with a new state dir,
// reads the record back with an identity (DecodeKeyRecord). A new recipient
// set gets a new record beside the old, never a rewrite. An agent that has
// neither its state file nor an identity makes a new secret: its chunks get
// new names and dedup starts over, but nothing is lost, because manifests
// list their chunks by name (and record the SecretID that named them, so a
// verify knows which secret to check a chunk against). The secret guards
// names only: an agent's state dir that leaks it reveals which chunks are
// equal, never what they hold.
package crypt
