package version

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"

	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

func TestInfoSaysWhichBuildThisIs(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	for _, tc := range []struct {
		name      string
		ldVersion string
		ldCommit  string
		build     *debug.BuildInfo
		want      Info
	}{{
		name:      "the Makefile's version and commit win",
		ldVersion: "v0.2.0-3-gabcdef0-dirty",
		ldCommit:  "abcdef0fedcba987",
		build:     &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("abcdef0123456789", "true")},
		want:      Info{Version: "v0.2.0-3-gabcdef0-dirty", Commit: "abcdef0fedcba987", GoVersion: "go1.26.8", Platform: platform},
	}, {
		name:      "a Makefile build with -buildvcs=false",
		ldVersion: "v0.2.0",
		ldCommit:  "abcdef0fedcba987",
		build:     &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
		want:      Info{Version: "v0.2.0", Commit: "abcdef0fedcba987", GoVersion: "go1.26.8", Platform: platform},
	}, {
		name:  "go install records the module version",
		build: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.2.0"}},
		want:  Info{Version: "v0.2.0", Commit: "unknown", GoVersion: "go1.26.8", Platform: platform},
	}, {
		name:  "a plain go build in a checkout with changes",
		build: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("abcdef0123456789", "true")},
		want:  Info{Version: "devel", Commit: "abcdef0123456789-dirty", GoVersion: "go1.26.8", Platform: platform},
	}, {
		name: "no build information at all",
		want: Info{Version: "devel", Commit: "unknown", GoVersion: runtime.Version(), Platform: platform},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, info(tc.ldVersion, tc.ldCommit, tc.build))
		})
	}
}
