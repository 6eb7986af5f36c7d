package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// Canonicalize returns a copy of snap in canonical form (see the package
// doc). Canonical snapshots of the same schema encode to the same bytes. The
// canonical form exists for Hash only: snapshots, exports and CRD files keep
// the provider's order.
func Canonicalize(snap v1alpha1.CRDSnapshot) (v1alpha1.CRDSnapshot, error) {
	out := *snap.DeepCopy()
	out.Names.ShortNames = sortedCopy(out.Names.ShortNames)
	out.Names.Categories = sortedCopy(out.Names.Categories)
	out.DroppedVersions = sortedCopy(out.DroppedVersions)
	sort.Slice(out.Versions, func(i, j int) bool { return out.Versions[i].Name < out.Versions[j].Name })
	for i := range out.Versions {
		// selectableFields is a set: the API server refuses a path listed twice.
		sort.SliceStable(out.Versions[i].SelectableFields, func(a, b int) bool {
			return out.Versions[i].SelectableFields[a].JSONPath < out.Versions[i].SelectableFields[b].JSONPath
		})
		props, err := decodeSchema(out.Versions[i].Schema.Raw)
		if err != nil {
			return snap, fmt.Errorf("canonicalize %s version %s: %w", CRDName(snap), out.Versions[i].Name, err)
		}
		canonicalizeProps(props)
		raw, err := json.Marshal(props)
		if err != nil {
			return snap, fmt.Errorf("canonicalize %s version %s: %w", CRDName(snap), out.Versions[i].Name, err)
		}
		out.Versions[i].Schema = runtime.RawExtension{Raw: raw}
	}
	return out, nil
}

// Hash returns the hex sha256 of snap's canonical form. It is the schema hash
// bindsync writes into exports, annotations and commit trailers.
func Hash(snap v1alpha1.CRDSnapshot) (string, error) {
	canon, err := Canonicalize(snap)
	if err != nil {
		return "", err
	}
	return hashCanonical(canon)
}

// hashCanonical hashes a snapshot already in canonical form.
func hashCanonical(canon v1alpha1.CRDSnapshot) (string, error) {
	b, err := json.Marshal(canon)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", CRDName(canon), err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// canonicalizeProps sorts, in place and through the whole tree, the lists of
// a schema whose order carries no meaning.
func canonicalizeProps(p *apiextensionsv1.JSONSchemaProps) {
	if p == nil {
		return
	}
	sort.Strings(p.Required)
	if p.XPreserveUnknownFields != nil && !*p.XPreserveUnknownFields {
		// false says what leaving it out says.
		p.XPreserveUnknownFields = nil
	}
	for i := range p.Enum {
		canonicalizeJSON(&p.Enum[i])
	}
	canonicalizeJSON(p.Default)
	canonicalizeJSON(p.Example)
	sort.SliceStable(p.Enum, func(i, j int) bool { return bytes.Compare(p.Enum[i].Raw, p.Enum[j].Raw) < 0 })
	sort.SliceStable(p.XValidations, func(i, j int) bool {
		return validationKey(p.XValidations[i]) < validationKey(p.XValidations[j])
	})
	for k, v := range p.Properties {
		canonicalizeProps(&v)
		p.Properties[k] = v
	}
	for k, v := range p.PatternProperties {
		canonicalizeProps(&v)
		p.PatternProperties[k] = v
	}
	for k, v := range p.Definitions {
		canonicalizeProps(&v)
		p.Definitions[k] = v
	}
	for k, v := range p.Dependencies {
		canonicalizeProps(v.Schema)
		p.Dependencies[k] = v
	}
	for _, list := range [][]apiextensionsv1.JSONSchemaProps{p.AllOf, p.AnyOf, p.OneOf} {
		for i := range list {
			canonicalizeProps(&list[i])
		}
	}
	canonicalizeProps(p.Not)
	if p.Items != nil {
		canonicalizeProps(p.Items.Schema)
		for i := range p.Items.JSONSchemas {
			canonicalizeProps(&p.Items.JSONSchemas[i])
		}
	}
	if p.AdditionalProperties != nil {
		canonicalizeProps(p.AdditionalProperties.Schema)
	}
	if p.AdditionalItems != nil {
		canonicalizeProps(p.AdditionalItems.Schema)
	}
}

// validationKey orders CEL rules by every field, so rules that share their
// text but differ in message, reason or field path still sort one way.
func validationKey(v apiextensionsv1.ValidationRule) string {
	reason := ""
	if v.Reason != nil {
		reason = string(*v.Reason)
	}
	opt := ""
	if v.OptionalOldSelf != nil {
		opt = strconv.FormatBool(*v.OptionalOldSelf)
	}
	return strings.Join([]string{v.Rule, v.Message, v.MessageExpression, reason, v.FieldPath, opt}, "\x00")
}

// canonicalizeJSON re-encodes a JSON value (a default, an example, an enum
// value) the way the API server stores it: decoded with integers as int64
// and other numbers as float64, then encoded with sorted object keys and no
// insignificant white space. So 1.0 and 1 are one value, as they are to the
// API server. A value that does not decode is left as it is.
func canonicalizeJSON(v *apiextensionsv1.JSON) {
	if v == nil || len(v.Raw) == 0 {
		return
	}
	var x any
	if err := utiljson.Unmarshal(v.Raw, &x); err != nil {
		return
	}
	if b, err := json.Marshal(x); err == nil {
		v.Raw = b
	}
}

func sortedCopy(in []string) []string {
	if in == nil {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}
