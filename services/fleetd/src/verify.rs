//! `fleetd verify audit|invoices|replay`. The audit: recomputes the audit log from the stream and compares it, row by
//! row, with the read model, naming the first row that differs.

use clap::Subcommand;
use fleet_projections::audit_verification::{self, Finding};

use crate::config::Config;

pub mod invoices;
pub mod replay;

#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// Check the audit log's hash chain and its rows against the event stream.
    Audit,
    /// Re-derive every invoice from the streams alone (usage, price book, billing terms) and
    /// compare it with the stream's record and the invoices read model.
    Invoices(invoices::InvoicesArgs),
    /// Rebuild every read model from its stream beside the live one and compare them, table
    /// by table (the live projections must have caught up: stop writing first).
    Replay,
}

pub async fn run(
    config: &Config,
    command: VerifyCommand,
) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        VerifyCommand::Invoices(args) => return invoices::run(config, args).await,
        VerifyCommand::Replay => return replay::run(config).await,
        VerifyCommand::Audit => {}
    }
    match verify_audit(config).await? {
        Finding::Intact { rows, position } => {
            println!(
                "audit: {rows} rows verified up to position {position}; every hash chain is intact"
            );
            Ok(())
        }
        Finding::Differs { sequence, reason } => {
            Err(format!("audit: row {sequence} differs from the event stream: {reason}").into())
        }
    }
}

async fn verify_audit(config: &Config) -> Result<Finding, Box<dyn std::error::Error>> {
    let pool = config.migrated_database().await?;
    let log = config.event_log(config.nats().await?).await?;
    Ok(audit_verification::verify(&pool, &log).await?)
}
