package staterepo

import (
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRevisionFormatsAndParses(t *testing.T) {
	h := plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")
	cases := []struct {
		name string
		rev  Revision
		text string
	}{
		{"main", Revision{"main", h}, "main@sha1:0123456789abcdef0123456789abcdef01234567"},
		{"an approval branch", Revision{"bindsync/approve/c1/pg", h}, "bindsync/approve/c1/pg@sha1:0123456789abcdef0123456789abcdef01234567"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.text, tc.rev.String())
			assert.True(t, strings.HasPrefix(tc.text, tc.rev.Prefix()), "Prefix is what every revision on the branch starts with")
			got, err := ParseRevision(tc.text)
			require.NoError(t, err)
			assert.Equal(t, tc.rev, got)
		})
	}
}

func TestParseRevisionRefusesMalformed(t *testing.T) {
	for name, s := range map[string]string{
		"no hash":         "main",
		"short hash":      "main@sha1:0123abcd",
		"no branch":       "@sha1:0123456789abcdef0123456789abcdef01234567",
		"not hex":         "main@sha1:z123456789abcdef0123456789abcdef01234567",
		"bad branch name": "ma..in@sha1:0123456789abcdef0123456789abcdef01234567",
		"other hash kind": "main@sha256:0123456789abcdef0123456789abcdef01234567",
		"space in a name": "my branch@sha1:0123456789abcdef0123456789abcdef01234567",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseRevision(s)
			assert.ErrorIs(t, err, ErrInvalidRevision)
			assert.Contains(t, err.Error(), s)
		})
	}
}
