package staterepo

// Digits of a hash bindsync shows to people.
const (
	// ShortDigits is how much of a commit or schema hash statuses, logs,
	// CLI output and errors show.
	ShortDigits = 12
	// SchemaDigits is how much of a schema hash a schema branch's name
	// (SchemaBranch) and the backend's schema commit subjects and messages
	// show. Branch names are a contract: it stays 8.
	SchemaDigits = 8
)

// ShortHash returns the first digits hex digits of hash, or hash whole
// when it is shorter.
func ShortHash(hash string, digits int) string {
	if len(hash) > digits {
		return hash[:digits]
	}
	return hash
}
