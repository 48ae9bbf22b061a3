package storeurl

import (
	"net/url"
	"strings"
)

// safeOptions are query keys whose values are never secret.
var safeOptions = map[string]bool{
	"endpoint": true, "region": true, "part_size": true, "concurrency": true, "sse": true,
	"kms_key_id": true, "storage_class": true, "tls": true, "tier": true, "block_size": true,
	"chunk_size": true,
}

// Redact returns rawURL safe for logs: user information is dropped, the
// values of unknown query options (SAS tokens, signatures) are replaced by
// REDACTED, and an endpoint option is redacted in turn. A URL that cannot be
// parsed is reduced to its scheme.
func Redact(rawURL string) string {
	raw := strings.TrimSpace(rawURL)
	if !strings.Contains(raw, "://") {
		return raw // a plain path
	}
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.Index(raw, "://"); i > 0 && i < 16 {
			return raw[:i] + "://(unparsable URL)"
		}
		return "(unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = "REDACTED"
		} else {
			for k, vs := range q {
				for i := range vs {
					switch {
					case k == "endpoint":
						vs[i] = Redact(vs[i])
					case !safeOptions[k]:
						vs[i] = "REDACTED"
					}
				}
			}
			// Keep endpoints readable: ':' and '/' need no escaping in a query.
			u.RawQuery = strings.NewReplacer("%3A", ":", "%2F", "/", "%40", "@").Replace(q.Encode())
		}
	}
	u.Fragment = ""
	return u.String()
}
