//! Cursor pagination: `page_size` and an opaque `page_token` naming the last item of the
//! previous page. Lists are ordered by id (UUIDv7, so creation order), which keeps pages
//! stable while rows are added.

use serde::Serialize;
use uuid::Uuid;

use crate::error::ApiError;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 1000;

pub fn page_size(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request(
            "page_size",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        )),
    }
}

pub fn decode_token(token: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let bad = || ApiError::bad_request("page_token", "is not a token this API returned");
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    Uuid::from_slice(&bytes).map(Some).map_err(|_| bad())
}

pub fn encode_token(last: Uuid) -> String {
    hex::encode(last.as_bytes())
}

/// A page of a list, in creation order; pass `next_page_token` for the next.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "PageOf{T}")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

impl<T> Page<T> {
    /// `rows` were fetched with `limit + 1`: the extra row only says that more follow.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, id: impl Fn(&T) -> Uuid) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_page_token = more
            .then(|| rows.last().map(|r| encode_token(id(r))))
            .flatten();
        Self {
            items: rows,
            next_page_token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        assert_eq!(decode_token(Some(&encode_token(id))).unwrap(), Some(id));
        assert!(decode_token(Some("zz")).is_err());
        assert!(decode_token(Some("abc")).is_err());
        assert_eq!(decode_token(None).unwrap(), None);
    }
}

/// A whole list, where lists are short enough not to page.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "ListOf{T}")]
pub struct Items<T> {
    pub items: Vec<T>,
}
