//! The event contract of Fleetledger and the log that stores it.
//!
//! Everything another system may rely on lives here: the [`EventEnvelope`], the subject naming
//! ([`subject`]), one module per aggregate with its versioned events, and the [`EventLog`] trait
//! with its JetStream implementation (production) and an in-memory one (unit tests).

pub mod account_config;
pub mod acknowledgement;
pub mod cost;
pub mod custom_dns;
pub mod customer;
pub mod envelope;
pub mod host_cluster;
pub mod inbound_hook;
pub mod instance;
pub mod invoice;
pub mod jetstream;
pub mod log;
pub mod memory;
pub mod network_space;
pub mod notification_channel;
pub mod offering;
pub mod onboarding;
pub mod orchestration;
pub mod order;
pub mod price_book;
pub mod project;
pub mod resource;
pub mod schemas;
pub mod snapshot;
pub mod subject;
pub mod subscription;
pub mod subscription_request;
pub mod upgrade_path;
pub mod usage;
pub mod user;
pub mod workflow;

pub use envelope::{Actor, DomainEvent, EventDecodeError, EventEnvelope, NewEvent};
pub use log::{AppendError, Appended, EventLog, LogError};
pub use subject::{Namespace, NamingError, Tenant};
