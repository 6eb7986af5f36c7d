package compat

// Rule IDs. They are stable: the backend writes the IDs of breaking findings
// into the Bindsync-Compat commit trailer, and docs/compatibility.md lists them.
const (
	// RuleCRDAdded (non-breaking): The CRD is new.
	RuleCRDAdded = "crd-added"
	// RuleCRDRemoved (breaking): The CRD is deleted: its API and all its objects go away.
	RuleCRDRemoved = "crd-removed"
	// RuleScopeChanged (breaking): The scope moved between Namespaced and Cluster.
	RuleScopeChanged = "scope-changed"
	// RuleGroupChanged (breaking): The API group changed: it is a different API.
	RuleGroupChanged = "group-changed"
	// RuleKindChanged (breaking): names.kind changed.
	RuleKindChanged = "kind-changed"
	// RulePluralChanged (breaking): names.plural changed: the resource path changes.
	RulePluralChanged = "plural-changed"
	// RuleSingularChanged (breaking): names.singular changed: kubectl commands using it fail.
	RuleSingularChanged = "singular-changed"
	// RuleListKindChanged (breaking): names.listKind changed: typed list clients break.
	RuleListKindChanged = "list-kind-changed"
	// RuleShortNameRemoved (breaking): A short name was removed: kubectl commands and scripts using it fail.
	RuleShortNameRemoved = "short-name-removed"
	// RuleShortNameAdded (non-breaking): A short name was added.
	RuleShortNameAdded = "short-name-added"
	// RuleCategoryRemoved (non-breaking): A category was removed: kubectl get <category> no longer lists the resource, but no request fails.
	RuleCategoryRemoved = "category-removed"
	// RuleCategoryAdded (non-breaking): A category was added.
	RuleCategoryAdded = "category-added"
	// RuleVersionAdded (non-breaking): A version was added.
	RuleVersionAdded = "version-added"
	// RuleVersionRemoved (breaking): A version was removed: clients of it fail.
	RuleVersionRemoved = "version-removed"
	// RuleVersionUnserved (breaking): A version is no longer served: clients of it fail.
	RuleVersionUnserved = "version-unserved"
	// RuleVersionServed (non-breaking): A version that was not served is served again.
	RuleVersionServed = "version-served"
	// RuleVersionDeprecationChanged (non-breaking): A version was deprecated or undeprecated, or its warning changed.
	RuleVersionDeprecationChanged = "version-deprecation-changed"
	// RuleStorageVersionChanged (breaking): The storage version moved (other than to a new version whose schema equals or only adds to the old storage version's, with conversion None): objects are stored in another version from now on.
	RuleStorageVersionChanged = "storage-version-changed"
	// RuleStorageVersionMovedSameSchema (non-breaking): The storage version moved to a version added in this change whose schema equals the old storage version's, with conversion None: no object reads differently. Objects stay stored in the old version until migrated.
	RuleStorageVersionMovedSameSchema = "storage-version-moved-same-schema"
	// RuleStorageVersionMovedSuperset (non-breaking): The storage version moved to a version added in this change whose schema accepts everything the old storage version's did (only non-breaking differences, such as a new enum value or a description), with conversion None. Objects stay stored in the old version until migrated.
	RuleStorageVersionMovedSuperset = "storage-version-moved-superset"
	// RuleStoredVersionRemoved (breaking): A version listed in the old CRD's status.storedVersions is gone: objects stored in it can no longer be read.
	RuleStoredVersionRemoved = "stored-version-removed"
	// RuleConversionStrategyChanged (breaking): The conversion strategy changed (None or Webhook), other than webhook conversion introduced together with the second version.
	RuleConversionStrategyChanged = "conversion-strategy-changed"
	// RuleConversionWebhookAdded (non-breaking): Webhook conversion was introduced together with a new version of a CRD that had one version: no existing client read a version other than the stored one.
	RuleConversionWebhookAdded = "conversion-webhook-added"
	// RuleConversionWebhookChanged (non-breaking): The conversion webhook's settings changed (client config, review versions).
	RuleConversionWebhookChanged = "conversion-webhook-changed"
	// RulePreserveUnknownFieldsChanged (breaking): x-kubernetes-preserve-unknown-fields (or spec.preserveUnknownFields) changed: fields are pruned, or no longer pruned.
	RulePreserveUnknownFieldsChanged = "preserve-unknown-fields-changed"
	// RuleStatusSubresourceAdded (breaking): The status subresource was added: status written through the main resource is now ignored.
	RuleStatusSubresourceAdded = "status-subresource-added"
	// RuleStatusSubresourceRemoved (breaking): The status subresource was removed: the /status endpoint goes away.
	RuleStatusSubresourceRemoved = "status-subresource-removed"
	// RuleScaleSubresourceAdded (non-breaking): The scale subresource was added.
	RuleScaleSubresourceAdded = "scale-subresource-added"
	// RuleScaleSubresourceRemoved (breaking): The scale subresource was removed: autoscalers and kubectl scale fail.
	RuleScaleSubresourceRemoved = "scale-subresource-removed"
	// RuleScaleSubresourceChanged (breaking): The scale subresource's paths changed.
	RuleScaleSubresourceChanged = "scale-subresource-changed"
	// RulePrinterColumnsChanged (non-breaking): The printer columns changed: only kubectl get output changes.
	RulePrinterColumnsChanged = "printer-columns-changed"
	// RuleSelectableFieldAdded (non-breaking): A selectable field was added.
	RuleSelectableFieldAdded = "selectable-field-added"
	// RuleSelectableFieldRemoved (breaking): A selectable field was removed: field selectors using it fail.
	RuleSelectableFieldRemoved = "selectable-field-removed"
	// RuleFieldAdded (non-breaking): A new property; optional unless required-added says otherwise. Constraints on it are not judged, since no object has it yet; declared under an object that keeps unknown fields, it is judged as a change from any value, since stored objects may hold it.
	RuleFieldAdded = "field-added"
	// RuleImplicitFieldRemoved (non-breaking): apiVersion, kind or metadata left out of the root schema; the API server keeps them anyway.
	RuleImplicitFieldRemoved = "implicit-field-removed"
	// RuleFieldRemoved (breaking): A property was removed: it is pruned from objects.
	RuleFieldRemoved = "field-removed"
	// RuleTypeChanged (breaking): The type changed.
	RuleTypeChanged = "type-changed"
	// RuleTypeWidened (non-breaking): The type widened from integer to number.
	RuleTypeWidened = "type-widened"
	// RuleEnumAdded (breaking): An enum was added to a field that took any value.
	RuleEnumAdded = "enum-added"
	// RuleEnumRemoved (non-breaking): The enum was dropped: the field takes any value.
	RuleEnumRemoved = "enum-removed"
	// RuleEnumValueAdded (non-breaking): An enum value was added.
	RuleEnumValueAdded = "enum-value-added"
	// RuleEnumValueRemoved (breaking): An enum value was removed.
	RuleEnumValueRemoved = "enum-value-removed"
	// RuleRequiredAdded (breaking): A field became required, whether new or existing.
	RuleRequiredAdded = "required-added"
	// RuleRequiredRemoved (non-breaking): A field is no longer required.
	RuleRequiredRemoved = "required-removed"
	// RuleMinimumTightened (breaking): minimum added or raised, or exclusiveMinimum turned on.
	RuleMinimumTightened = "minimum-tightened"
	// RuleMinimumLoosened (non-breaking): minimum removed or lowered, or exclusiveMinimum turned off.
	RuleMinimumLoosened = "minimum-loosened"
	// RuleMaximumTightened (breaking): maximum added or lowered, or exclusiveMaximum turned on.
	RuleMaximumTightened = "maximum-tightened"
	// RuleMaximumLoosened (non-breaking): maximum removed or raised, or exclusiveMaximum turned off.
	RuleMaximumLoosened = "maximum-loosened"
	// RuleMinLengthTightened (breaking): minLength added or raised.
	RuleMinLengthTightened = "min-length-tightened"
	// RuleMinLengthLoosened (non-breaking): minLength removed or lowered.
	RuleMinLengthLoosened = "min-length-loosened"
	// RuleMaxLengthTightened (breaking): maxLength added or lowered.
	RuleMaxLengthTightened = "max-length-tightened"
	// RuleMaxLengthLoosened (non-breaking): maxLength removed or raised.
	RuleMaxLengthLoosened = "max-length-loosened"
	// RuleMinItemsTightened (breaking): minItems added or raised.
	RuleMinItemsTightened = "min-items-tightened"
	// RuleMinItemsLoosened (non-breaking): minItems removed or lowered.
	RuleMinItemsLoosened = "min-items-loosened"
	// RuleMaxItemsTightened (breaking): maxItems added or lowered.
	RuleMaxItemsTightened = "max-items-tightened"
	// RuleMaxItemsLoosened (non-breaking): maxItems removed or raised.
	RuleMaxItemsLoosened = "max-items-loosened"
	// RuleMinPropertiesTightened (breaking): minProperties added or raised.
	RuleMinPropertiesTightened = "min-properties-tightened"
	// RuleMinPropertiesLoosened (non-breaking): minProperties removed or lowered.
	RuleMinPropertiesLoosened = "min-properties-loosened"
	// RuleMaxPropertiesTightened (breaking): maxProperties added or lowered.
	RuleMaxPropertiesTightened = "max-properties-tightened"
	// RuleMaxPropertiesLoosened (non-breaking): maxProperties removed or raised.
	RuleMaxPropertiesLoosened = "max-properties-loosened"
	// RuleMultipleOfTightened (breaking): multipleOf added, or changed to a value the old one is not a multiple of.
	RuleMultipleOfTightened = "multiple-of-tightened"
	// RuleMultipleOfLoosened (non-breaking): multipleOf removed, or changed to a divisor of the old value.
	RuleMultipleOfLoosened = "multiple-of-loosened"
	// RuleUniqueItemsAdded (breaking): uniqueItems turned on.
	RuleUniqueItemsAdded = "unique-items-added"
	// RuleUniqueItemsRemoved (non-breaking): uniqueItems turned off.
	RuleUniqueItemsRemoved = "unique-items-removed"
	// RulePatternAdded (breaking): A pattern was added.
	RulePatternAdded = "pattern-added"
	// RulePatternChanged (breaking): The pattern changed: regular expressions are not compared, so bindsync cannot tell looser from tighter.
	RulePatternChanged = "pattern-changed"
	// RulePatternRemoved (non-breaking): The pattern was removed.
	RulePatternRemoved = "pattern-removed"
	// RuleFormatAdded (breaking): A format was added.
	RuleFormatAdded = "format-added"
	// RuleFormatChanged (breaking): The format changed.
	RuleFormatChanged = "format-changed"
	// RuleFormatRemoved (non-breaking): The format was removed.
	RuleFormatRemoved = "format-removed"
	// RuleNullableAdded (non-breaking): nullable turned on.
	RuleNullableAdded = "nullable-added"
	// RuleNullableRemoved (breaking): nullable turned off: null values are rejected (or pruned).
	RuleNullableRemoved = "nullable-removed"
	// RuleDefaultAdded (breaking): A default was added: objects that left the field out now get a value.
	RuleDefaultAdded = "default-added"
	// RuleDefaultChanged (breaking): The default changed: objects that left the field out get another value.
	RuleDefaultChanged = "default-changed"
	// RuleDefaultRemoved (breaking): The default was removed: objects that left the field out no longer get a value.
	RuleDefaultRemoved = "default-removed"
	// RuleIntOrStringChanged (breaking): x-kubernetes-int-or-string changed.
	RuleIntOrStringChanged = "int-or-string-changed"
	// RuleEmbeddedResourceChanged (breaking): x-kubernetes-embedded-resource changed.
	RuleEmbeddedResourceChanged = "embedded-resource-changed"
	// RuleListTypeChanged (breaking): x-kubernetes-list-type changed (unset means atomic).
	RuleListTypeChanged = "list-type-changed"
	// RuleListMapKeysChanged (breaking): x-kubernetes-list-map-keys changed.
	RuleListMapKeysChanged = "list-map-keys-changed"
	// RuleMapTypeChanged (breaking): x-kubernetes-map-type changed (unset means granular).
	RuleMapTypeChanged = "map-type-changed"
	// RuleAdditionalPropertiesNarrowed (breaking): additionalProperties removed or made stricter (true to a schema, a schema or true to false).
	RuleAdditionalPropertiesNarrowed = "additional-properties-narrowed"
	// RuleAdditionalPropertiesWidened (non-breaking): additionalProperties added or made looser.
	RuleAdditionalPropertiesWidened = "additional-properties-widened"
	// RuleValidationRuleAdded (breaking): A CEL rule (x-kubernetes-validations) was added.
	RuleValidationRuleAdded = "validation-rule-added"
	// RuleValidationRuleAddedGuarded (non-breaking): A CEL rule was added that is true for every object without a field new in this change, decided on the parsed rule: no stored object has that field, so none can fail the rule.
	RuleValidationRuleAddedGuarded = "validation-rule-added-guarded"
	// RuleValidationRuleChanged (breaking): A CEL rule changed: same message with new rule text (bindsync cannot tell whether it got looser or tighter), or its reason or optionalOldSelf changed.
	RuleValidationRuleChanged = "validation-rule-changed"
	// RuleValidationRuleRemoved (non-breaking): A CEL rule was removed.
	RuleValidationRuleRemoved = "validation-rule-removed"
	// RuleValidationRuleMessageChanged (non-breaking): A CEL rule's message, messageExpression or fieldPath changed; the rule, reason and optionalOldSelf are the same.
	RuleValidationRuleMessageChanged = "validation-rule-message-changed"
	// RuleAllOfChanged (breaking): allOf gained or changed a schema.
	RuleAllOfChanged = "all-of-changed"
	// RuleAllOfLoosened (non-breaking): allOf lost schemas and gained none.
	RuleAllOfLoosened = "all-of-loosened"
	// RuleAnyOfChanged (breaking): anyOf was added, or lost or changed a schema.
	RuleAnyOfChanged = "any-of-changed"
	// RuleAnyOfLoosened (non-breaking): anyOf was removed, or only gained schemas.
	RuleAnyOfLoosened = "any-of-loosened"
	// RuleOneOfChanged (breaking): oneOf was added or changed.
	RuleOneOfChanged = "one-of-changed"
	// RuleOneOfLoosened (non-breaking): oneOf was removed.
	RuleOneOfLoosened = "one-of-loosened"
	// RuleNotChanged (breaking): not was added or changed.
	RuleNotChanged = "not-changed"
	// RuleNotLoosened (non-breaking): not was removed.
	RuleNotLoosened = "not-loosened"
	// RuleDescriptionChanged (non-breaking): Description, title, example or externalDocs changed.
	RuleDescriptionChanged = "description-changed"
	// RuleUnknownChange (breaking): A difference no rule understands. Fail closed: treated as breaking.
	RuleUnknownChange = "unknown-change"
)

// RuleInfo describes one rule of the catalogue.
type RuleInfo struct {
	// ID is the stable kebab-case rule ID.
	ID string
	// Severity is the severity of every finding of this rule.
	Severity Severity
	// Scope is "crd" for whole-CRD rules, "schema" for rules on a
	// property (their side follows the property's path), "any" for both.
	Scope string
	// Summary says in one line what the rule detects.
	Summary string
}

// catalogue is the single source of each rule's severity.
var catalogue = []RuleInfo{
	{RuleCRDAdded, NonBreaking, "crd", "The CRD is new."},
	{RuleCRDRemoved, Breaking, "crd", "The CRD is deleted: its API and all its objects go away."},
	{RuleScopeChanged, Breaking, "crd", "The scope moved between Namespaced and Cluster."},
	{RuleGroupChanged, Breaking, "crd", "The API group changed: it is a different API."},
	{RuleKindChanged, Breaking, "crd", "names.kind changed."},
	{RulePluralChanged, Breaking, "crd", "names.plural changed: the resource path changes."},
	{RuleSingularChanged, Breaking, "crd", "names.singular changed: kubectl commands using it fail."},
	{RuleListKindChanged, Breaking, "crd", "names.listKind changed: typed list clients break."},
	{RuleShortNameRemoved, Breaking, "crd", "A short name was removed: kubectl commands and scripts using it fail."},
	{RuleShortNameAdded, NonBreaking, "crd", "A short name was added."},
	{RuleCategoryRemoved, NonBreaking, "crd", "A category was removed: `kubectl get <category>` no longer lists the resource, but no request fails."},
	{RuleCategoryAdded, NonBreaking, "crd", "A category was added."},
	{RuleVersionAdded, NonBreaking, "crd", "A version was added."},
	{RuleVersionRemoved, Breaking, "crd", "A version was removed: clients of it fail."},
	{RuleVersionUnserved, Breaking, "crd", "A version is no longer served: clients of it fail."},
	{RuleVersionServed, NonBreaking, "crd", "A version that was not served is served again."},
	{RuleVersionDeprecationChanged, NonBreaking, "crd", "A version was deprecated or undeprecated, or its warning changed."},
	{RuleStorageVersionChanged, Breaking, "crd", "The storage version moved (other than to a new version whose schema equals or only adds to the old storage version's, with conversion None): objects are stored in another version from now on."},
	{RuleStorageVersionMovedSameSchema, NonBreaking, "crd", "The storage version moved to a version added in this change whose schema equals the old storage version's, with conversion None: no object reads differently. Objects stay stored in the old version until migrated: keep it defined while status.storedVersions lists it."},
	{RuleStorageVersionMovedSuperset, NonBreaking, "crd", "The storage version moved to a version added in this change whose schema accepts everything the old storage version's did (only non-breaking differences: a new enum value, a new optional field, a description, a looser limit), with conversion None: every stored object reads and validates as before. Objects stay stored in the old version until migrated: keep it defined while status.storedVersions lists it."},
	{RuleStoredVersionRemoved, Breaking, "crd", "A version listed in the old CRD's status.storedVersions is gone: objects stored in it can no longer be read."},
	{RuleConversionStrategyChanged, Breaking, "crd", "The conversion strategy changed (None or Webhook), other than webhook conversion introduced together with the second version."},
	{RuleConversionWebhookAdded, NonBreaking, "crd", "Webhook conversion was introduced together with a new version of a CRD that had one version: no existing client read a version other than the one its objects are stored in."},
	{RuleConversionWebhookChanged, NonBreaking, "crd", "The conversion webhook's settings changed (client config, review versions)."},
	{RulePreserveUnknownFieldsChanged, Breaking, "any", "x-kubernetes-preserve-unknown-fields (or spec.preserveUnknownFields) changed: fields are pruned, or no longer pruned."},
	{RuleStatusSubresourceAdded, Breaking, "crd", "The status subresource was added: status written through the main resource is now ignored."},
	{RuleStatusSubresourceRemoved, Breaking, "crd", "The status subresource was removed: the /status endpoint goes away."},
	{RuleScaleSubresourceAdded, NonBreaking, "crd", "The scale subresource was added."},
	{RuleScaleSubresourceRemoved, Breaking, "crd", "The scale subresource was removed: autoscalers and `kubectl scale` fail."},
	{RuleScaleSubresourceChanged, Breaking, "crd", "The scale subresource's paths changed."},
	{RulePrinterColumnsChanged, NonBreaking, "crd", "The printer columns changed: only `kubectl get` output changes."},
	{RuleSelectableFieldAdded, NonBreaking, "crd", "A selectable field was added."},
	{RuleSelectableFieldRemoved, Breaking, "crd", "A selectable field was removed: field selectors using it fail."},
	{RuleFieldAdded, NonBreaking, "schema", "A new property; optional unless required-added says otherwise. Constraints on it are not judged, since no object has it yet; declared under an object that keeps unknown fields, it is judged as a change from any value, since stored objects may hold it."},
	{RuleImplicitFieldRemoved, NonBreaking, "schema", "apiVersion, kind or metadata left out of the root schema; the API server keeps them anyway."},
	{RuleFieldRemoved, Breaking, "schema", "A property was removed: it is pruned from objects."},
	{RuleTypeChanged, Breaking, "schema", "The type changed."},
	{RuleTypeWidened, NonBreaking, "schema", "The type widened from integer to number."},
	{RuleEnumAdded, Breaking, "schema", "An enum was added to a field that took any value."},
	{RuleEnumRemoved, NonBreaking, "schema", "The enum was dropped: the field takes any value."},
	{RuleEnumValueAdded, NonBreaking, "schema", "An enum value was added."},
	{RuleEnumValueRemoved, Breaking, "schema", "An enum value was removed."},
	{RuleRequiredAdded, Breaking, "schema", "A field became required, whether new or existing."},
	{RuleRequiredRemoved, NonBreaking, "schema", "A field is no longer required."},
	{RuleMinimumTightened, Breaking, "schema", "minimum added or raised, or exclusiveMinimum turned on."},
	{RuleMinimumLoosened, NonBreaking, "schema", "minimum removed or lowered, or exclusiveMinimum turned off."},
	{RuleMaximumTightened, Breaking, "schema", "maximum added or lowered, or exclusiveMaximum turned on."},
	{RuleMaximumLoosened, NonBreaking, "schema", "maximum removed or raised, or exclusiveMaximum turned off."},
	{RuleMinLengthTightened, Breaking, "schema", "minLength added or raised."},
	{RuleMinLengthLoosened, NonBreaking, "schema", "minLength removed or lowered."},
	{RuleMaxLengthTightened, Breaking, "schema", "maxLength added or lowered."},
	{RuleMaxLengthLoosened, NonBreaking, "schema", "maxLength removed or raised."},
	{RuleMinItemsTightened, Breaking, "schema", "minItems added or raised."},
	{RuleMinItemsLoosened, NonBreaking, "schema", "minItems removed or lowered."},
	{RuleMaxItemsTightened, Breaking, "schema", "maxItems added or lowered."},
	{RuleMaxItemsLoosened, NonBreaking, "schema", "maxItems removed or raised."},
	{RuleMinPropertiesTightened, Breaking, "schema", "minProperties added or raised."},
	{RuleMinPropertiesLoosened, NonBreaking, "schema", "minProperties removed or lowered."},
	{RuleMaxPropertiesTightened, Breaking, "schema", "maxProperties added or lowered."},
	{RuleMaxPropertiesLoosened, NonBreaking, "schema", "maxProperties removed or raised."},
	{RuleMultipleOfTightened, Breaking, "schema", "multipleOf added, or changed to a value the old one is not a multiple of."},
	{RuleMultipleOfLoosened, NonBreaking, "schema", "multipleOf removed, or changed to a divisor of the old value."},
	{RuleUniqueItemsAdded, Breaking, "schema", "uniqueItems turned on."},
	{RuleUniqueItemsRemoved, NonBreaking, "schema", "uniqueItems turned off."},
	{RulePatternAdded, Breaking, "schema", "A pattern was added."},
	{RulePatternChanged, Breaking, "schema", "The pattern changed: regular expressions are not compared, so bindsync cannot tell looser from tighter."},
	{RulePatternRemoved, NonBreaking, "schema", "The pattern was removed."},
	{RuleFormatAdded, Breaking, "schema", "A format was added."},
	{RuleFormatChanged, Breaking, "schema", "The format changed."},
	{RuleFormatRemoved, NonBreaking, "schema", "The format was removed."},
	{RuleNullableAdded, NonBreaking, "schema", "nullable turned on."},
	{RuleNullableRemoved, Breaking, "schema", "nullable turned off: null values are rejected (or pruned)."},
	{RuleDefaultAdded, Breaking, "schema", "A default was added: objects that left the field out now get a value."},
	{RuleDefaultChanged, Breaking, "schema", "The default changed: objects that left the field out get another value."},
	{RuleDefaultRemoved, Breaking, "schema", "The default was removed: objects that left the field out no longer get a value."},
	{RuleIntOrStringChanged, Breaking, "schema", "x-kubernetes-int-or-string changed."},
	{RuleEmbeddedResourceChanged, Breaking, "schema", "x-kubernetes-embedded-resource changed."},
	{RuleListTypeChanged, Breaking, "schema", "x-kubernetes-list-type changed (unset means atomic)."},
	{RuleListMapKeysChanged, Breaking, "schema", "x-kubernetes-list-map-keys changed."},
	{RuleMapTypeChanged, Breaking, "schema", "x-kubernetes-map-type changed (unset means granular)."},
	{RuleAdditionalPropertiesNarrowed, Breaking, "schema", "additionalProperties removed or made stricter (true to a schema, a schema or true to false)."},
	{RuleAdditionalPropertiesWidened, NonBreaking, "schema", "additionalProperties added or made looser."},
	{RuleValidationRuleAdded, Breaking, "schema", "A CEL rule (x-kubernetes-validations) was added."},
	{RuleValidationRuleAddedGuarded, NonBreaking, "schema", "A CEL rule was added that is true for every object without a field new in this change (decided on the parsed rule: `!has(self.f) || ...`, `!(has(self.f) && ...) || ...`, `has(self.f) ? ... : true` and every other spelling that comes to the same): no stored object has that field, so none can fail the rule."},
	{RuleValidationRuleChanged, Breaking, "schema", "A CEL rule changed: same message with new rule text (bindsync cannot tell whether it got looser or tighter), or its reason or optionalOldSelf changed."},
	{RuleValidationRuleRemoved, NonBreaking, "schema", "A CEL rule was removed."},
	{RuleValidationRuleMessageChanged, NonBreaking, "schema", "A CEL rule's message, messageExpression or fieldPath changed; the rule, reason and optionalOldSelf are the same."},
	{RuleAllOfChanged, Breaking, "schema", "allOf gained or changed a schema."},
	{RuleAllOfLoosened, NonBreaking, "schema", "allOf lost schemas and gained none."},
	{RuleAnyOfChanged, Breaking, "schema", "anyOf was added, or lost or changed a schema."},
	{RuleAnyOfLoosened, NonBreaking, "schema", "anyOf was removed, or only gained schemas."},
	{RuleOneOfChanged, Breaking, "schema", "oneOf was added or changed."},
	{RuleOneOfLoosened, NonBreaking, "schema", "oneOf was removed."},
	{RuleNotChanged, Breaking, "schema", "not was added or changed."},
	{RuleNotLoosened, NonBreaking, "schema", "not was removed."},
	{RuleDescriptionChanged, NonBreaking, "schema", "Description, title, example or externalDocs changed."},
	{RuleUnknownChange, Breaking, "any", "A difference no rule understands. Fail closed: treated as breaking."},
}

var severityByID = func() map[string]Severity {
	m := make(map[string]Severity, len(catalogue))
	for _, r := range catalogue {
		m[r.ID] = r.Severity
	}
	return m
}()

// severityOf returns the severity of rule id; an ID missing from the
// catalogue is breaking, so a mistake fails closed.
func severityOf(id string) Severity {
	if s, ok := severityByID[id]; ok {
		return s
	}
	return Breaking
}
