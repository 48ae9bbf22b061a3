package main

import (
	"fmt"
	"strings"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/backends/storeurl"
	"github.com/walship/walship/compact"
	"github.com/walship/walship/config"
	"github.com/walship/walship/crypt"
)

// checkCompaction says which encrypted stores the agent's compaction will
// merge: with compaction.identity_file, those whose recipients that
// identity opens; without it, none. A file that cannot be used, or that
// opens no encrypted store's recipients, fails the row.
func checkCompaction(rep *checkReport, cfg *config.Config, targets []storeTarget) {
	if !cfg.Compaction.On() {
		return
	}
	stores := make([]agent.Store, len(targets))
	for i, tg := range targets {
		stores[i].Name = tg.name
	}
	resolveRecipients(stores, cfg) // as replicate does
	var encrypted []string
	recipients := map[string][]*crypt.Recipient{}
	for i, tg := range targets {
		if rs := stores[i].Recipients; len(rs) > 0 {
			name := storeLabel(tg, storeurl.Redact(tg.url))
			encrypted = append(encrypted, name)
			recipients[name] = rs
		}
	}
	path := cfg.Compaction.IdentityFile
	if path == "" {
		if len(encrypted) > 0 {
			rep.ok("compaction", "encrypted stores", fmt.Sprintf("not compacted by the agent, which holds no identity: %s (set compaction.identity_file, or run walship compact --identity)", strings.Join(encrypted, ", ")))
		}
		return
	}
	ids, err := crypt.ReadIdentityFile(path)
	if err != nil {
		rep.fail("compaction", "identity file", "compaction.identity_file: "+err.Error())
		return
	}
	var opened, closed []string
	for _, name := range encrypted {
		o := compact.Options{Identities: ids, Recipients: recipients[name]}
		if o.Validate() == nil {
			opened = append(opened, name)
		} else {
			closed = append(closed, name)
		}
	}
	switch {
	case len(encrypted) == 0:
		rep.ok("compaction", "identity file", path+": no store is encrypted, so the identity is not used")
	case len(opened) == 0:
		rep.fail("compaction", "identity file", fmt.Sprintf("%s opens the recipients of no encrypted store (%s): give the identity of one of each store's recipients", path, strings.Join(closed, ", ")))
	case len(closed) > 0:
		rep.ok("compaction", "identity file", fmt.Sprintf("%s: the agent compacts %s; not %s (the identity opens none of their recipients)", path, strings.Join(opened, ", "), strings.Join(closed, ", ")))
	default:
		rep.ok("compaction", "identity file", fmt.Sprintf("%s: the agent compacts every encrypted store (%s)", path, strings.Join(opened, ", ")))
	}
}
