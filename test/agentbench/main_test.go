package agentbench

import (
	"os"
	"testing"

	"github.com/bindsync/bindsync/internal/testenv"
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // defines -update for go test ./... -update
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
