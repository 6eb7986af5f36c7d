package statedir

import "fmt"

// String names o in test failures.
func (o Ownership) String() string {
	switch o {
	case Unclaimed:
		return "unclaimed"
	case Marked:
		return "marked"
	case Legacy:
		return "legacy"
	case Foreign:
		return "foreign"
	}
	return fmt.Sprintf("Ownership(%d)", int(o))
}
