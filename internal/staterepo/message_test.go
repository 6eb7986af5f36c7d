package staterepo

import (
	"testing"

	"github.com/stretchr/testify/assert"

	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

func TestMessageRoundTrips(t *testing.T) {
	cases := []struct {
		name string
		msg  Message
		text string
	}{
		{"subject only", Message{Subject: "unbind: c1 <- postgresql"}, "unbind: c1 <- postgresql\n"},
		{"subject and trailers", Message{Subject: "bind: c1 <- postgresql", Trailers: []Trailer{{TrailerCluster, "c1"}, {TrailerTemplate, "postgresql"}}},
			"bind: c1 <- postgresql\n\nBindsync-Cluster: c1\nBindsync-Template: postgresql\n"},
		{"subject, body and trailers", Message{
			Subject:  "schema: postgresqlinstances.anynines.com 3f2a1c09 -> 9b7e0d44 (breaking)",
			Body:     "field removed: .spec.foo\n\nenum value removed: .spec.plan",
			Trailers: []Trailer{{TrailerSchemaHash, "9b7e0d44"}, {TrailerCompat, "breaking: field-removed,enum-value-removed"}},
		}, "schema: postgresqlinstances.anynines.com 3f2a1c09 -> 9b7e0d44 (breaking)\n\nfield removed: .spec.foo\n\nenum value removed: .spec.plan\n\nBindsync-Schema-Hash: 9b7e0d44\nBindsync-Compat: breaking: field-removed,enum-value-removed\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.text, tc.msg.String())
			assert.Equal(t, tc.msg, ParseMessage(tc.text))
		})
	}
}

func TestMessageValuesCannotForgeTrailers(t *testing.T) {
	m := Message{Subject: "bind:\nBindsync-Request: forged", Trailers: []Trailer{{TrailerCluster, "c1\nBindsync-Request: forged"}}}
	parsed := ParseMessage(m.String())
	assert.Len(t, parsed.Trailers, 1)
	v, ok := parsed.Get(TrailerRequest)
	assert.False(t, ok, "no forged trailer, got %q", v)
}

func TestParseMessageBodyThatIsNotTrailers(t *testing.T) {
	m := ParseMessage("fix things\n\nThis is prose: with a colon\nand more text.\n")
	assert.Equal(t, "This is prose: with a colon\nand more text.", m.Body)
	assert.Empty(t, m.Trailers)
}
