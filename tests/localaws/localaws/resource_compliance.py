"""The `AWS::Config::ResourceCompliance` configuration item: one per evaluated resource, listing the rules that
evaluated it with their compliance. One home for its shape, used by the moto-backed Config (config.py, which
records it as results change) and by the synthetic organization (synthetic_org.py, which computes it).

What AWS documents, and what this follows:
- The item exists when the configuration recorder records the type: "If you have opted to record all resource
  types, AWS Config automatically begins recording the resource compliance history as evaluated by AWS Config
  Rules ... You can also select only the specific resource compliance history resource type:
  AWS::Config::ResourceCompliance" (https://docs.aws.amazon.com/config/latest/developerguide/view-compliance-history.html);
  it can be excluded like any type, and AWS's guidance suggests doing so when the history is not needed ("If you
  don't need historical compliance data, you can exclude this resource type",
  https://docs.aws.amazon.com/config/latest/developerguide/view-manage-resource-console.html).
- Its shape, from the documented history of one (`aws configservice get-resource-config-history --resource-type
  AWS::Config::ResourceCompliance --resource-id AWS::S3::Bucket/configrules-bucket`,
  https://docs.aws.amazon.com/config/latest/developerguide/quering-resource-compliance-history.html): resourceId
  "<target type>/<target id>"; one relationship to the target ("Is associated with "); tags {}; an empty
  configurationItemMD5Hash; no resourceName, ARN, availabilityZone or resourceCreationTime; the configuration
  {complianceType, targetResourceId, targetResourceType, configRuleList: [{configRuleArn, configRuleId,
  configRuleName, complianceType}]}: no annotation and no result time (the queryable properties in
  awslabs/aws-config-resource-schema, config/properties/resource-types/AWS::Config::ResourceCompliance.properties.json,
  agree: configuration.complianceType, configuration.configRuleList.{complianceType, configRuleArn, configRuleId,
  configRuleName}, configuration.targetResourceId, configuration.targetResourceType).
- complianceType is the resource's over every rule: "A resource is compliant if it complies with all of the AWS
  Config rules that evaluate it. A resource is noncompliant if it does not comply with one or more of these
  rules." (https://docs.aws.amazon.com/config/latest/APIReference/API_Compliance.html).
- A rule's NOT_APPLICABLE result is not a compliance of the resource: DescribeComplianceByResource answers
  INSUFFICIENT_DATA when a rule "has returned NOT_APPLICABLE for all evaluation results. This can occur if the
  resources were deleted or removed from the rule's scope." (API_DescribeComplianceByResource.html), and the
  Compliance type "does not support the NOT_APPLICABLE value". So NOT_APPLICABLE results are left out of
  configRuleList. That they create no item either is what users of the billing observe (aws-samples/
  aws-secure-environment-accelerator issue #1064: rules should return NOT_APPLICABLE for resources not recorded
  so that no ResourceCompliance item is recorded and billed, as Security Hub's rules do); Config's own
  documentation does not say it in so many words.
- The item changes when a rule's result for the resource changes, rules being deleted included ("Deleting rules
  creates configuration items (CIs) for AWS::Config::ResourceCompliance",
  https://docs.aws.amazon.com/config/latest/developerguide/evaluate-config.html, Cost Considerations).
  ASSUMPTION (not documented): when no rule holds a COMPLIANT or NON_COMPLIANT result any more, the item is
  recorded as deleted (configurationItemStatus ResourceDeleted), so advanced queries, which read current items,
  no longer return it.
- The order of configRuleList is not documented: here, by rule name.
"""

from __future__ import annotations

from typing import Any, Iterable

COMPLIANCE_TYPE = "AWS::Config::ResourceCompliance"
# The compliance types a rule's entry in configRuleList can have (see the module docstring on NOT_APPLICABLE).
LISTED = ("COMPLIANT", "NON_COMPLIANT")


def resource_id(target_type: str, target_id: str) -> str:
    """The item's resourceId: "AWS::S3::Bucket/configrules-bucket" in AWS's documented example."""
    return f"{target_type}/{target_id}"


def rule_entry(name: str, compliance: str, arn: str, rule_id: str) -> dict[str, str]:
    """One element of configRuleList, keys in the documented example's order."""
    return {"configRuleArn": arn, "configRuleId": rule_id, "configRuleName": name, "complianceType": compliance}


def configuration(target_type: str, target_id: str, rules: Iterable[dict[str, str]]) -> dict[str, Any] | None:
    """The item's configuration from the rules' entries (any order; NOT_APPLICABLE ones are dropped), or None
    when no rule has a COMPLIANT or NON_COMPLIANT result: the item is then deleted (an assumption, see above)."""
    listed = sorted((r for r in rules if r["complianceType"] in LISTED), key=lambda r: r["configRuleName"])
    if not listed:
        return None
    overall = "NON_COMPLIANT" if any(r["complianceType"] == "NON_COMPLIANT" for r in listed) else "COMPLIANT"
    return {"complianceType": overall, "targetResourceId": target_id, "targetResourceType": target_type,
            "configRuleList": listed}


def relationships(target_type: str, target_id: str) -> list[dict[str, str]]:
    return [{"resourceType": target_type, "resourceId": target_id, "relationshipName": "Is associated with "}]


def item(account: str, region: str, target_type: str, target_id: str, config: dict[str, Any] | None,
         capture_time: str, state_id: str, status: str) -> dict[str, Any]:
    """The whole item, with the fields a configuration item of this type has (the documented example) and the
    ones it has not set to None (resourceName, ARN, availabilityZone, resourceCreationTime)."""
    return {
        "version": "1.3",
        "configurationItemVersion": "1.3",
        "configurationItemCaptureTime": capture_time,
        "configurationStateId": state_id,
        "awsAccountId": account,
        "configurationItemStatus": status,
        "resourceType": COMPLIANCE_TYPE,
        "resourceId": resource_id(target_type, target_id),
        "resourceName": None,
        "ARN": None,
        "awsRegion": region,
        "availabilityZone": None,
        "resourceCreationTime": None,
        "tags": {},
        "relatedEvents": [],
        "relationships": relationships(target_type, target_id) if config is not None else [],
        "configuration": config,
        "supplementaryConfiguration": {},
        "configurationItemMD5Hash": "",
    }
