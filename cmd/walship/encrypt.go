package main

import (
	"log/slog"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/config"
	"github.com/walship/walship/crypt"
)

// encryptStores gives each store the recipients the config resolved for
// it (checked when it was loaded): a store of the config its own, a store
// given on the command line the top-level encryption's. It logs which
// stores get encrypted segments, by recipient fingerprint.
func encryptStores(stores []agent.Store, cfg *config.Config, log *slog.Logger) {
	resolveRecipients(stores, cfg)
	for i := range stores {
		if rs := stores[i].Recipients; len(rs) > 0 {
			log.Info("store gets encrypted segments", "store", stores[i].Name, "recipients", crypt.Fingerprints(rs))
		}
	}
}

// resolveRecipients sets each store's recipients from the config, as
// encryptStores does, without logging.
func resolveRecipients(stores []agent.Store, cfg *config.Config) {
	byName := map[string]config.Store{}
	for _, s := range cfg.Stores {
		byName[s.Name] = s
	}
	for i := range stores {
		if s, ok := byName[stores[i].Name]; ok {
			stores[i].Recipients = s.Recipients()
		} else {
			stores[i].Recipients = cfg.DefaultRecipients()
		}
	}
}

// sealTo answers pitr.PointOptions.SealTo from the stores' recipients.
func sealTo(stores []agent.Store) func(multi.Member) []*crypt.Recipient {
	return func(m multi.Member) []*crypt.Recipient {
		for _, s := range stores {
			if s.Store == m.Store {
				return s.Recipients
			}
		}
		return nil
	}
}
