"""PutConfigRule naming a Lambda function in another account: accepted when the function's resource-based
policy lets AWS Config invoke it, refused (InsufficientPermissionsException) otherwise — see
localaws/config_rule_source.py for the AWS documents."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import ADMIN, create_function

RULE_ACCOUNT = "555555555555"


def rule(name: str, lambda_arn: str) -> dict:
    return {"ConfigRuleName": name, "Scope": {"ComplianceResourceTypes": ["AWS::Lambda::Function"]},
            "Source": {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": lambda_arn,
                       "SourceDetails": [{"EventSource": "aws.config",
                                          "MessageType": "ConfigurationItemChangeNotification"}]}}


def refused(aws, lambda_arn: str) -> str:
    with pytest.raises(ClientError) as error:
        aws.client("config", RULE_ACCOUNT).put_config_rule(ConfigRule=rule("central", lambda_arn))
    assert error.value.response["Error"]["Code"] == "InsufficientPermissionsException"
    return error.value.response["Error"]["Message"]


def test_a_central_lambda_needs_a_permission_for_config(aws):
    arn = create_function(aws, "central-rule", "provided.al2023")["FunctionArn"]
    assert arn.split(":")[4] == ADMIN
    assert "cannot be invoked" in refused(aws, arn)
    aws.client("lambda").add_permission(FunctionName="central-rule", StatementId="config",
                                        Action="lambda:InvokeFunction", Principal="config.amazonaws.com")
    aws.client("config", RULE_ACCOUNT).put_config_rule(ConfigRule=rule("central", arn))
    [stored] = aws.client("config", RULE_ACCOUNT).describe_config_rules()["ConfigRules"]
    assert stored["Source"]["SourceIdentifier"] == arn


def test_a_source_account_condition_admits_only_that_account(aws):
    arn = create_function(aws, "central-rule", "provided.al2023")["FunctionArn"]
    aws.client("lambda").add_permission(FunctionName="central-rule", StatementId="config-other",
                                        Action="lambda:InvokeFunction", Principal="config.amazonaws.com",
                                        SourceAccount="666666666666")
    refused(aws, arn)
    aws.client("lambda").add_permission(FunctionName="central-rule", StatementId="config-ours",
                                        Action="lambda:InvokeFunction", Principal="config.amazonaws.com",
                                        SourceAccount=RULE_ACCOUNT)
    aws.client("config", RULE_ACCOUNT).put_config_rule(ConfigRule=rule("central", arn))


def test_a_missing_function_or_another_principal_is_refused(aws):
    refused(aws, f"arn:aws:lambda:us-east-1:{ADMIN}:function:nowhere")
    create_function(aws, "central-rule", "provided.al2023")
    aws.client("lambda").add_permission(FunctionName="central-rule", StatementId="s3",
                                        Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    refused(aws, f"arn:aws:lambda:us-east-1:{ADMIN}:function:central-rule")
