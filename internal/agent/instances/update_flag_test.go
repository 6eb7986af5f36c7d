package instances

import (
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // defines -update for go test ./... -update
)
