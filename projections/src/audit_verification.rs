//! The audit log checked against the stream it was built from: every row recomputed from its
//! event, its hash from its contents, in order, up to the projection's checkpoint. Used by
//! `fleetd verify audit` and by the API's verification endpoint (the console's badge).

use futures::StreamExt;
use sqlx::PgPool;

use fleet_events::jetstream::JetStreamLog;
use fleet_events::EventLog;

use crate::audit::{AuditRow, AuditTrail, COLUMNS, NAME};
use crate::checkpoint;
use crate::engine::EngineError;

#[derive(Debug, PartialEq, Eq)]
pub enum Finding {
    Intact { rows: u64, position: u64 },
    Differs { sequence: i64, reason: String },
}

pub async fn verify(pool: &PgPool, log: &JetStreamLog) -> Result<Finding, EngineError> {
    let position = checkpoint::read(pool, NAME).await?;
    let end = position.min(log.last_sequence().await?);

    let sql = format!("SELECT {COLUMNS} FROM audit.events WHERE sequence <= $1 ORDER BY sequence");
    let mut rows = sqlx::query_as::<_, AuditRow>(&sql)
        .bind(end as i64)
        .fetch(pool)
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
