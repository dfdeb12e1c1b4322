//! A role in a member account, assumed the way both binaries must: the account id checked to be an
//! account id before anything reaches STS, the role name checked to be an IAM role name, one
//! AssumeRole per account (the first credentials are used, and each account has an identity cache of
//! its own so that the SDK refreshes the session before it expires without assuming the role again
//! while it is valid).
//!
//! The rule (`rule/src/aws.rs`, `Accounts::for_account`) was the first user; the aggregator's member
//! reads (`aggregator/src/members.rs`) use this module.

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;

/// Whether `account` is an AWS account id: exactly 12 decimal digits.
pub fn is_account_id(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `name` is an IAM role name (1–64 of `A-Za-z0-9+=,.@_-`,
/// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html).
pub fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// The ARN of `role_name` in `account`, or why not: an account id that is not 12 digits, or a name
/// that is not a role name, never reaches STS.
pub fn role_arn(account: &str, role_name: &str) -> Result<String, String> {
    if !is_account_id(account) {
        return Err(format!(
            "{:?} is not a 12-digit account id: no role is assumed for it",
            account.chars().take(40).collect::<String>()
        ));
    }
    if !is_role_name(role_name) {
        return Err(format!(
            "{role_name:?} is not an IAM role name (1 to 64 of A-Z a-z 0-9 + = , . @ _ -)"
        ));
    }
    Ok(format!("arn:aws:iam::{account}:role/{role_name}"))
}

/// The SDK configuration of `base` with the credentials of `role_arn`, assumed now (one AssumeRole):
/// a failure is an [`crate::AwsCallError`] saying `doing` (e.g. "account 1…: cannot assume ROLE"), with
/// STS's code and message.
pub async fn assume_role(
    base: &SdkConfig,
    role_arn: &str,
    session_name: &str,
    doing: String,
) -> anyhow::Result<SdkConfig> {
    let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name(session_name)
        .configure(base)
        .build()
        .await;
    // Fail here, with the role named, rather than on the first call that needs the keys.
    let first = provider
        .provide_credentials()
        .await
        .map_err(|error| assume_role_error(doing, &error))?;
    Ok(base
        .to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            FirstThen {
                first: std::sync::Mutex::new(Some(first)),
                then: provider,
            },
        ))
        .identity_cache(aws_config::identity::IdentityCache::lazy().build())
        .build())
}

/// A failed AssumeRole as one line with STS's code and message once (the credentials error's own
/// chain repeats them), and the rest of the chain when STS did not answer.
pub fn assume_role_error(
    doing: String,
    error: &aws_credential_types::provider::error::CredentialsError,
) -> anyhow::Error {
    use std::error::Error as _;
    type AssumeRoleFailure =
        aws_sdk_sts::error::SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError>;
    let mut cause = error.source();
    while let Some(current) = cause {
        if let Some(sdk) = current.downcast_ref::<AssumeRoleFailure>() {
            return crate::AwsCallError::new(doing, sdk).into();
        }
        cause = current.source();
    }
    anyhow::anyhow!(
        "{doing}: {}",
        aws_smithy_types::error::display::DisplayErrorContext(error)
    )
}

/// Credentials already obtained, then the provider's (when the cache finds them expired).
#[derive(Debug)]
pub struct FirstThen {
    pub first: std::sync::Mutex<Option<aws_credential_types::Credentials>>,
    pub then: aws_config::sts::AssumeRoleProvider,
}

impl ProvideCredentials for FirstThen {
    fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        match self.first.lock().ok().and_then(|mut first| first.take()) {
            Some(credentials) => {
                aws_credential_types::provider::future::ProvideCredentials::ready(Ok(credentials))
            }
            None => self.then.provide_credentials(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_account_ids_and_role_names_reach_sts() {
        assert_eq!(
            role_arn("111122223333", "runtime-reader").as_deref(),
            Ok("arn:aws:iam::111122223333:role/runtime-reader")
        );
        for bad in [
            "11112222333",
            "1111222233334",
            "11112222333x",
            "",
            "111122223333:role/x",
        ] {
            assert!(role_arn(bad, "r").is_err(), "{bad}");
        }
        assert!(role_arn("111122223333", "a/b").is_err());
        assert!(role_arn("111122223333", &"r".repeat(65)).is_err());
        assert!(role_arn("111122223333", "").is_err());
    }
}
