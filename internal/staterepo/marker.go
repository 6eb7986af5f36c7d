package staterepo

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// MarkerPath is the file that makes a folder a bindsync state repository.
// Every rendered tree holds it, so the first render writes it, the backend
// commits it with the rest and `bindsync render --check` compares it. Tools
// that write a state repository own README.md and clusters/ only in a folder
// that holds this file (see internal/statedir).
const MarkerPath = ".bindsync.yaml"

// StateFormat is the layout version of the state repository this bindsync
// writes. A marker with a higher format was written by a newer bindsync,
// whose files this one must not rewrite.
const StateFormat = 1

// marker is the content of MarkerPath.
var marker = []byte(fmt.Sprintf(`# This folder is a bindsync state repository. bindsync owns this file,
# README.md and everything under clusters/, and leaves every other file alone.
format: %d
`, StateFormat))

// Marker returns the bytes of the marker file. Treat them as read-only.
func Marker() []byte { return marker }

// MarkerFormat returns the state format a marker file declares.
func MarkerFormat(b []byte) (int, error) {
	var m struct {
		Format int `json:"format"`
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return 0, fmt.Errorf("%s does not parse: %w", MarkerPath, err)
	}
	if m.Format < 1 {
		return 0, fmt.Errorf("%s has no format version (want format: %d)", MarkerPath, StateFormat)
	}
	return m.Format, nil
}
