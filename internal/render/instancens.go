package render

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// InstanceNamespacePrefix starts every control-plane namespace that holds
// provider copies. No cluster namespace (bindsync-<cluster>) starts with it,
// so the two kinds never meet.
const InstanceNamespacePrefix = "bsi-"

// instanceHashLen is how many hex digits of the hash end an instance
// namespace's name (40 bits).
const instanceHashLen = 10

// InstanceNamespace is the control-plane namespace of app namespace ns of
// cluster: "bsi-<cluster>-<ns>-<hash>", where hash is the first 10 hex
// digits of sha256(cluster "/" ns) and the readable part is cut to keep the
// name within 63 characters. The readable part is for people; the hash makes
// it unambiguous (clusters a-b and a with namespaces c and b-c give two
// names), and the renderer refuses the rare collision of two pairs on one
// name. The name is always a valid DNS-1123 label for valid inputs.
func InstanceNamespace(cluster, ns string) string {
	sum := sha256.Sum256([]byte(cluster + "/" + ns))
	h := hex.EncodeToString(sum[:])[:instanceHashLen]
	readable := cluster + "-" + ns
	if max := 63 - len(InstanceNamespacePrefix) - 1 - instanceHashLen; len(readable) > max {
		readable = strings.TrimRight(readable[:max], "-")
	}
	return InstanceNamespacePrefix + readable + "-" + h
}
