package staterepo

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestShortHash(t *testing.T) {
	const h = "0123456789abcdef0123456789abcdef01234567"
	assert.Equal(t, "0123456789ab", ShortHash(h, ShortDigits), "statuses, logs and errors show 12 digits")
	assert.Equal(t, "01234567", ShortHash(h, SchemaDigits), "schema branch names keep 8")
	assert.Equal(t, "abc", ShortHash("abc", ShortDigits), "a shorter hash is shown whole")
	assert.Equal(t, "", ShortHash("", ShortDigits))
	assert.Equal(t, "bindsync/schema/widgets.example.com/01234567", SchemaBranch("widgets.example.com", h))
	assert.Equal(t, "bindsync/approve/c1/x.lock_", ApproveBranch("c1", "x.lock"), "git refuses a component ending in .lock")
}
