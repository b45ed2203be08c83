//! The marketplace resource aggregate (Waldur's provider resource): what a customer's project
//! runs of an offering's plan. Orders drive its transitioning states; the provider sets its
//! identifiers, flags, limits and reports directly, and reports its usage per component.
//!
//! ```text
//! Creating ──create order done / set_as_ok──► OK ──update order executing──► Updating
//!    │                                         ▲ ◄──update order done / set_as_ok─┘
//!    │ create order rejected                   │
//!    ▼                                         │ set_as_ok
//! Terminated ◄─terminate order done─ Terminating ◄─terminate order executing─ OK | Erred
//! (any live state) ──set_as_erred / order failed──► Erred
//! ```
//!
//! It is its own aggregate, not a view of an instance and a subscription: its states, its
//! orders and its provider-set fields have no counterpart there, and folding them into the
//! instance would give every instance a second lifecycle. Its usage reaches the usage stream
//! like any other (subscription = the resource), so it is rated, costed and invoiced to the
//! project's customer by the same code.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

pub use fleet_events::resource::{ComponentUsage, ReportSection, ResourceEvent};

use crate::{validate, Aggregate, DomainError};

/// The resource's state, named as the marketplace names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResourceState {
    #[default]
    Creating,
    Ok,
    Erred,
    Updating,
    Terminating,
    Terminated,
}

impl ResourceState {
    pub const ALL: [ResourceState; 6] = [
        Self::Creating,
        Self::Ok,
        Self::Erred,
        Self::Updating,
        Self::Terminating,
        Self::Terminated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "Creating",
            Self::Ok => "OK",
            Self::Erred => "Erred",
            Self::Updating => "Updating",
            Self::Terminating => "Terminating",
            Self::Terminated => "Terminated",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(value))
    }

    /// Waldur's integer code, which its lists sort by.
    pub fn code(self) -> i16 {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0) as i16 + 1
    }
}

/// The kinds of order.
pub const CREATE: &str = "Create";
pub const UPDATE: &str = "Update";
pub const TERMINATE: &str = "Terminate";

/// The flags a provider's staff sets.
pub const FLAGS: [&str; 3] = ["paused", "downscaled", "restrict_member_access"];

/// How far ahead a provider must set an end date (the consumer is given a week's notice).
pub const PROVIDER_END_DATE_NOTICE_DAYS: i64 = 7;

#[derive(Debug, Clone)]
pub enum ResourceCommand {
    Request {
        order_id: String,
        offering_id: String,
        plan_id: Option<String>,
        project_id: String,
        customer_id: String,
        name: String,
        description: String,
        attributes: Value,
        limits: BTreeMap<String, i64>,
    },
    /// An Update or Terminate order is to be placed: the resource must allow it.
    OpenOrder {
        order_id: String,
        kind: String,
        attributes: Value,
        limits: Option<BTreeMap<String, i64>>,
        options: Option<Value>,
        plan_id: Option<String>,
        request_comment: Option<String>,
        consumer_review: bool,
    },
    StartOrder {
        order_id: String,
    },
    CompleteOrder {
        order_id: String,
        limits: Option<BTreeMap<String, i64>>,
        options: Option<Value>,
        plan_id: Option<String>,
    },
    AbandonOrder {
        order_id: String,
        outcome: String,
    },
    FailOrder {
        order_id: String,
        error_message: String,
        error_traceback: String,
    },
    MarkErred {
        error_message: String,
        error_traceback: String,
    },
    MarkOk,
    ChangeDetails {
        name: Option<String>,
        description: Option<String>,
        end_date: Option<Option<NaiveDate>>,
        today: NaiveDate,
    },
    SetEndDate {
        end_date: Option<NaiveDate>,
        /// `provider` or `staff`.
        by: String,
        requested_by: String,
        today: NaiveDate,
    },
    SetBackendId(String),
    SetBackendMetadata(Value),
    SetFlag {
        flag: &'static str,
        value: bool,
    },
    SetSlug(String),
    SubmitReport(Vec<ReportSection>),
    SetLimits(BTreeMap<String, i64>),
    SetOptions(Value),
    Sync {
        at: DateTime<Utc>,
    },
    RequestPull,
    Move {
        project_id: String,
        customer_id: String,
    },
    Unlink,
    /// Amounts per component for the month of `occurred_at`; each replaces what that month had.
    ReportUsage {
        occurred_at: DateTime<Utc>,
        usages: Vec<(String, Decimal, String, bool)>,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resource {
    pub created: bool,
    pub unlinked: bool,
    pub state: ResourceState,
    pub offering_id: String,
    pub plan_id: Option<String>,
    pub project_id: String,
    pub customer_id: String,
    pub name: String,
    pub description: String,
    pub slug: String,
    pub backend_id: String,
    pub backend_metadata: Value,
    pub limits: BTreeMap<String, i64>,
    pub options: Value,
    pub report: Vec<ReportSection>,
    pub end_date: Option<NaiveDate>,
    pub flags: BTreeMap<String, bool>,
    pub error_message: String,
    pub error_traceback: String,
    pub creation_order: Option<String>,
    /// The order being carried out, with its kind.
    pub order_in_progress: Option<(String, String)>,
    /// What each (billing period, component) has counted so far.
    pub usage: BTreeMap<(NaiveDate, String), Decimal>,
}

fn unchanged(detail: impl Into<String>) -> DomainError {
    DomainError::Unchanged {
        detail: detail.into(),
    }
}

/// The first day of the month of `at`: the billing period a usage report belongs to.
pub fn billing_period(at: DateTime<Utc>) -> NaiveDate {
    let day = at.date_naive();
    day.with_day(1).unwrap_or(day)
}

/// Merges `new` into `old` key by key, as an options change does.
fn merged(old: &Value, new: &Value) -> Value {
    let mut out = match old {
        Value::Object(map) => map.clone(),
        _ => Default::default(),
    };
    if let Value::Object(map) = new {
        for (k, v) in map {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

impl Resource {
    fn refuse(&self, action: &'static str) -> DomainError {
        DomainError::InvalidState {
            aggregate: "resource",
            action,
            state: self.state.as_str().into(),
        }
    }

    /// Direct changes apply to a resource that is not terminated.
    fn live(&self, action: &'static str) -> Result<(), DomainError> {
        if self.state == ResourceState::Terminated {
            Err(self.refuse(action))
        } else {
            Ok(())
        }
    }

    fn in_progress(&self, order_id: &str) -> Option<&str> {
        self.order_in_progress
            .as_ref()
            .filter(|(id, _)| id == order_id)
            .map(|(_, kind)| kind.as_str())
    }

    fn decide_order_step(&self, command: &ResourceCommand) -> Result<ResourceEvent, DomainError> {
        use ResourceCommand as C;
        use ResourceState as S;
        let order_id = match command {
            C::StartOrder { order_id }
            | C::CompleteOrder { order_id, .. }
            | C::AbandonOrder { order_id, .. }
            | C::FailOrder { order_id, .. } => order_id,
            _ => unreachable!("only order steps"),
        };
        // A step of another order, or one applied already: a retry, or a stale order.
        let Some(kind) = self.in_progress(order_id) else {
            return Err(unchanged(format!(
                "order {order_id} is not the resource's order in progress"
            )));
        };
        Ok(match command {
            C::StartOrder { .. } => {
                let target = match kind {
                    UPDATE => S::Updating,
                    TERMINATE => S::Terminating,
                    _ => S::Creating,
                };
                if self.state == target {
                    return Err(unchanged("the order has started already"));
                }
                ResourceEvent::ResourceOrderStarted {
                    order_id: order_id.clone(),
                }
            }
            C::CompleteOrder {
                limits,
                options,
                plan_id,
                ..
            } => ResourceEvent::ResourceOrderCompleted {
                order_id: order_id.clone(),
                limits: limits.clone(),
                options: options.clone(),
                plan_id: plan_id.clone(),
            },
            C::AbandonOrder { outcome, .. } => ResourceEvent::ResourceOrderAbandoned {
                order_id: order_id.clone(),
                outcome: outcome.clone(),
            },
            C::FailOrder {
                error_message,
                error_traceback,
                ..
            } => ResourceEvent::ResourceErred {
                error_message: error_message.clone(),
                error_traceback: error_traceback.clone(),
                order_id: Some(order_id.clone()),
            },
            _ => unreachable!("only order steps"),
        })
    }
}

fn check_limits(limits: &BTreeMap<String, i64>) -> Result<(), DomainError> {
    for (component, amount) in limits {
        validate::required("limits", component, 255)?;
        if *amount < 0 {
            return Err(DomainError::invalid(
                "limits",
                format!("{component} must not be negative"),
            ));
        }
    }
    Ok(())
}

impl Aggregate for Resource {
    const TYPE: &'static str = fleet_events::resource::AGGREGATE_TYPE;
    type Command = ResourceCommand;
    type Event = ResourceEvent;

    fn decide(&self, command: &ResourceCommand) -> Result<ResourceEvent, DomainError> {
        use ResourceCommand as C;
        use ResourceState as S;
        if let C::Request {
            order_id,
            offering_id,
            plan_id,
            project_id,
            customer_id,
            name,
            description,
            attributes,
            limits,
        } = command
        {
            if self.created {
                return Err(DomainError::AlreadyExists {
                    aggregate: Self::TYPE,
                });
            }
            validate::required("name", name, 150)?;
            validate::optional("description", Some(description), 2000)?;
            check_limits(limits)?;
            return Ok(ResourceEvent::ResourceRequested {
                order_id: order_id.clone(),
                offering_id: offering_id.clone(),
                plan_id: plan_id.clone(),
                project_id: project_id.clone(),
                customer_id: customer_id.clone(),
                name: name.clone(),
                description: description.clone(),
                attributes: attributes.clone(),
                limits: limits.clone(),
            });
        }
        if !self.exists() {
            return Err(DomainError::NotFound {
                aggregate: "resource",
            });
        }
        Ok(match command {
            C::Request { .. } => unreachable!("handled above"),
            C::OpenOrder {
                order_id,
                kind,
                attributes,
                limits,
                options,
                plan_id,
                request_comment,
                consumer_review,
            } => {
                let allowed = match kind.as_str() {
                    TERMINATE => matches!(self.state, S::Ok | S::Erred),
                    UPDATE => self.state == S::Ok,
                    _ => return Err(DomainError::invalid("type", "must be Update or Terminate")),
                };
                if !allowed {
                    return Err(self.refuse(if kind == TERMINATE {
                        "terminate"
                    } else {
                        "update"
                    }));
                }
                if let Some((pending, _)) = &self.order_in_progress {
                    return Err(DomainError::InvalidState {
                        aggregate: "resource",
                        action: "order a change of",
                        state: format!("{} with order {pending} in progress", self.state.as_str()),
                    });
                }
                if let Some(limits) = limits {
                    check_limits(limits)?;
                    if *limits == self.limits {
                        return Err(DomainError::invalid(
                            "limits",
                            "are the resource's limits already",
                        ));
                    }
                }
                ResourceEvent::ResourceOrderOpened {
                    order_id: order_id.clone(),
                    kind: kind.clone(),
                    attributes: attributes.clone(),
                    limits: limits.clone(),
                    options: options.clone(),
                    plan_id: plan_id.clone(),
                    request_comment: request_comment.clone(),
                    consumer_review: *consumer_review,
                }
            }
            C::StartOrder { .. }
            | C::CompleteOrder { .. }
            | C::AbandonOrder { .. }
            | C::FailOrder { .. } => self.decide_order_step(command)?,
            C::MarkErred {
                error_message,
                error_traceback,
            } => {
                self.live("set as erred")?;
                if self.state == S::Erred
                    && self.error_message == *error_message
                    && self.error_traceback == *error_traceback
                {
                    return Err(unchanged("the resource is erred already"));
                }
                ResourceEvent::ResourceErred {
                    error_message: error_message.clone(),
                    error_traceback: error_traceback.clone(),
                    order_id: None,
                }
            }
            C::MarkOk => {
                if !matches!(
                    self.state,
                    S::Erred | S::Creating | S::Updating | S::Terminating
                ) {
                    return Err(self.refuse("set as OK"));
                }
                ResourceEvent::ResourceMarkedOk {}
            }
            C::ChangeDetails {
                name,
                description,
                end_date,
                today,
            } => {
                self.live("update")?;
                if let Some(name) = name {
                    validate::required("name", name, 150)?;
                }
                if let Some(description) = description {
                    validate::optional("description", Some(description), 2000)?;
                }
                if let Some(Some(date)) = end_date {
                    if date < today {
                        return Err(DomainError::invalid(
                            "end_date",
                            "Cannot be earlier than the current date.",
                        ));
                    }
                }
                let name = name.clone().filter(|n| *n != self.name);
                let description = description.clone().filter(|d| *d != self.description);
                let end_date = end_date.filter(|d| *d != self.end_date);
                if name.is_none() && description.is_none() && end_date.is_none() {
                    return Err(unchanged("Resource is not changed."));
                }
                ResourceEvent::ResourceDetailsChanged {
                    name,
                    description,
                    end_date,
                }
            }
            C::SetEndDate {
                end_date,
                by,
                requested_by,
                today,
            } => {
                self.live("set the end date of")?;
                if let Some(date) = end_date {
                    let earliest = if by == "provider" {
                        *today + Duration::days(PROVIDER_END_DATE_NOTICE_DAYS)
                    } else {
                        *today
                    };
                    if *date < earliest {
                        let reason = if by == "provider" {
                            format!(
                                "Please set at least {PROVIDER_END_DATE_NOTICE_DAYS} days in advance."
                            )
                        } else {
                            "Cannot be earlier than the current date.".to_owned()
                        };
                        return Err(DomainError::invalid("end_date", reason));
                    }
                }
                ResourceEvent::ResourceEndDateSet {
                    end_date: *end_date,
                    by: by.clone(),
                    requested_by: requested_by.clone(),
                }
            }
            C::SetBackendId(backend_id) => {
                self.live("set the backend id of")?;
                validate::optional("backend_id", Some(backend_id), 255)?;
                if *backend_id == self.backend_id {
                    return Err(unchanged("Resource backend_id is not changed."));
                }
                ResourceEvent::ResourceBackendIdSet {
                    backend_id: backend_id.clone(),
                }
            }
            C::SetBackendMetadata(metadata) => {
                self.live("set the backend metadata of")?;
                if !metadata.is_object() {
                    return Err(DomainError::invalid(
                        "backend_metadata",
                        "must be an object",
                    ));
                }
                if *metadata == self.backend_metadata {
                    return Err(unchanged("The backend metadata is not changed"));
                }
                ResourceEvent::ResourceBackendMetadataSet {
                    backend_metadata: metadata.clone(),
                }
            }
            C::SetFlag { flag, value } => {
                self.live("flag")?;
                if self.flags.get(*flag).copied().unwrap_or(false) == *value {
                    return Err(unchanged(format!("Resource {flag} is not changed.")));
                }
                ResourceEvent::ResourceFlagSet {
                    flag: (*flag).to_owned(),
                    value: *value,
                }
            }
            C::SetSlug(slug) => {
                self.live("set the slug of")?;
                validate::required("slug", slug, 150)?;
                if !slug
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(DomainError::invalid(
                        "slug",
                        "may hold only letters, digits, hyphens and underscores",
                    ));
                }
                if *slug == self.slug {
                    return Err(unchanged("Resource slug is not changed."));
                }
                ResourceEvent::ResourceSlugSet { slug: slug.clone() }
            }
            C::SubmitReport(report) => {
                self.live("report on")?;
                if report.is_empty() {
                    return Err(DomainError::invalid(
                        "report",
                        "Report object should contain at least one section.",
                    ));
                }
                for section in report {
                    validate::required("report", &section.header, 1000)?;
                    validate::required("report", &section.body, 100_000)?;
                }
                ResourceEvent::ResourceReportSubmitted {
                    report: report.clone(),
                }
            }
            C::SetLimits(limits) => {
                self.live("set the limits of")?;
                check_limits(limits)?;
                if *limits == self.limits {
                    return Err(unchanged("Resource limits are not changed."));
                }
                ResourceEvent::ResourceLimitsSet {
                    limits: limits.clone(),
                }
            }
            C::SetOptions(options) => {
                self.live("set the options of")?;
                if !options.is_object() {
                    return Err(DomainError::invalid("options", "must be an object"));
                }
                if merged(&self.options, options) == self.options {
                    return Err(unchanged("Resource options are not changed."));
                }
                ResourceEvent::ResourceOptionsSet {
                    options: options.clone(),
                }
            }
            C::Sync { at } => ResourceEvent::ResourceSynced { at: *at },
            C::RequestPull => {
                self.live("pull")?;
                ResourceEvent::ResourcePullRequested {}
            }
            C::Move {
                project_id,
                customer_id,
            } => {
                self.live("move")?;
                if *project_id == self.project_id {
                    return Err(DomainError::invalid(
                        "project",
                        "the resource is in this project already",
                    ));
                }
                ResourceEvent::ResourceMoved {
                    project_id: project_id.clone(),
                    customer_id: customer_id.clone(),
                    previous_project_id: self.project_id.clone(),
                }
            }
            C::Unlink => ResourceEvent::ResourceUnlinked {
                previous_state: self.state.as_str().into(),
            },
            C::ReportUsage {
                occurred_at,
                usages,
            } => {
                if matches!(self.state, S::Creating | S::Terminated) {
                    return Err(self.refuse("report usage of"));
                }
                if usages.is_empty() {
                    return Err(DomainError::invalid(
                        "usages",
                        "must hold at least one component",
                    ));
                }
                let period = billing_period(*occurred_at);
                let mut reported = Vec::new();
                for (component, amount, description, recurring) in usages {
                    if amount.is_sign_negative() {
                        return Err(DomainError::invalid(
                            "usages",
                            format!("{component}: amount must not be negative"),
                        ));
                    }
                    let previous = self
                        .usage
                        .get(&(period, component.clone()))
                        .copied()
                        .unwrap_or_default();
                    if previous == *amount {
                        continue;
                    }
                    reported.push(ComponentUsage {
                        component: component.clone(),
                        amount: amount.normalize(),
                        previous,
                        description: description.clone(),
                        recurring: *recurring,
                    });
                }
                if reported.is_empty() {
                    return Err(unchanged("Usage is not changed."));
                }
                ResourceEvent::ResourceUsageReported {
                    period,
                    occurred_at: *occurred_at,
                    customer_id: self.customer_id.clone(),
                    project_id: self.project_id.clone(),
                    usages: reported,
                }
            }
        })
    }

    fn evolve(&mut self, event: &ResourceEvent) {
        use ResourceEvent as E;
        use ResourceState as S;
        match event {
            E::ResourceRequested {
                order_id,
                offering_id,
                plan_id,
                project_id,
                customer_id,
                name,
                description,
                attributes: _,
                limits,
            } => {
                self.created = true;
                self.state = S::Creating;
                self.offering_id = offering_id.clone();
                self.plan_id = plan_id.clone();
                self.project_id = project_id.clone();
                self.customer_id = customer_id.clone();
                self.name = name.clone();
                self.description = description.clone();
                self.limits = limits.clone();
                self.options = Value::Object(Default::default());
                self.backend_metadata = Value::Object(Default::default());
                self.creation_order = Some(order_id.clone());
                self.order_in_progress = Some((order_id.clone(), CREATE.into()));
            }
            E::ResourceOrderOpened { order_id, kind, .. } => {
                self.order_in_progress = Some((order_id.clone(), kind.clone()));
            }
            E::ResourceOrderStarted { order_id } => match self.in_progress(order_id) {
                Some(UPDATE) => self.state = S::Updating,
                Some(TERMINATE) => self.state = S::Terminating,
                _ => {}
            },
            E::ResourceOrderCompleted {
                order_id,
                limits,
                options,
                plan_id,
            } => {
                let kind = self.in_progress(order_id).map(str::to_owned);
                self.order_in_progress = None;
                if kind.as_deref() == Some(TERMINATE) {
                    self.state = S::Terminated;
                    return;
                }
                self.state = S::Ok;
                if let Some(limits) = limits {
                    self.limits = limits.clone();
                }
                if let Some(options) = options {
                    self.options = merged(&self.options, options);
                }
                if plan_id.is_some() {
                    self.plan_id = plan_id.clone();
                }
            }
            E::ResourceOrderAbandoned { order_id, .. } => {
                if self.in_progress(order_id) == Some(CREATE) {
                    self.state = S::Terminated;
                } else if matches!(self.state, S::Updating | S::Terminating) {
                    self.state = S::Ok;
                }
                self.order_in_progress = None;
            }
            E::ResourceErred {
                error_message,
                error_traceback,
                order_id,
            } => {
                self.state = S::Erred;
                self.error_message = error_message.clone();
                self.error_traceback = error_traceback.clone();
                if order_id.is_some() {
                    self.order_in_progress = None;
                }
            }
            E::ResourceMarkedOk {} => {
                self.state = S::Ok;
                self.error_message.clear();
                self.error_traceback.clear();
            }
            E::ResourceDetailsChanged {
                name,
                description,
                end_date,
            } => {
                if let Some(name) = name {
                    self.name = name.clone();
                }
                if let Some(description) = description {
                    self.description = description.clone();
                }
                if let Some(end_date) = end_date {
                    self.end_date = *end_date;
                }
            }
            E::ResourceEndDateSet { end_date, .. } => self.end_date = *end_date,
            E::ResourceBackendIdSet { backend_id } => self.backend_id = backend_id.clone(),
            E::ResourceBackendMetadataSet { backend_metadata } => {
                self.backend_metadata = backend_metadata.clone()
            }
            E::ResourceFlagSet { flag, value } => {
                self.flags.insert(flag.clone(), *value);
            }
            E::ResourceSlugSet { slug } => self.slug = slug.clone(),
            E::ResourceReportSubmitted { report } => self.report = report.clone(),
            E::ResourceLimitsSet { limits } => self.limits = limits.clone(),
            E::ResourceOptionsSet { options } => self.options = merged(&self.options, options),
            E::ResourceSynced { .. } | E::ResourcePullRequested {} => {}
            E::ResourceMoved {
                project_id,
                customer_id,
                ..
            } => {
                self.project_id = project_id.clone();
                self.customer_id = customer_id.clone();
            }
            E::ResourceUnlinked { .. } => self.unlinked = true,
            E::ResourceUsageReported { period, usages, .. } => {
                for usage in usages {
                    self.usage
                        .insert((*period, usage.component.clone()), usage.amount);
                }
            }
        }
    }

    fn exists(&self) -> bool {
        self.created && !self.unlinked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_commands;
    use std::str::FromStr;

    fn request() -> ResourceCommand {
        ResourceCommand::Request {
            order_id: "o1".into(),
            offering_id: "off".into(),
            plan_id: None,
            project_id: "p1".into(),
            customer_id: "c1".into(),
            name: "alloc".into(),
            description: String::new(),
            attributes: Value::Null,
            limits: BTreeMap::from([("cpu".into(), 10)]),
        }
    }

    fn done(order_id: &str) -> ResourceCommand {
        ResourceCommand::CompleteOrder {
            order_id: order_id.into(),
            limits: None,
            options: None,
            plan_id: None,
        }
    }

    fn open(order_id: &str, kind: &str) -> ResourceCommand {
        ResourceCommand::OpenOrder {
            order_id: order_id.into(),
            kind: kind.into(),
            attributes: Value::Null,
            limits: None,
            options: None,
            plan_id: None,
            request_comment: None,
            consumer_review: false,
        }
    }

    fn start(order_id: &str) -> ResourceCommand {
        ResourceCommand::StartOrder {
            order_id: order_id.into(),
        }
    }

    fn erred() -> ResourceCommand {
        ResourceCommand::MarkErred {
            error_message: "boom".into(),
            error_traceback: String::new(),
        }
    }

    /// Reaches each state through legal commands.
    fn in_state(state: ResourceState) -> Resource {
        use ResourceState as S;
        let path: Vec<ResourceCommand> = match state {
            S::Creating => vec![request()],
            S::Ok => vec![request(), done("o1")],
            S::Erred => vec![request(), done("o1"), erred()],
            S::Updating => vec![request(), done("o1"), open("o2", UPDATE), start("o2")],
            S::Terminating => vec![request(), done("o1"), open("o2", TERMINATE), start("o2")],
            S::Terminated => vec![
                request(),
                done("o1"),
                open("o2", TERMINATE),
                start("o2"),
                done("o2"),
            ],
        };
        let (resource, last) = run_commands::<Resource>(&path);
        assert!(last.is_ok(), "{state:?}: {last:?}");
        assert_eq!(resource.state, state);
        resource
    }

    #[test]
    fn an_order_drives_creation_update_and_termination() {
        let (r, _) = run_commands::<Resource>(&[request()]);
        assert_eq!(r.state, ResourceState::Creating);
        assert_eq!(r.order_in_progress, Some(("o1".into(), CREATE.into())));
        let (r, _) = run_commands::<Resource>(&[
            request(),
            start("o1"),
            done("o1"),
            open("o2", UPDATE),
            start("o2"),
            ResourceCommand::CompleteOrder {
                order_id: "o2".into(),
                limits: Some(BTreeMap::from([("cpu".into(), 20)])),
                options: None,
                plan_id: None,
            },
        ]);
        assert_eq!(r.state, ResourceState::Ok);
        assert_eq!(r.limits["cpu"], 20);
        assert_eq!(r.order_in_progress, None);
    }

    #[test]
    fn a_refused_creation_terminates_and_a_refused_termination_changes_nothing() {
        let abandon = |id: &str| ResourceCommand::AbandonOrder {
            order_id: id.into(),
            outcome: "rejected".into(),
        };
        let (r, _) = run_commands::<Resource>(&[request(), abandon("o1")]);
        assert_eq!(r.state, ResourceState::Terminated);
        let (r, _) = run_commands::<Resource>(&[
            request(),
            done("o1"),
            open("o2", TERMINATE),
            abandon("o2"),
        ]);
        assert_eq!(r.state, ResourceState::Ok);
        assert_eq!(r.order_in_progress, None);
    }

    #[test]
    fn every_illegal_transition_is_refused_with_the_state() {
        use ResourceState as S;
        // (command, the states that allow it)
        let cases: Vec<(ResourceCommand, Vec<S>)> = vec![
            (
                ResourceCommand::MarkOk,
                vec![S::Erred, S::Creating, S::Updating, S::Terminating],
            ),
            (open("o9", TERMINATE), vec![S::Ok, S::Erred]),
            (open("o9", UPDATE), vec![S::Ok]),
            (
                erred(),
                vec![S::Creating, S::Ok, S::Erred, S::Updating, S::Terminating],
            ),
            (
                ResourceCommand::SetSlug("new-slug".into()),
                vec![S::Creating, S::Ok, S::Erred, S::Updating, S::Terminating],
            ),
            (
                ResourceCommand::ReportUsage {
                    occurred_at: Utc::now(),
                    usages: vec![("cpu".into(), Decimal::ONE, String::new(), false)],
                },
                vec![S::Ok, S::Erred, S::Updating, S::Terminating],
            ),
        ];
        for (command, allowed) in cases {
            for state in ResourceState::ALL {
                let resource = in_state(state);
                // The erred fixture already carries this message: use another one.
                let command = match (&command, state) {
                    (ResourceCommand::MarkErred { .. }, S::Erred) => ResourceCommand::MarkErred {
                        error_message: "again".into(),
                        error_traceback: String::new(),
                    },
                    _ => command.clone(),
                };
                let result = resource.decide(&command);
                // Updating and Terminating have an order in progress: a new order waits.
                let open_order = matches!(command, ResourceCommand::OpenOrder { .. })
                    && resource.order_in_progress.is_some();
                if allowed.contains(&state) && !open_order {
                    assert!(result.is_ok(), "{command:?} in {state:?}: {result:?}");
                } else {
                    assert!(
                        matches!(result, Err(DomainError::InvalidState { .. })),
                        "{command:?} in {state:?} must be refused: {result:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_second_order_waits_for_the_first() {
        let (_, last) = run_commands::<Resource>(&[
            request(),
            done("o1"),
            erred(),
            open("o2", TERMINATE),
            open("o3", TERMINATE),
        ]);
        assert!(
            matches!(last, Err(DomainError::InvalidState { .. })),
            "{last:?}"
        );
    }

    #[test]
    fn a_step_applied_twice_records_nothing_the_second_time() {
        let (r, _) = run_commands::<Resource>(&[request(), done("o1")]);
        assert!(matches!(
            r.decide(&done("o1")),
            Err(DomainError::Unchanged { .. })
        ));
        assert!(matches!(
            r.decide(&ResourceCommand::SetSlug(String::new())),
            Err(DomainError::Invalid { .. })
        ));
        let (r, _) = run_commands::<Resource>(&[
            request(),
            done("o1"),
            ResourceCommand::SetBackendId("b-1".into()),
        ]);
        assert!(matches!(
            r.decide(&ResourceCommand::SetBackendId("b-1".into())),
            Err(DomainError::Unchanged { .. })
        ));
    }

    #[test]
    fn a_usage_report_replaces_the_periods_amount() {
        let at = DateTime::parse_from_rfc3339("2026-11-10T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let report = |amount: &str| ResourceCommand::ReportUsage {
            occurred_at: at,
            usages: vec![(
                "cpu".into(),
                Decimal::from_str(amount).unwrap(),
                String::new(),
                false,
            )],
        };
        let (r, last) =
            run_commands::<Resource>(&[request(), done("o1"), report("10"), report("12.5")]);
        let Ok(ResourceEvent::ResourceUsageReported { period, usages, .. }) = last else {
            panic!("{last:?}");
        };
        assert_eq!(period, NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        assert_eq!(usages[0].previous, Decimal::from(10));
        assert_eq!(usages[0].amount, Decimal::from_str("12.5").unwrap());
        assert!(matches!(
            r.decide(&report("12.5")),
            Err(DomainError::Unchanged { .. })
        ));
    }

    #[test]
    fn a_provider_gives_a_weeks_notice_of_an_end_date() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let r = in_state(ResourceState::Ok);
        let set = |days: i64, by: &str| ResourceCommand::SetEndDate {
            end_date: Some(today + Duration::days(days)),
            by: by.into(),
            requested_by: "k".into(),
            today,
        };
        assert!(matches!(
            r.decide(&set(3, "provider")),
            Err(DomainError::Invalid {
                field: "end_date",
                ..
            })
        ));
        assert!(r.decide(&set(7, "provider")).is_ok());
        assert!(r.decide(&set(3, "staff")).is_ok());
        assert!(matches!(
            r.decide(&set(-1, "staff")),
            Err(DomainError::Invalid { .. })
        ));
    }
}
