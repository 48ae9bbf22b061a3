package azure

// SkipStat drops the existence check before a staged upload so a test sees
// the service refuse the conditional commit.
func SkipStat(s *Store) { s.skipStat = true }
