package telemetry_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/cli/telemetry"
	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

// TestLogFlagsChooseFormatAndLevel: --log-format json writes one JSON
// object a line with an RFC 3339 "ts", console writes text starting with
// one; --log-level keeps the lines up to its verbosity.
func TestLogFlagsChooseFormatAndLevel(t *testing.T) {
	for _, tc := range []struct {
		name, level, format string
		want                []string // messages written, of "error", "info", "debug", "v2"
	}{
		{"the defaults log info and errors as JSON", "info", "json", []string{"error", "info"}},
		{"error keeps errors only", "error", "json", []string{"error"}},
		{"debug adds V(1)", "debug", "console", []string{"error", "info", "debug"}},
		{"a number adds up to that V", "2", "console", []string{"error", "info", "debug", "v2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			log, err := telemetry.LogFlags{Level: tc.level, Format: tc.format}.Logger(&out)
			require.NoError(t, err)
			log.Error(nil, "error")
			log.Info("info", "key", "value")
			log.V(1).Info("debug")
			log.V(2).Info("v2")
			log.V(3).Info("v3")
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var ts, msg string
				if tc.format == "json" {
					var rec map[string]any
					require.NoError(t, json.Unmarshal([]byte(line), &rec), "one JSON object a line: %s", line)
					ts, _ = rec["ts"].(string)
					msg, _ = rec["msg"].(string)
				} else {
					fields := strings.Split(line, "\t")
					require.GreaterOrEqual(t, len(fields), 3, "console: time, level, message: %q", line)
					ts, msg = fields[0], fields[2]
				}
				_, err := time.Parse(time.RFC3339, ts)
				assert.NoError(t, err, "RFC 3339 timestamp in %q", line)
				got = append(got, msg)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestLogFlagsRefuseBadValues: a value the flags do not take is an error
// naming the flag and the values it takes.
func TestLogFlagsRefuseBadValues(t *testing.T) {
	for _, tc := range []struct{ level, format, want string }{
		{"loud", "json", `--log-level "loud": want debug, info, error or a positive number`},
		{"0", "json", `--log-level "0"`},
		{"-1", "json", `--log-level "-1"`},
		{"info", "text", `--log-format "text": want json or console`},
	} {
		_, err := telemetry.LogFlags{Level: tc.level, Format: tc.format}.Logger(&bytes.Buffer{})
		require.Error(t, err, tc)
		assert.Contains(t, err.Error(), tc.want)
	}
}
