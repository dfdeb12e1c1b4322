//! Clients in the organization's member accounts, through the reader role the member stack deploys
//! (`AGGREGATOR_MEMBER_ROLE_NAME`): one AssumeRole per account per run, the account id checked to be
//! 12 digits before anything reaches STS ([`awsbase::member`], the rule's rules), and per (account,
//! Region) the Lambda and CloudWatch clients with their own rate limits ([`crate::api::Api::pace`]):
//! those quotas are the member account's, per Region.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use tokio::sync::OnceCell;

use crate::api::{Api, Family};

/// The session name the member accounts' CloudTrail shows for the aggregator's reads.
pub const SESSION_NAME: &str = "lambda-runtime-aggregator";

type Session = Arc<OnceCell<Result<SdkConfig, String>>>;

/// The member role in every account of a run.
pub struct Members {
    base: SdkConfig,
    role_name: String,
    api: Arc<Api>,
    sessions: Mutex<HashMap<String, Session>>,
}

/// The clients of one member (account, Region), each held to that pair's rate.
pub struct PairClients {
    pub account: String,
    pub region: String,
    pub lambda: aws_sdk_lambda::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

impl Members {
    /// `role_name` must be an IAM role name: a bad one is a start-up error, not a string that
    /// reaches STS for every account.
    pub fn new(base: SdkConfig, role_name: &str, api: Arc<Api>) -> Result<Members, String> {
        if !awsbase::member::is_role_name(role_name) {
            return Err(format!(
                "member role name {role_name:?} is not an IAM role name (1 to 64 of A-Z a-z 0-9 + = , . @ _ -)"
            ));
        }
        Ok(Members {
            base,
            role_name: role_name.to_string(),
            api,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    pub fn role_name(&self) -> &str {
        &self.role_name
    }

    /// The SDK configuration of the member role in `account`: assumed once per run (every Region of
    /// the account shares it; a failure is remembered, not retried per Region).
    pub async fn session(&self, account: &str) -> Result<SdkConfig, String> {
        let role = awsbase::member::role_arn(account, &self.role_name)?;
        let cell = {
            let mut sessions = self
                .sessions
                .lock()
                .map_err(|_| "member sessions poisoned".to_string())?;
            sessions.entry(account.to_string()).or_default().clone()
        };
        cell.get_or_init(|| async {
            self.api.count("sts:AssumeRole");
            awsbase::member::assume_role(&self.base, &role, SESSION_NAME, format!("cannot assume {role}"))
                .await
                .map_err(|e| format!("{e:#}"))
        })
        .await
        .clone()
    }

    /// The clients of (`account`, `region`), each with a new bucket of its family's rate and its calls
    /// counted.
    pub async fn clients(&self, account: &str, region: &str) -> Result<PairClients, String> {
        let session = self.session(account).await?;
        let regional = session
            .to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build();
        Ok(PairClients {
            account: account.to_string(),
            region: region.to_string(),
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(&regional)
                    .identity_cache(self.api.pace(&regional, Family::Lambda))
                    .interceptor(self.api.counter(Family::Lambda))
                    .build(),
            ),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(&regional)
                    .identity_cache(self.api.pace(&regional, Family::CloudWatch))
                    .interceptor(self.api.counter(Family::CloudWatch))
                    .build(),
            ),
        })
    }
}
