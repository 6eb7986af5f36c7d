package git

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckURLRefusesCredentials(t *testing.T) {
	cases := []struct {
		name, url string
		refused   bool
	}{
		{"https without user info", "https://git.example.com/state.git", false},
		{"https with user and password", "https://bindsync:s3cret@git.example.com/state.git", true},
		{"https with a token as the user", "https://s3cret@git.example.com/state.git", true},
		{"http with user and password", "http://bindsync:s3cret@127.0.0.1:8080/state.git", true},
		{"ssh with a user", "ssh://git@git.example.com/state.git", false},
		{"ssh with a password", "ssh://git:s3cret@git.example.com/state.git", true},
		{"file", "file:///srv/state.git", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckURL(tc.url)
			if !tc.refused {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrURLCredentials))
			assert.NotContains(t, err.Error(), "s3cret")
			assert.Contains(t, err.Error(), "remote URL")
		})
	}
}

func TestOpenRefusesAURLWithCredentials(t *testing.T) {
	o := Options{URL: "https://bindsync:s3cret@git.example.com/state.git", Dir: t.TempDir()}
	err := o.Validate()
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrURLCredentials))
	assert.True(t, errors.Is(err, ErrInvalidOptions))
	assert.NotContains(t, err.Error(), "s3cret")
	assert.Contains(t, err.Error(), "https://git.example.com/state.git")
}

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"https://bindsync:s3cret@git.example.com/state.git": "https://git.example.com/state.git",
		"https://s3cret@git.example.com/state.git":          "https://git.example.com/state.git",
		"ssh://git:s3cret@git.example.com/state.git":        "ssh://git:redacted@git.example.com/state.git",
		"ssh://git@git.example.com/state.git":               "ssh://git@git.example.com/state.git",
		"file:///srv/state.git":                             "file:///srv/state.git",
		"https://user:s3cret@host/%zz":                      "https://redacted@host/%zz",
	}
	for in, want := range cases {
		assert.Equal(t, want, RedactURL(in), in)
	}
}
