package compat

import (
	"bytes"
	"encoding/json"
)

// canonicalJSON returns a canonical form of a raw JSON value, so that
// values differing only in whitespace or object key order compare equal.
// Raw bytes that are not JSON are returned as they are.
func canonicalJSON(raw []byte) string {
	trimmed := bytes.TrimSpace(raw)
	if simpleJSON(trimmed) {
		return string(trimmed)
	}
	var v any
	if err := json.Unmarshal(trimmed, &v); err != nil {
		return string(trimmed)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return string(trimmed)
	}
	return string(out)
}

// simpleJSON reports whether raw is a value whose bytes are already
// canonical: a string without escapes, or a plain literal or integer.
func simpleJSON(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	if raw[0] == '"' {
		return len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 &&
			bytes.IndexByte(raw[1:len(raw)-1], '"') < 0 && asciiPrintable(raw)
	}
	switch string(raw) {
	case "true", "false", "null":
		return true
	}
	for i, b := range raw {
		if !(b >= '0' && b <= '9') && !(i == 0 && b == '-' && len(raw) > 1) {
			return false
		}
	}
	return !(raw[0] == '0' && len(raw) > 1) && !(len(raw) > 2 && raw[0] == '-' && raw[1] == '0')
}

func asciiPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
