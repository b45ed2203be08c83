//! Summing usage straight from the usage stream, for the ranges invoices bill: what an invoice
//! would have found had it read the stream instead of the usage read model. Verification uses
//! it to re-derive every invoice without trusting a table.
//!
//! A record is counted at its first arrival only (retried batches repeat ids), exactly as the
//! usage projection counts it, so the stream is read from its start.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use chrono::NaiveDate;
use fleet_events::invoice::Coverage;
use fleet_events::jetstream::JetStreamLog;
use fleet_events::usage::UsageEvent;
use fleet_events::LogError;
use fleet_projections::usage::WindowTotal;
use futures::StreamExt;
use rust_decimal::Decimal;

/// Quantities per window start, provider, project, product and subscription. The subscription
/// is kept so a caller can leave out the ones deleted with their charges as of its instant.
pub type Tally = BTreeMap<(NaiveDate, String, String, String, String), Decimal>;

/// The ranges to sum, each belonging to a slot (an invoice, say).
#[derive(Default)]
pub struct Demand {
    by_customer: HashMap<(String, String), Vec<(usize, Coverage)>>,
    slots: usize,
    last: u64,
}

impl Demand {
    pub fn add(&mut self, tenant: &str, customer_id: &str, slot: usize, range: Coverage) {
        self.slots = self.slots.max(slot + 1);
        self.last = self.last.max(range.through);
        self.by_customer
            .entry((tenant.to_owned(), customer_id.to_owned()))
            .or_default()
            .push((slot, range));
    }

    /// The last usage-stream position any range reaches.
    pub fn last(&self) -> u64 {
        self.last
    }
}

/// A record's identity in 128 bits: two independent SipHashes of tenant and id, so millions of
/// ids fit in memory and a collision is not a practical concern.
fn identity(tenant: &str, id: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        (salt, tenant, id).hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// Reads the usage stream from its start to the last position `demand` reaches, and sums each
/// record into every range it falls in: its customer's, by the window of its instant and its
/// position. `progress` is told each position read.
pub async fn tally(
    log: &JetStreamLog,
    demand: &Demand,
    mut progress: impl FnMut(u64),
) -> Result<Vec<Tally>, LogError> {
    let mut tallies = vec![Tally::new(); demand.slots];
    if demand.last == 0 {
        return Ok(tallies);
    }
    let mut seen: HashSet<u128> = HashSet::new();
    let mut messages = log.subscribe_from(1).await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        let position = message.sequence;
        if position > demand.last {
            break;
        }
        progress(position);
        // An unreadable batch was parked by the usage projection: it counted nothing.
        if let Ok(envelope) = message.event {
            if let Ok(UsageEvent::UsageRecorded { records }) = envelope.decode::<UsageEvent>() {
                let tenant = envelope.event.tenant.as_str();
                for record in records {
                    if !seen.insert(identity(tenant, &record.id)) {
                        continue;
                    }
                    let Some(ranges) = demand
                        .by_customer
                        .get(&(tenant.to_owned(), record.customer_id.clone()))
                    else {
                        continue;
                    };
                    let day = record.occurred_at.date_naive();
                    for (slot, range) in ranges {
                        let inside = day >= range.window.start
                            && day < range.window.end
                            && position > range.after
                            && position <= range.through;
                        if inside {
                            let key = (
                                range.window.start,
                                record.provider_id.clone().unwrap_or_default(),
                                record.project_id.clone().unwrap_or_default(),
                                record.product.clone(),
                                record.subscription_id.clone(),
                            );
                            *tallies[*slot].entry(key).or_default() += record.quantity;
                        }
                    }
                }
            }
        }
        if position == demand.last || message.pending == 0 {
            break;
        }
    }
    Ok(tallies)
}

/// A tally summed over subscriptions, leaving out the `excluded` ones, optionally only for the
/// windows starting on one of `windows`.
pub fn quantities(
    tally: &Tally,
    excluded: &HashSet<String>,
    windows: Option<&HashSet<NaiveDate>>,
) -> Vec<WindowTotal> {
    let mut summed: BTreeMap<(NaiveDate, &str, &str, &str), Decimal> = BTreeMap::new();
    for ((window, provider, project, product, subscription), quantity) in tally {
        if excluded.contains(subscription) || windows.is_some_and(|w| !w.contains(window)) {
            continue;
        }
        *summed
            .entry((*window, provider, project, product))
            .or_default() += *quantity;
    }
    summed
        .into_iter()
        .map(
            |((window_start, provider, project, product), quantity)| WindowTotal {
                window_start,
                provider_id: provider.to_owned(),
                project_id: project.to_owned(),
                product: product.to_owned(),
                quantity,
            },
        )
        .collect()
}
