//! Waldur's query strings: repeated or comma-separated multi-values, DRF booleans, `page` and
//! `page_size`, and the `Link` and `X-Result-Count` headers of a list.

use std::marker::PhantomData;

use aide::generate::GenContext;
use aide::openapi::{Operation, Response as ApiResponse, StatusCode};
use aide::{OperationInput, OperationOutput};
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::errors::DrfError;

/// DRF's defaults: 10 a page, at most 300.
pub const PAGE_SIZE: i64 = 10;
pub const MAX_PAGE_SIZE: i64 = 300;

/// The query as pairs, in order. `T` only documents the parameters.
pub struct Params<T> {
    pairs: Vec<(String, String)>,
    _doc: PhantomData<T>,
}

impl<S: Send + Sync, T> FromRequestParts<S> for Params<T> {
    type Rejection = DrfError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, DrfError> {
        Ok(Self::from_query(parts.uri.query().unwrap_or("")))
    }
}

impl<T: JsonSchema> OperationInput for Params<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        <axum::extract::Query<T> as OperationInput>::operation_input(ctx, operation);
    }
}

impl<T> Params<T> {
    /// The pairs of a query string (without its `?`).
    pub fn from_query(query: &str) -> Self {
        let pairs = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Self {
            pairs,
            _doc: PhantomData,
        }
    }

    /// Every value of `name`, repeated or comma-separated; blanks dropped.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The last value of `name`, if not blank (DRF takes the last).
    pub fn one(&self, name: &str) -> Option<String> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn flag(&self, name: &str) -> Result<Option<bool>, DrfError> {
        match self.one(name).as_deref() {
            None => Ok(None),
            Some("true" | "True" | "1" | "yes") => Ok(Some(true)),
            Some("false" | "False" | "0" | "no") => Ok(Some(false)),
            Some(_) => Err(DrfError::field(name, "Enter a valid boolean.")),
        }
    }

    pub fn uuid(&self, name: &str) -> Result<Option<Uuid>, DrfError> {
        self.one(name)
            .map(|v| Uuid::parse_str(&v).map_err(|_| DrfError::field(name, "Enter a valid UUID.")))
            .transpose()
    }

    pub fn uuids(&self, name: &str) -> Result<Vec<Uuid>, DrfError> {
        self.all(name)
            .iter()
            .map(|v| Uuid::parse_str(v).map_err(|_| DrfError::field(name, "Enter a valid UUID.")))
            .collect()
    }

    /// The uuid at the end of a hyperlink (`…/api/projects/<uuid>/`).
    pub fn url_uuid(&self, name: &str) -> Result<Option<Uuid>, DrfError> {
        self.one(name)
            .map(|v| uuid_in_url(&v).ok_or_else(|| DrfError::field(name, "Invalid hyperlink.")))
            .transpose()
    }

    pub fn integer(&self, name: &str) -> Result<Option<i64>, DrfError> {
        self.one(name)
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i64)
                    .ok_or_else(|| DrfError::field(name, "Enter a number."))
            })
            .transpose()
    }

    /// A date or a date-time, as the start of an interval (`created`, `modified`).
    pub fn since(&self, name: &str) -> Result<Option<DateTime<Utc>>, DrfError> {
        self.one(name)
            .map(|v| instant(&v).ok_or_else(|| DrfError::field(name, "Enter a valid date.")))
            .transpose()
    }

    /// `(offset, limit)` from `page` and `page_size`.
    pub fn page(&self) -> Result<Page, DrfError> {
        let size = match self.integer("page_size")? {
            None => PAGE_SIZE,
            Some(n) if n >= 1 => n.min(MAX_PAGE_SIZE),
            Some(_) => PAGE_SIZE,
        };
        let number = match self.one("page").as_deref() {
            None | Some("last") => None,
            Some(v) => Some(
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 1 && *n < 1_000_000_000)
                    .ok_or(DrfError::NotFound)?,
            ),
        };
        Ok(Page {
            number: number.unwrap_or(1),
            last: self.one("page").as_deref() == Some("last"),
            size,
        })
    }
}

/// Parses a date or an RFC 3339 date-time.
pub fn instant(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

/// The uuid a Waldur hyperlink ends with, or a bare uuid.
pub fn uuid_in_url(value: &str) -> Option<Uuid> {
    value
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .and_then(|last| Uuid::parse_str(last).ok())
}

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub number: i64,
    pub last: bool,
    pub size: i64,
}

impl Page {
    /// The offset of this page once the total is known (`page=last`, or past the end: 404).
    pub fn offset(&self, total: i64) -> Result<i64, DrfError> {
        let pages = ((total + self.size - 1) / self.size).max(1);
        let number = if self.last { pages } else { self.number };
        if number > pages {
            return Err(DrfError::NotFound);
        }
        Ok((number - 1) * self.size)
    }
}

/// The request's own URL, to build the links of a list and the hyperlinks of objects.
pub struct Base {
    /// `http://host:port`
    pub origin: String,
    pub path: String,
    pub query: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = DrfError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, DrfError> {
        let host = parts
            .headers
            .get("x-forwarded-host")
            .or_else(|| parts.headers.get(axum::http::header::HOST))
            .and_then(|h| h.to_str().ok())
            .filter(|h| h.len() < 256 && !h.contains(['/', ' ', '"', '<', '>']))
            .unwrap_or("localhost");
        let scheme = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
            .filter(|p| *p == "https")
            .unwrap_or("http");
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map(|u| u.0.clone())
            .unwrap_or_else(|| parts.uri.clone());
        Ok(Self {
            origin: format!("{scheme}://{host}"),
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or("").to_owned(),
        })
    }
}

impl OperationInput for Base {}

impl Base {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    fn page_url(&self, page: Option<i64>) -> String {
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(self.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .filter(|(k, _)| k != "page")
            .collect();
        if let Some(page) = page {
            pairs.push(("page".into(), page.to_string()));
        }
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        if query.is_empty() {
            format!("{}{}", self.origin, self.path)
        } else {
            format!("{}{}?{query}", self.origin, self.path)
        }
    }
}

/// A page of a list: a bare JSON array, with `Link` (first, prev, next, last) and
/// `X-Result-Count`, as Waldur's `LinkHeaderPagination` answers. `T` documents the items.
pub struct Listed<T> {
    pub items: Vec<Value>,
    pub link: String,
    pub total: i64,
    _doc: PhantomData<T>,
}

impl<T> Listed<T> {
    pub fn new(base: &Base, page: Page, offset: i64, total: i64, items: Vec<Value>) -> Self {
        let pages = ((total + page.size - 1) / page.size).max(1);
        let number = offset / page.size + 1;
        let mut links = vec![format!("<{}>; rel=\"first\"", base.page_url(None))];
        if number > 1 {
            let prev = (number > 2).then_some(number - 1);
            links.push(format!("<{}>; rel=\"prev\"", base.page_url(prev)));
        }
        if number < pages {
            links.push(format!(
                "<{}>; rel=\"next\"",
                base.page_url(Some(number + 1))
            ));
        }
        links.push(format!("<{}>; rel=\"last\"", base.page_url(Some(pages))));
        Self {
            items,
            link: links.join(", "),
            total,
            _doc: PhantomData,
        }
    }
}

impl<T> IntoResponse for Listed<T> {
    fn into_response(self) -> Response {
        let mut response = Json(self.items).into_response();
        let headers = response.headers_mut();
        if let Ok(link) = HeaderValue::from_str(&self.link) {
            headers.insert("link", link);
        }
        headers.insert("x-result-count", HeaderValue::from(self.total));
        response
    }
}

impl<T: JsonSchema + Serialize> OperationOutput for Listed<T> {
    type Inner = Vec<T>;

    fn operation_response(ctx: &mut GenContext, operation: &mut Operation) -> Option<ApiResponse> {
        <Json<Vec<T>> as OperationOutput>::operation_response(ctx, operation)
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<StatusCode>, ApiResponse)> {
        <Json<Vec<T>> as OperationOutput>::inferred_responses(ctx, operation)
    }
}

/// Keeps only the fields named by `field=` (all when none is named; unknown names ignored).
pub fn project_fields(mut value: Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return value;
    }
    if let Value::Object(map) = &mut value {
        map.retain(|k, _| fields.iter().any(|f| f == k));
    }
    value
}
