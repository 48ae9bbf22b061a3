package faultcheck

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/walship/walship/crypt"
)

// StoreFile is the name of every run's file store (never faulted).
const StoreFile = "file"

// storeNames are the stores of every run: the file store and those
// behind Toxiproxy.
var storeNames = append([]string{StoreFile}, remoteTargets...)

// drawEncryption decides which stores of run run of seed seed the agent
// encrypts, and to which of up to two identities: nil (every store plain)
// in half the runs; otherwise each store is encrypted with probability 1/2,
// and at least one remote store is, so the faults reach an encrypted store.
// Two stores sealed to different identities make the spool hold two
// encrypted copies of each segment. It draws from a stream of its own, so
// adding it left the step lists of earlier seeds as they were.
func drawEncryption(seed int64, run int) map[string]int {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(run)+0xe5c7))
	if rng.IntN(2) != 0 {
		return nil
	}
	keys := 1 + rng.IntN(2)
	enc := map[string]int{}
	for _, s := range storeNames {
		if rng.IntN(2) == 0 {
			enc[s] = rng.IntN(keys)
		}
	}
	if !slices.ContainsFunc(remoteTargets, func(s string) bool { _, ok := enc[s]; return ok }) {
		enc[remoteTargets[rng.IntN(len(remoteTargets))]] = rng.IntN(keys)
	}
	return enc
}

// encryptString is p.Encrypt as "minio:0,gcs:1" in store order, or
// "none".
func (p *Plan) encryptString() string {
	var parts []string
	for _, s := range storeNames {
		if k, ok := p.Encrypt[s]; ok {
			parts = append(parts, fmt.Sprintf("%s:%d", s, k))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// storeKey is how an encrypted store of a run is sealed: the recipient the
// agent's config names (the agent holds nothing else) and the file of the
// identity that opens it, for restore and verify.
type storeKey struct {
	Recipient *crypt.Recipient
	File      string // AGE-SECRET-KEY-1... line, mode 0600
	secret    string // that line: no output may hold it
}

// makeKeys generates the identities p.Encrypt names, writes each to a
// 0600 file under dir, and returns the key of every encrypted store by
// name.
func makeKeys(dir string, p *Plan) (map[string]*storeKey, error) {
	if len(p.Encrypt) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	byNum := map[int]*storeKey{}
	out := map[string]*storeKey{}
	for _, s := range storeNames {
		k, ok := p.Encrypt[s]
		if !ok {
			continue
		}
		if byNum[k] == nil {
			id, err := crypt.GenerateIdentity()
			if err != nil {
				return nil, err
			}
			r, _ := id.Recipient()
			f := filepath.Join(dir, fmt.Sprintf("identity-%d", k))
			if err := os.WriteFile(f, []byte(id.SecretText()+"\n"), 0o600); err != nil {
				return nil, err
			}
			byNum[k] = &storeKey{Recipient: r, File: f, secret: id.SecretText()}
		}
		out[s] = byNum[k]
	}
	return out, nil
}

// identityArgs are the arguments that give walship the store's identity
// (none for a plain store).
func identityArgs(s StoreURL) []string {
	if s.Key == nil {
		return nil
	}
	return []string{"--identity", s.Key.File}
}

// noIdentityText is what crypt.NoIdentityError says: a restore of an
// encrypted store without its identity must fail with it.
const noIdentityText = "no identity given opens"

// checkRefusal restores the encrypted store s with no identity: walship
// must refuse with crypt's no-identity error and write no log entry. held
// says whether the store holds a segment (an empty store is refused for
// having nothing, whatever its keys). It returns what went wrong, and
// whether that is a wrong answer (a log given where none may be).
func checkRefusal(ctx context.Context, bin string, env []string, dir string, s StoreURL, held bool) (bad string, wrong bool) {
	out := filepath.Join(dir, s.Name+"-no-identity")
	defer os.RemoveAll(out)
	code, output, err := runCLI(ctx, bin, env, 90*time.Second, "restore", s.URL, out, "--latest")
	switch {
	case err != nil:
		return "restore without an identity: " + err.Error(), false
	case code == 0:
		return fmt.Sprintf("restore of encrypted store %s without an identity exited 0: %s", s.Name, firstLine(output)), true
	}
	if walFiles, _ := filepath.Glob(filepath.Join(out, "wal", "*")); len(walFiles) > 0 {
		return fmt.Sprintf("restore of encrypted store %s without an identity refused (exit %d) but left %d files in its log dir", s.Name, code, len(walFiles)), true
	}
	if held && !strings.Contains(output, noIdentityText) {
		return fmt.Sprintf("restore of encrypted store %s without an identity: exit %d without naming the missing identity: %s", s.Name, code, firstLine(output)), false
	}
	return "", false
}

// encryptedOutcome is what the checks of one encrypted store found.
type encryptedOutcome struct {
	sealed  sealedReport
	refusal string // a restore without the identity that did not refuse as it must
	wrong   bool   // refusal is a wrong answer (a log where none may be)
	err     error  // the store could not be read
}

// checkEncrypted checks an encrypted store after its restores: everything
// it holds is sealed to its recipient (checkSealed), and a restore without
// an identity is refused (checkRefusal).
func (r *run) checkEncrypted(ctx context.Context, s StoreURL) (o encryptedOutcome) {
	or, err := r.objects(s)
	if err == nil {
		o.sealed, err = checkSealed(ctx, or, []crypt.Fingerprint{s.Key.Recipient.Fingerprint()})
	}
	if err != nil {
		o.err = fmt.Errorf("read encrypted store %s: %w", s.Name, err)
	}
	o.refusal, o.wrong = checkRefusal(ctx, r.c.bin, r.c.childEnv, filepath.Join(r.dir, "restore"), s, o.sealed.Segments > 0)
	return o
}

// addEncrypted counts an encrypted store's checks in the run's result and
// turns what they found into failures.
func (res *RunResult) addEncrypted(s StoreURL, o encryptedOutcome) {
	res.EncryptedStores++
	res.SealedObjects += o.sealed.Objects
	if o.err != nil {
		res.Failures = append(res.Failures, o.err.Error())
	}
	for _, b := range o.sealed.Bad {
		res.Failures = append(res.Failures, fmt.Sprintf("encrypted store %s: %s", s.Name, b))
	}
	switch {
	case o.refusal == "":
		res.NoIdentityRefused++
	case o.wrong:
		res.Wrong++
		res.Failures = append(res.Failures, "WRONG ANSWER: "+o.refusal)
	default:
		res.Failures = append(res.Failures, o.refusal)
	}
}
