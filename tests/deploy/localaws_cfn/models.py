"""CloudFormation resource types our synthesized templates use that moto 5.2's CloudFormation lacks.

moto skips a resource type it does not know (and fails a stack whose Fn::GetAtt names one). Each class below is a
moto `CloudFormationModel` (moto finds its direct subclasses, so importing this module before the first stack is
parsed registers them) that calls the moto backend the API would call:

  AWS::S3::BucketPolicy, AWS::SQS::QueuePolicy, AWS::SNS::TopicPolicy, AWS::Glue::Database, AWS::Glue::Table,
  AWS::Athena::WorkGroup, AWS::Athena::NamedQuery, AWS::Config::ConfigurationAggregator,
  AWS::Lambda::EventInvokeConfig

Loaded only by tests/deploy/localaws_with_cfn.py, which starts the project's local AWS (tests/localaws) with this
module imported first: no emulator file is changed.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from moto.athena.models import athena_backends
from moto.config.models import config_backends
from moto.core.common_models import CloudFormationModel
from moto.glue.models import glue_backends
from moto.s3.models import s3_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.utilities.utils import get_partition


class _Simple:
    """Mixin: a resource whose creation is one backend call; Ref is `physical_resource_id`. Each concrete class
    also names CloudFormationModel directly, because moto only looks at its direct subclasses."""

    TYPE = ""
    ATTRIBUTES: tuple[str, ...] = ()

    def __init__(self, physical_id: str, attributes: dict[str, Any] | None = None):
        self.physical_resource_id = physical_id
        self.attributes = attributes or {}

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self.attributes[attribute_name]

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str) -> Any:
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str) -> None:
        return None


def _policy(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


class BucketPolicy(_Simple, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json["Properties"]
        backend = s3_backends[account_id][get_partition(region_name)]
        backend.put_bucket_policy(properties["Bucket"], _policy(properties["PolicyDocument"]).encode())
        return cls(f"{properties['Bucket']}-policy")


class QueuePolicy(_Simple, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json["Properties"]
        backend = sqs_backends[account_id][region_name]
        for url in properties["Queues"]:
            backend.set_queue_attributes(url.rstrip("/").split("/")[-1], {"Policy": _policy(properties["PolicyDocument"])})
        return cls(resource_name)


class TopicPolicy(_Simple, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json["Properties"]
        backend = sns_backends[account_id][region_name]
        for arn in properties["Topics"]:
            backend.set_topic_attribute(arn, "policy", _policy(properties["PolicyDocument"]))
        return cls(resource_name)


class GlueDatabase(_Simple, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Glue::Database"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str, **kwargs: Any) -> Any:
        database_input = cloudformation_json["Properties"]["DatabaseInput"]
        glue_backends[account_id][region_name].create_database(database_input["Name"], database_input)
        return cls(database_input["Name"])


class GlueTable(_Simple, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Glue::Table"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json["Properties"]
        table_input = properties["TableInput"]
        glue_backends[account_id][region_name].create_table(properties["DatabaseName"], table_input["Name"], table_input)
        return cls(table_input["Name"])


class AthenaWorkGroup(_Simple, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Athena::WorkGroup"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json["Properties"]
        athena_backends[account_id][region_name].create_work_group(
            properties["Name"], properties.get("WorkGroupConfiguration", {}), properties.get("Description", ""),
            properties.get("Tags", []))
        return cls(properties["Name"])


class AthenaNamedQuery(_Simple, CloudFormationModel):
    ATTRIBUTES = ("NamedQueryId",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Athena::NamedQuery"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json["Properties"]
        query_id = athena_backends[account_id][region_name].create_named_query(
            properties.get("Name", resource_name), properties.get("Description", ""), properties["Database"],
            properties["QueryString"], properties.get("WorkGroup", "primary"))
        return cls(query_id, {"NamedQueryId": query_id})


class ConfigurationAggregator(_Simple, CloudFormationModel):
    ATTRIBUTES = ("ConfigurationAggregatorArn",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Config::ConfigurationAggregator"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json["Properties"]
        request = {"ConfigurationAggregatorName": properties["ConfigurationAggregatorName"]}
        if "OrganizationAggregationSource" in properties:
            request["OrganizationAggregationSource"] = properties["OrganizationAggregationSource"]
        if "AccountAggregationSources" in properties:
            request["AccountAggregationSources"] = properties["AccountAggregationSources"]
        result = config_backends[account_id][region_name].put_configuration_aggregator(request)
        arn = result["ConfigurationAggregatorArn"]
        return cls(properties["ConfigurationAggregatorName"], {"ConfigurationAggregatorArn": arn})


class EventInvokeConfig(_Simple, CloudFormationModel):
    """Recorded only (moto's Lambda keeps no async-invocation settings that matter here)."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str, **kwargs: Any) -> Any:
        return cls(str(uuid.uuid4()))


REGISTERED = [cls.cloudformation_type() for cls in _Simple.__subclasses__()]
