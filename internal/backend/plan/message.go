package plan

import "github.com/bindsync/bindsync/internal/staterepo"

// short shows a schema hash in a commit subject or message, "none" when
// there is none.
func short(hash string) string {
	if hash == "" {
		return "none"
	}
	return staterepo.ShortHash(hash, staterepo.SchemaDigits)
}
