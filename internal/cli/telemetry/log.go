package telemetry

import (
	"fmt"
	"io"
	"strconv"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Log formats of --log-format.
const (
	// FormatJSON writes one JSON object a line, for log collectors.
	FormatJSON = "json"
	// FormatConsole writes tab-separated text, for people.
	FormatConsole = "console"
)

// LogFlags are --log-level and --log-format.
type LogFlags struct {
	// Level is debug, info, error, or a positive number: the logr
	// verbosity to log up to (1 is debug, 2 and more say more).
	Level string
	// Format is FormatJSON or FormatConsole.
	Format string
}

// AddFlags adds --log-level and --log-format to fl, with their defaults
// (info, json).
func (f *LogFlags) AddFlags(fl *pflag.FlagSet) {
	fl.StringVar(&f.Level, "log-level", "info", "how much to log: debug, info, error, or a positive number for more detail than debug (2, 3, ...)")
	fl.StringVar(&f.Format, "log-format", FormatJSON, "log format: json (one object a line, for log collectors) or console (for people)")
}

// Logger returns controller-runtime's zap logger writing to w in the
// flags' format and level, with RFC 3339 timestamps, or an error naming
// the flag when a value is not one of those it takes. Stack traces are
// printed for panics only: an error the component expects (a lease it
// cannot take yet, a remote that is away) is one line, not thirty.
func (f LogFlags) Logger(w io.Writer) (logr.Logger, error) {
	level, err := parseLevel(f.Level)
	if err != nil {
		return logr.Discard(), err
	}
	opts := []zap.Opts{zap.WriteTo(w), zap.Level(level), zap.StacktraceLevel(zapcore.PanicLevel)}
	switch f.Format {
	case FormatJSON:
		opts = append(opts, zap.JSONEncoder(rfc3339))
	case FormatConsole:
		opts = append(opts, zap.ConsoleEncoder(rfc3339))
	default:
		return logr.Discard(), fmt.Errorf("--log-format %q: want %s or %s", f.Format, FormatJSON, FormatConsole)
	}
	return zap.New(opts...), nil
}

// rfc3339 writes timestamps in RFC 3339 (2026-12-06T05:11:42Z): an
// encoder given as an option keeps zap's epoch seconds otherwise.
func rfc3339(c *zapcore.EncoderConfig) { c.EncodeTime = zapcore.RFC3339TimeEncoder }

// parseLevel turns --log-level into zap's level: logr's V(n) is zap's -n.
func parseLevel(s string) (zapcore.Level, error) {
	switch s {
	case "debug":
		return zapcore.DebugLevel, nil
	case "info":
		return zapcore.InfoLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 127 {
		return 0, fmt.Errorf("--log-level %q: want debug, info, error or a positive number (more detail as it grows)", s)
	}
	return zapcore.Level(-n), nil
}
