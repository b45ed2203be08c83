//! `fleetd verify audit|invoices|replay`. The audit: recomputes the audit log from the stream and compares it, row by
//! row, with the read model, naming the first row that differs.

use clap::Subcommand;
use fleet_events::EventLog;
use fleet_projections::audit::{AuditRow, AuditTrail, COLUMNS};
use fleet_projections::checkpoint;
use futures::StreamExt;

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

#[derive(Debug, PartialEq, Eq)]
pub enum Finding {
    Intact { rows: u64, position: u64 },
    Differs { sequence: i64, reason: String },
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
    let position = checkpoint::read(&pool, fleet_projections::audit::NAME).await?;
    let end = position.min(log.last_sequence().await?);

    let sql = format!("SELECT {COLUMNS} FROM audit.events WHERE sequence <= $1 ORDER BY sequence");
    let mut rows = sqlx::query_as::<_, AuditRow>(&sql)
        .bind(end as i64)
        .fetch(&pool)
        .peekable();
    let mut trail = AuditTrail::default();
    let mut verified = 0;
    if end > 0 {
        let mut events = log.subscribe_from(1).await?;
        while let Some(message) = events.next().await {
            let message = message?;
            if message.sequence > end {
                break;
            }
            // An unreadable message was parked by the projection: it has no row.
            let Ok(event) = message.event else {
                if message.sequence == end {
                    break;
                }
                continue;
            };
            let expected = trail.row(&event);
            let sequence = expected.sequence;
            if let Some(Ok(row)) = std::pin::Pin::new(&mut rows).peek().await {
                if row.sequence < sequence {
                    return Ok(Finding::Differs {
                        sequence: row.sequence,
                        reason: "the row is not in the event stream".into(),
                    });
                }
            }
            match rows.next().await {
                Some(Ok(row)) if row.sequence == sequence => {
                    if row.hash != row.computed_hash() {
                        return Ok(Finding::Differs {
                            sequence,
                            reason: "its hash does not match its contents".into(),
                        });
                    }
                    if let Some(column) = expected.first_difference(&row) {
                        return Ok(Finding::Differs {
                            sequence,
                            reason: format!("column {column}"),
                        });
                    }
                    verified += 1;
                }
                Some(Ok(_)) | None => {
                    return Ok(Finding::Differs {
                        sequence,
                        reason: "the row is missing".into(),
                    })
                }
                Some(Err(e)) => return Err(e.into()),
            }
            if message.sequence == end {
                break;
            }
        }
    }
    if let Some(row) = rows.next().await {
        let row = row?;
        return Ok(Finding::Differs {
            sequence: row.sequence,
            reason: "the row is not in the event stream".into(),
        });
    }
    Ok(Finding::Intact {
        rows: verified,
        position: end,
    })
}
