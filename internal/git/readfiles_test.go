package git

import "fmt"

// ReadFilesAt is ReadFileSetAt read whole into path -> content, for tests.
// Paths that share a blob share one byte slice; callers must not modify it.
func ReadFilesAt(repoDir, rev string, match func(path string) bool) (map[string][]byte, error) {
	set, err := ReadFileSetAt(repoDir, rev, match)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(set.Paths))
	for path, id := range set.Paths {
		b, err := set.Blob(id)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		out[path] = b
	}
	return out, nil
}
