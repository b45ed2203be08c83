//! `fleetd verify invoices`: re-derives every invoice from the two streams alone and compares
//! it with the invoice as recorded in the stream and as the invoices read model holds it.
//!
//! Three ordered passes, each streaming:
//! 1. the domain stream's invoices: which usage ranges each one bills (its coverage);
//! 2. the usage stream from its start: every record counted once, summed into those ranges;
//! 3. the domain stream again, keeping the price book, the customers' billing terms, the
//!    subscriptions deleted with their charges and the live invoices as they stood at each
//!    instant; at each `InvoiceGenerated` the invoice is rated again with exactly that state
//!    and compared.
//!
//! Nothing is read from a read model until the comparison, so an edited price or invoice row
//! shows up either as a recorded invoice that its own inputs do not produce, or as a read model
//! row that differs from the stream.

use std::collections::{BTreeSet, HashMap, HashSet};

use fleet_app::invoice_diff::{first_difference, Stated};
use fleet_app::invoicing::{self, compose};
use fleet_app::price_history::PriceHistory;
use fleet_app::rater::{PriceSource, Rater};
use fleet_app::usage_tally::{self, Demand};
use fleet_domain::customer::Customer;
use fleet_domain::Aggregate;
use fleet_events::customer::CustomerEvent;
use fleet_events::invoice::{Coverage, InvoiceDocument, InvoiceEvent, InvoiceTotals, Period};
use fleet_events::jetstream::{JetStreamLog, StreamedEvent};
use fleet_events::price_book::PriceBookEvent;
use fleet_events::subscription::SubscriptionEvent;
use fleet_events::{EventEnvelope, EventLog, LogError};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::Config;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct InvoicesArgs {
    /// Only this tenant's invoices.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only this customer's invoices (its other invoices are still read: they decide what a
    /// later invoice bills).
    #[arg(long)]
    pub customer: Option<String>,
    /// Only the invoices of the billing period that starts in this month (YYYY-MM).
    #[arg(long, value_parser = parse_month)]
    pub period: Option<Period>,
}

fn parse_month(text: &str) -> Result<Period, String> {
    invoicing::month(text).ok_or_else(|| "must be a month written YYYY-MM".to_owned())
}

/// An invoice the stream holds, and what it bills.
struct Recorded {
    id: Uuid,
    tenant: String,
    customer_id: String,
    period: Period,
    coverage: Vec<Coverage>,
    /// Within the filters: compared, not only read.
    checked: bool,
}

/// An invoice that differs, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub invoice_id: Uuid,
    pub customer_id: String,
    pub period: Period,
    /// `stream` when the recorded invoice is not what its inputs give, `read model` when the
    /// invoices table differs from the stream.
    pub source: &'static str,
    pub what: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invoice {} (customer {}, {} to {}) in the {}: {}",
            self.invoice_id,
            self.customer_id,
            self.period.start,
            self.period.last_day(),
            self.source,
            self.what
        )
    }
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub verified: u64,
    pub usage_position: u64,
    pub differences: Vec<Difference>,
}

/// Differences named in full; beyond them only counted.
const NAMED: usize = 10;

pub async fn run(config: &Config, args: InvoicesArgs) -> Result<(), Box<dyn std::error::Error>> {
    let outcome = verify_invoices(config, &args).await?;
    if outcome.differences.is_empty() {
        println!(
            "invoices: {} verified against the streams (usage up to position {}); every line and \
             total re-derives to the cent",
            outcome.verified, outcome.usage_position
        );
        return Ok(());
    }
    for difference in outcome.differences.iter().take(NAMED) {
        eprintln!("{difference}");
    }
    Err(format!(
        "invoices: {} of {} differ from what the streams give; the first: {}",
        outcome.differences.len(),
        outcome.verified,
        outcome.differences[0]
    )
    .into())
}

pub async fn verify_invoices(
    config: &Config,
    args: &InvoicesArgs,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let pool = config.migrated_database().await?;
    let streams = config.streams(config.nats().await?).await?;
    let end = streams.domain.last_sequence().await?;
    let style =
        ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")?
            .progress_chars("=> ");
    let bar = |message: &'static str, length: u64| {
        let bar = ProgressBar::new(length).with_style(style.clone());
        bar.set_message(message);
        bar
    };

    let progress = bar("invoices", end);
    let invoices = recorded_invoices(&streams.domain, end, args, &progress).await?;
    progress.finish();
    let slots: HashMap<Uuid, usize> = invoices
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id, i))
        .collect();

    let mut demand = Demand::default();
    for (slot, invoice) in invoices.iter().enumerate() {
        for range in &invoice.coverage {
            demand.add(&invoice.tenant, &invoice.customer_id, slot, *range);
        }
    }
    let progress = bar("usage", demand.last());
    let tallies = usage_tally::tally(&streams.usage, &demand, |p| progress.set_position(p)).await?;
    progress.finish();

    let progress = bar("re-rating", end);
    let mut replay = Replay::new(&invoices, &slots, &tallies);
    let mut outcome = Outcome {
        usage_position: demand.last(),
        ..Outcome::default()
    };
    let wanted: fleet_events::jetstream::Wanted = std::sync::Arc::new(|aggregate_type: &str| {
        [
            fleet_events::price_book::AGGREGATE_TYPE,
            fleet_events::customer::AGGREGATE_TYPE,
            fleet_events::subscription::AGGREGATE_TYPE,
            fleet_events::invoice::AGGREGATE_TYPE,
        ]
        .contains(&aggregate_type)
    });
    let mut checked = Vec::new();
    let mut events = Bounded::open(&streams.domain, end, wanted, &progress).await?;
    while let Some(envelope) = events.next().await? {
        if let Some(result) = replay.apply(&envelope).await {
            checked.push(result);
        }
    }
    progress.finish();

    // Whatever the stream shows wrong is named first; the read model is compared with what
    // the inputs give, so an invoice wrong in both is reported once, from the stream.
    let mut against_read_model = Vec::with_capacity(checked.len());
    for check in checked {
        outcome.verified += 1;
        match check.difference {
            Some(difference) => outcome.differences.push(difference),
            None => against_read_model.push(check.derived),
        }
    }
    for chunk in against_read_model.chunks(500) {
        outcome
            .differences
            .extend(compare_read_model(&pool, chunk).await?);
    }
    Ok(outcome)
}

/// The domain stream's messages up to `end`, decoded where `wanted`, with progress shown.
struct Bounded<'a> {
    messages: Option<futures::stream::BoxStream<'static, Result<StreamedEvent, LogError>>>,
    end: u64,
    progress: &'a ProgressBar,
}

impl<'a> Bounded<'a> {
    async fn open(
        log: &JetStreamLog,
        end: u64,
        wanted: fleet_events::jetstream::Wanted,
        progress: &'a ProgressBar,
    ) -> Result<Self, LogError> {
        let messages = match end {
            0 => None,
            _ => Some(log.subscribe_wanted(1, wanted).await?),
        };
        Ok(Self {
            messages,
            end,
            progress,
        })
    }

    /// The next event wanted and readable; `None` past `end`.
    async fn next(&mut self) -> Result<Option<EventEnvelope>, LogError> {
        while let Some(messages) = self.messages.as_mut() {
            let Some(message) = messages.next().await else {
                break;
            };
            let StreamedEvent {
                sequence, event, ..
            } = message?;
            if sequence >= self.end {
                self.messages = None;
            }
            if sequence > self.end {
                break;
            }
            self.progress.set_position(sequence);
            if let Ok(envelope) = event {
                return Ok(Some(envelope));
            }
        }
        Ok(None)
    }
}

async fn recorded_invoices(
    log: &JetStreamLog,
    end: u64,
    args: &InvoicesArgs,
    progress: &ProgressBar,
) -> Result<Vec<Recorded>, LogError> {
    let wanted: fleet_events::jetstream::Wanted =
        std::sync::Arc::new(|t: &str| t == fleet_events::invoice::AGGREGATE_TYPE);
    let mut invoices = Vec::new();
    let mut events = Bounded::open(log, end, wanted, progress).await?;
    while let Some(envelope) = events.next().await? {
        let Ok(InvoiceEvent::InvoiceGenerated { invoice }) = envelope.decode::<InvoiceEvent>()
        else {
            continue;
        };
        let tenant = &envelope.event.tenant;
        let Ok(id) = Uuid::parse_str(&envelope.event.aggregate_id) else {
            continue;
        };
        let of_tenant = args.tenant.as_ref().is_none_or(|t| t == tenant);
        let of_customer = args
            .customer
            .as_ref()
            .is_none_or(|c| *c == invoice.customer_id);
        if !(of_tenant && of_customer) {
            continue;
        }
        invoices.push(Recorded {
            id,
            tenant: tenant.clone(),
            customer_id: invoice.customer_id.clone(),
            period: invoice.period,
            coverage: invoice.coverage.clone(),
            checked: args.period.is_none_or(|p| p.start == invoice.period.start),
        });
    }
    Ok(invoices)
}

/// An invoice as the streams give it.
struct Derived {
    id: Uuid,
    customer_id: String,
    period: Period,
    currency: String,
    lines: Vec<fleet_events::invoice::InvoiceLine>,
    totals: InvoiceTotals,
}

struct Checked {
    derived: Derived,
    difference: Option<Difference>,
}

/// The state the third pass keeps, as of the event it is at.
struct Replay<'a> {
    invoices: &'a [Recorded],
    slots: &'a HashMap<Uuid, usize>,
    tallies: &'a [usage_tally::Tally],
    /// Only the customers that have invoices are followed.
    followed: HashSet<(String, String)>,
    books: HashMap<String, PriceHistory>,
    customers: HashMap<(String, String), Customer>,
    deleted_subscriptions: HashMap<String, HashSet<String>>,
    /// Per customer, the slots of its invoices that are neither void nor deleted.
    live: HashMap<(String, String), BTreeSet<usize>>,
}

impl<'a> Replay<'a> {
    fn new(
        invoices: &'a [Recorded],
        slots: &'a HashMap<Uuid, usize>,
        tallies: &'a [usage_tally::Tally],
    ) -> Self {
        Self {
            invoices,
            slots,
            tallies,
            followed: invoices
                .iter()
                .map(|i| (i.tenant.clone(), i.customer_id.clone()))
                .collect(),
            books: HashMap::new(),
            customers: HashMap::new(),
            deleted_subscriptions: HashMap::new(),
            live: HashMap::new(),
        }
    }

    /// Takes one event into the state; for an invoice to check, answers how it compares.
    async fn apply(&mut self, envelope: &EventEnvelope) -> Option<Checked> {
        let event = &envelope.event;
        let tenant = event.tenant.clone();
        match event.aggregate_type.as_str() {
            fleet_events::price_book::AGGREGATE_TYPE => {
                if let Ok(e) = envelope.decode::<PriceBookEvent>() {
                    self.books.entry(tenant).or_default().apply(&e);
                }
                None
            }
            fleet_events::customer::AGGREGATE_TYPE => {
                let key = (tenant, event.aggregate_id.clone());
                if self.followed.contains(&key) {
                    if let Ok(e) = envelope.decode::<CustomerEvent>() {
                        self.customers.entry(key).or_default().evolve(&e);
                    }
                }
                None
            }
            fleet_events::subscription::AGGREGATE_TYPE => {
                if let Ok(SubscriptionEvent::SubscriptionDeleted {}) =
                    envelope.decode::<SubscriptionEvent>()
                {
                    self.deleted_subscriptions
                        .entry(tenant)
                        .or_default()
                        .insert(event.aggregate_id.clone());
                }
                None
            }
            _ => self.invoice_event(envelope).await,
        }
    }

    async fn invoice_event(&mut self, envelope: &EventEnvelope) -> Option<Checked> {
        let id = Uuid::parse_str(&envelope.event.aggregate_id).ok()?;
        let slot = *self.slots.get(&id)?;
        let recorded = &self.invoices[slot];
        let key = (recorded.tenant.clone(), recorded.customer_id.clone());
        match envelope.decode::<InvoiceEvent>().ok()? {
            InvoiceEvent::InvoiceGenerated { invoice } => {
                let checked = match recorded.checked {
                    true => Some(self.check(slot, &invoice).await),
                    false => None,
                };
                self.live.entry(key).or_default().insert(slot);
                checked
            }
            InvoiceEvent::InvoiceVoided { .. } | InvoiceEvent::InvoiceDeleted {} => {
                if let Some(live) = self.live.get_mut(&key) {
                    live.remove(&slot);
                }
                None
            }
            _ => None,
        }
    }

    /// Rates the invoice in `slot` again with the state as it stands, and compares it with
    /// `recorded`.
    async fn check(&self, slot: usize, recorded: &InvoiceDocument) -> Checked {
        let invoice = &self.invoices[slot];
        let key = (invoice.tenant.clone(), invoice.customer_id.clone());
        let derived = self.derive(slot).await.map_err(|e| e.to_string());
        let difference = |what: String| Difference {
            invoice_id: invoice.id,
            customer_id: invoice.customer_id.clone(),
            period: invoice.period,
            source: "stream",
            what,
        };
        let (derived, what) = match derived {
            Ok(derived) => {
                let what = first_difference(
                    &Stated {
                        currency: &derived.currency,
                        lines: &derived.lines,
                        totals: &derived.totals,
                    },
                    &Stated {
                        currency: &recorded.currency,
                        lines: &recorded.lines,
                        totals: &recorded.totals,
                    },
                );
                let bill_to = self
                    .customers
                    .get(&key)
                    .and_then(|c| c.profile.as_ref())
                    .map(|p| (p.name.as_str(), p.email.as_str()));
                let addressed = bill_to
                    .filter(|b| {
                        *b != (
                            recorded.bill_to.name.as_str(),
                            recorded.bill_to.email.as_str(),
                        )
                    })
                    .map(|(name, email)| {
                        format!(
                            "it is addressed to {} <{}>, the customer was {name} <{email}>",
                            recorded.bill_to.name, recorded.bill_to.email
                        )
                    });
                (derived, what.or(addressed))
            }
            Err(reason) => (
                // What cannot be derived is compared with nothing: it is the difference.
                Derived {
                    id: invoice.id,
                    customer_id: invoice.customer_id.clone(),
                    period: invoice.period,
                    currency: recorded.currency.clone(),
                    lines: recorded.lines.clone(),
                    totals: recorded.totals.clone(),
                },
                Some(format!("it cannot be re-derived: {reason}")),
            ),
        };
        Checked {
            derived,
            difference: what.map(difference),
        }
    }

    async fn derive(&self, slot: usize) -> Result<Derived, fleet_app::AppError> {
        let invoice = &self.invoices[slot];
        let key = (invoice.tenant.clone(), invoice.customer_id.clone());
        let empty = HashSet::new();
        let excluded = self
            .deleted_subscriptions
            .get(&invoice.tenant)
            .unwrap_or(&empty);
        let live = self.live.get(&key);
        let windows: BTreeSet<Period> = std::iter::once(invoice.period)
            .chain(live.into_iter().flatten().map(|s| self.invoices[*s].period))
            .collect();
        let quantities = usage_tally::quantities(&self.tallies[slot], excluded, None);
        let topped_up: HashSet<chrono::NaiveDate> =
            quantities.iter().map(|q| q.window_start).collect();
        let mut billed = invoicing::Billed::new();
        for other in live.into_iter().flatten() {
            for q in usage_tally::quantities(&self.tallies[*other], excluded, Some(&topped_up)) {
                *billed
                    .entry((q.window_start, q.provider_id, q.project_id, q.product))
                    .or_insert(Decimal::ZERO) += q.quantity;
            }
        }
        let terms = self
            .customers
            .get(&key)
            .and_then(|c| c.billing.clone())
            .unwrap_or_default();
        let no_book = PriceHistory::default();
        let book = self.books.get(&invoice.tenant).unwrap_or(&no_book);
        let mut rater = Rater::new(PriceSource::Recorded(book), terms.currency.as_deref()).await?;
        let composed = compose(
            &mut rater,
            invoice.period,
            &windows,
            quantities,
            &billed,
            &terms,
        )
        .await?;
        Ok(Derived {
            id: invoice.id,
            customer_id: invoice.customer_id.clone(),
            period: invoice.period,
            currency: rater.currency.code().to_owned(),
            lines: composed.lines,
            totals: composed.totals,
        })
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    currency: String,
    subtotal: Decimal,
    discount_total: Decimal,
    tax_total: Decimal,
    total: Decimal,
    document: sqlx::types::Json<InvoiceDocument>,
}

/// Compares the invoices read model's rows with what the streams give.
async fn compare_read_model(
    pool: &PgPool,
    derived: &[Derived],
) -> Result<Vec<Difference>, sqlx::Error> {
    let ids: Vec<Uuid> = derived.iter().map(|d| d.id).collect();
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, currency, subtotal, discount_total, tax_total, total, document
         FROM invoices.invoices WHERE id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let rows: HashMap<Uuid, Row> = rows.into_iter().map(|r| (r.id, r)).collect();
    let mut differences = Vec::new();
    for d in derived {
        let what = match rows.get(&d.id) {
            None => Some("the row is missing".to_owned()),
            Some(row) => {
                let columns = [
                    ("subtotal", row.subtotal, d.totals.subtotal),
                    (
                        "discount_total",
                        row.discount_total,
                        d.totals.discount_total,
                    ),
                    ("tax_total", row.tax_total, d.totals.tax_total),
                    ("total", row.total, d.totals.total),
                ];
                let column = columns
                    .iter()
                    .find(|(_, stated, derived)| stated != derived)
                    .map(|(name, stated, derived)| {
                        format!("column {name} is {stated}, re-derived {derived}")
                    });
                column.or_else(|| {
                    first_difference(
                        &Stated {
                            currency: &d.currency,
                            lines: &d.lines,
                            totals: &d.totals,
                        },
                        &Stated {
                            currency: &row.currency,
                            lines: &row.document.lines,
                            totals: &row.document.totals,
                        },
                    )
                })
            }
        };
        if let Some(what) = what {
            differences.push(Difference {
                invoice_id: d.id,
                customer_id: d.customer_id.clone(),
                period: d.period,
                source: "read model",
                what,
            });
        }
    }
    Ok(differences)
}
