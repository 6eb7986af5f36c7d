package check

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestCellPairShowsWhereValuesDiffer(t *testing.T) {
	long := strings.Repeat("a", 50)
	cases := []struct {
		name             string
		old, new         string
		wantOld, wantNew string
	}{
		{name: "short values are printed whole", old: "self.size > 0", new: "self.size > 1",
			wantOld: "self.size > 0", wantNew: "self.size > 1"},
		{name: "an empty value is a dash", old: "", new: long + "x",
			wantOld: "-", wantNew: strings.Repeat("a", 39) + "…"},
		{name: "values that differ early are cut at the end", old: "x" + long, new: "y" + long,
			wantOld: "x" + strings.Repeat("a", 38) + "…", wantNew: "y" + strings.Repeat("a", 38) + "…"},
		{name: "values that differ in the middle are cut on both sides",
			old: long + "1" + long, new: long + "2" + long,
			wantOld: "…" + strings.Repeat("a", 8) + "1" + strings.Repeat("a", 29) + "…",
			wantNew: "…" + strings.Repeat("a", 8) + "2" + strings.Repeat("a", 29) + "…"},
		{name: "values that differ at the end keep their end", old: long + " <= 10", new: long + " <= 20",
			wantOld: "…aaaa <= 10", wantNew: "…aaaa <= 20"},
		{name: "a value that is a prefix of the other shows its end", old: long, new: long + " && more",
			wantOld: "…aaaaaaaa", wantNew: "…aaaaaaaa && more"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, n := cellPair(tc.old, tc.new, maxCell)
			assert.Equal(t, tc.wantOld, o)
			assert.Equal(t, tc.wantNew, n)
			assert.LessOrEqual(t, utf8.RuneCountInString(o), maxCell)
			assert.LessOrEqual(t, utf8.RuneCountInString(n), maxCell)
			if tc.old != tc.new {
				assert.NotEqual(t, o, n, "different values must print differently")
			}
		})
	}
}
