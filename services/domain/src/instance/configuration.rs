//! How an instance is configured, apart from its lifecycle: its parameters, network type and
//! tags, its debug mode, one-off patches, and the installer its agent records. None of these
//! is allowed on a deleted instance; a patch needs a running one.

use fleet_events::instance::{CustomTag, InstanceEvent};
use serde_json::Value;

use super::{Instance, InstanceStatus};
use crate::{validate, DomainError};

pub const NETWORK_TYPES: &[&str] = &["PUBLIC", "INTERNAL"];
/// Most tags one instance may carry.
pub const MAX_TAGS: usize = 50;

#[derive(Debug, Clone)]
pub enum Configuration {
    /// Replaces those given.
    Update {
        params: Option<Value>,
        network_type: Option<String>,
        custom_tags: Option<Vec<CustomTag>>,
    },
    SetDebugMode {
        enabled: bool,
    },
    Patch {
        tier_version: Option<String>,
        overrides: Option<Value>,
    },
    RecordInstaller {
        url: String,
    },
    /// The reseller's data about the instance as a billable resource; replaces what was there.
    SetResellerMetadata {
        metadata: Value,
    },
}

/// Reseller metadata is a small JSON object.
pub const MAX_RESELLER_METADATA_BYTES: usize = 16 * 1024;

impl Configuration {
    pub(super) fn action(&self) -> &'static str {
        match self {
            Self::Update { .. } => "update",
            Self::SetDebugMode { .. } => "set the debug mode of",
            Self::Patch { .. } => "patch",
            Self::RecordInstaller { .. } => "record the installer of",
            Self::SetResellerMetadata { .. } => "set the reseller metadata of",
        }
    }
}

impl Instance {
    pub(super) fn configure(&self, change: &Configuration) -> Result<InstanceEvent, DomainError> {
        let refuse = || DomainError::InvalidState {
            aggregate: "instance",
            action: change.action(),
            state: self.status.to_string(),
        };
        if self.status == InstanceStatus::Deleted {
            return Err(refuse());
        }
        match change {
            Configuration::Update {
                params,
                network_type,
                custom_tags,
            } => {
                if params.is_none() && network_type.is_none() && custom_tags.is_none() {
                    return Err(DomainError::invalid(
                        "body",
                        "must change the parameters, the network type or the tags",
                    ));
                }
                if params.as_ref().is_some_and(|p| !p.is_object()) {
                    return Err(DomainError::invalid("requestParams", "must be an object"));
                }
                if let Some(network) = network_type {
                    validate::one_of("network_type", network, NETWORK_TYPES)?;
                }
                if let Some(tags) = custom_tags {
                    if tags.len() > MAX_TAGS {
                        return Err(DomainError::invalid(
                            "customTags",
                            format!("must hold at most {MAX_TAGS} tags"),
                        ));
                    }
                    for tag in tags {
                        validate::required("customTags.key", &tag.key, 128)?;
                        validate::optional("customTags.value", Some(&tag.value), 256)?;
                    }
                }
                Ok(InstanceEvent::InstanceUpdated {
                    params: params.clone(),
                    network_type: network_type.clone(),
                    custom_tags: custom_tags.clone(),
                })
            }
            Configuration::SetDebugMode { enabled } if *enabled == self.debug_mode => {
                Err(DomainError::Unchanged {
                    detail: format!(
                        "the instance's debug mode is {} already",
                        if *enabled { "on" } else { "off" }
                    ),
                })
            }
            Configuration::SetDebugMode { enabled } => {
                Ok(InstanceEvent::InstanceDebugModeSet { enabled: *enabled })
            }
            Configuration::Patch { .. } if self.status != InstanceStatus::Running => Err(refuse()),
            Configuration::Patch {
                tier_version,
                overrides,
            } => {
                if tier_version.is_none() && overrides.is_none() {
                    return Err(DomainError::invalid(
                        "targetTierVersion",
                        "a patch needs a target version or configuration overrides",
                    ));
                }
                if let Some(version) = tier_version {
                    validate::required("targetTierVersion", version, 64)?;
                }
                if overrides.as_ref().is_some_and(|o| !o.is_object()) {
                    return Err(DomainError::invalid(
                        "resourceOverrideConfiguration",
                        "must be an object",
                    ));
                }
                Ok(InstanceEvent::InstancePatched {
                    tier_version: tier_version.clone(),
                    overrides: overrides.clone(),
                    upgrade_path_id: None,
                })
            }
            Configuration::RecordInstaller { url } => {
                if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048
                {
                    return Err(DomainError::invalid("url", "must be an http(s) URL"));
                }
                Ok(InstanceEvent::InstanceInstallerRecorded { url: url.clone() })
            }
            Configuration::SetResellerMetadata { metadata } => {
                if !metadata.is_object() {
                    return Err(DomainError::invalid("metadata", "must be a JSON object"));
                }
                if metadata.to_string().len() > MAX_RESELLER_METADATA_BYTES {
                    return Err(DomainError::invalid(
                        "metadata",
                        format!("must be at most {MAX_RESELLER_METADATA_BYTES} bytes of JSON"),
                    ));
                }
                Ok(InstanceEvent::InstanceResellerMetadataSet {
                    metadata: metadata.clone(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::InstanceCommand as C;

    fn created() -> C {
        C::Create {
            spec: Box::new(fleet_events::instance::InstanceSpec {
                name: None,
                service_id: "s".into(),
                plan_id: "p".into(),
                cloud_provider: "aws".into(),
                region: "us-east-1".into(),
                deployment_cell: "hc-1".into(),
                instance_type: "m5.large".into(),
                environment_type: "PROD".into(),
                customer_id: None,
                subscription_id: None,
                restored_from: None,
                adopted: false,
                tier_version: None,
            }),
            capacity: 1,
        }
    }

    fn run(commands: Vec<C>) -> (Instance, Result<InstanceEvent, DomainError>) {
        crate::run_commands::<Instance>(&commands)
    }

    fn patch() -> C {
        C::Configure(Configuration::Patch {
            tier_version: Some("2.0".into()),
            overrides: None,
        })
    }

    #[test]
    fn debug_mode_toggles_and_a_repeat_changes_nothing() {
        let on = || C::Configure(Configuration::SetDebugMode { enabled: true });
        let (state, _) = run(vec![created(), on()]);
        assert!(state.debug_mode);
        assert!(matches!(
            run(vec![created(), on(), on()]).1,
            Err(DomainError::Unchanged { .. })
        ));
    }

    #[test]
    fn a_patch_needs_a_running_instance_and_nothing_configures_a_deleted_one() {
        let refused_in = |result: Result<InstanceEvent, DomainError>| match result {
            Err(DomainError::InvalidState { state, .. }) => state,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(refused_in(run(vec![created(), patch()]).1), "deploying");
        assert!(run(vec![created(), C::MarkReady, patch()]).1.is_ok());
        assert_eq!(
            refused_in(run(vec![created(), C::MarkReady, C::Stop, patch()]).1),
            "stopped"
        );
        let update = C::Configure(Configuration::Update {
            params: None,
            network_type: Some("PUBLIC".into()),
            custom_tags: None,
        });
        assert_eq!(
            refused_in(run(vec![created(), C::Delete, update]).1),
            "deleted"
        );
        let installer = C::Configure(Configuration::RecordInstaller {
            url: "https://get.example/x".into(),
        });
        assert_eq!(
            refused_in(run(vec![created(), C::Delete, installer]).1),
            "deleted"
        );
    }

    #[test]
    fn an_update_is_checked_field_by_field() {
        let update = |network: &str, params: Value| {
            C::Configure(Configuration::Update {
                params: Some(params),
                network_type: Some(network.into()),
                custom_tags: None,
            })
        };
        assert!(matches!(
            run(vec![created(), update("SECRET", serde_json::json!({}))]).1,
            Err(DomainError::Invalid {
                field: "network_type",
                ..
            })
        ));
        assert!(matches!(
            run(vec![created(), update("PUBLIC", serde_json::json!([1]))]).1,
            Err(DomainError::Invalid {
                field: "requestParams",
                ..
            })
        ));
        assert!(run(vec![
            created(),
            update("INTERNAL", serde_json::json!({"a": 1}))
        ])
        .1
        .is_ok());
    }

    #[test]
    fn reseller_metadata_is_an_object_on_a_live_instance() {
        let set = |metadata: Value| C::Configure(Configuration::SetResellerMetadata { metadata });
        assert!(matches!(
            run(vec![created(), set(serde_json::json!({"po": "42"}))]).1,
            Ok(InstanceEvent::InstanceResellerMetadataSet { .. })
        ));
        assert!(matches!(
            run(vec![created(), set(serde_json::json!([1]))]).1,
            Err(DomainError::Invalid {
                field: "metadata",
                ..
            })
        ));
        assert!(matches!(
            run(vec![created(), C::Delete, set(serde_json::json!({}))]).1,
            Err(DomainError::InvalidState { .. })
        ));
    }
}
