//! Astra's collection protocol over rendered resources: `filter`, `orderBy`, `include`,
//! `limit`, `skip`, `continue` and `count`.
//!
//! - `filter`: clauses `field op value` joined by `and`; `op` is `eq`, `lt`, `gt`, `lte` or
//!   `gte`; a value is quoted (`'trial'`, a quote doubled inside) or a bare number, `true`,
//!   `false`. Numbers compare as decimals, text as text; a field a resource lacks matches
//!   nothing. `field` is a resource field or `metadata.<field>`.
//! - `orderBy`: `field [asc|desc]`, several separated by commas; ties keep creation order.
//! - `include`: fields separated by commas; each item is then the array of those values, in
//!   that order.
//! - `limit` (1 to 1000; all of them by default, at most 1000), `skip`, and `continue` (the
//!   opaque token of `metadata.continue`, which resumes after the page it came with; not
//!   with `skip`). `count=true` puts the number of matching resources in `metadata.count`.
//!
//! Each value is kept as the JSON text it was rendered as, so numbers never pass through a
//! binary float, here or in the answer.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use super::problems::{Invalid, Problem, INVALID_PARAMS};

/// A rendered resource: its top-level fields as JSON text.
pub struct Item {
    pub fields: BTreeMap<String, Box<RawValue>>,
    /// The whole resource, as answered when `include` is not used.
    pub whole: Box<RawValue>,
}

impl Item {
    pub fn new(whole: Box<RawValue>) -> Self {
        let fields = serde_json::from_str(whole.get()).unwrap_or_default();
        Self { fields, whole }
    }

    fn raw(&self, path: &str) -> Option<Box<RawValue>> {
        match path.split_once('.') {
            None => self.fields.get(path).cloned(),
            Some((head, tail)) => {
                let inner: BTreeMap<String, Box<RawValue>> =
                    serde_json::from_str(self.fields.get(head)?.get()).ok()?;
                inner.get(tail).cloned()
            }
        }
    }

    fn value(&self, path: &str) -> Val {
        self.raw(path).map(|r| Val::of(&r)).unwrap_or(Val::Missing)
    }
}

/// A field's value, for comparing.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Missing,
    Null,
    Bool(bool),
    Number(Decimal),
    Text(String),
    Other(String),
}

impl Val {
    fn of(raw: &RawValue) -> Self {
        let text = raw.get().trim();
        match text {
            "null" => Self::Null,
            "true" => Self::Bool(true),
            "false" => Self::Bool(false),
            _ if text.starts_with('"') => serde_json::from_str(text)
                .map(Self::Text)
                .unwrap_or(Self::Other(text.into())),
            _ => number(text)
                .map(Self::Number)
                .unwrap_or(Self::Other(text.into())),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Self::Missing => 0,
            Self::Null => 1,
            Self::Bool(_) => 2,
            Self::Number(_) => 3,
            Self::Text(_) => 4,
            Self::Other(_) => 5,
        }
    }

    fn order(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Bool(a), Self::Bool(b)) => a.cmp(b),
            (Self::Number(a), Self::Number(b)) => a.cmp(b),
            (Self::Text(a), Self::Text(b)) | (Self::Other(a), Self::Other(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

fn number(text: &str) -> Option<Decimal> {
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        Decimal::from_str_exact(text).ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Lt,
    Gt,
    Lte,
    Gte,
}

/// A literal of a filter.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Quoted(String),
    Bare(String),
}

#[derive(Debug, Clone, PartialEq)]
struct Clause {
    field: String,
    op: Op,
    value: Literal,
}

impl Clause {
    fn matches(&self, item: &Item) -> bool {
        let field = item.value(&self.field);
        let ordering = match (&field, &self.value) {
            (Val::Missing, _) => return false,
            (Val::Number(n), Literal::Quoted(t) | Literal::Bare(t)) => match number(t.trim()) {
                Some(v) => n.cmp(&v),
                None => return false,
            },
            (Val::Text(s), Literal::Quoted(t) | Literal::Bare(t)) => s.as_str().cmp(t.as_str()),
            (Val::Bool(b), Literal::Quoted(t) | Literal::Bare(t)) => match t.as_str() {
                "true" => b.cmp(&true),
                "false" => b.cmp(&false),
                _ => return false,
            },
            (Val::Null, Literal::Bare(t)) if t == "null" => Ordering::Equal,
            _ => return false,
        };
        match self.op {
            Op::Eq => ordering == Ordering::Equal,
            Op::Lt => ordering == Ordering::Less,
            Op::Gt => ordering == Ordering::Greater,
            Op::Lte => ordering != Ordering::Greater,
            Op::Gte => ordering != Ordering::Less,
        }
    }
}

/// Splits the filter into its clauses.
fn parse_filter(text: &str, known: &dyn Fn(&str) -> bool) -> Result<Vec<Clause>, String> {
    let mut clauses = Vec::new();
    let mut rest = text.trim();
    loop {
        let (field, after) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("{rest:?} is not a clause `field op 'value'`"))?;
        if !known(field) {
            return Err(format!("{field} is not a field of the subscription"));
        }
        let after = after.trim_start();
        let (op, after) = after
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("the clause on {field} has no value"))?;
        let op = match op.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "lt" => Op::Lt,
            "gt" => Op::Gt,
            "lte" => Op::Lte,
            "gte" => Op::Gte,
            other => return Err(format!("{other} is not an operator (eq, lt, gt, lte, gte)")),
        };
        let after = after.trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('\'') {
            let mut value = String::new();
            let mut chars = quoted.char_indices().peekable();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                        value.push('\'');
                        chars.next();
                        continue;
                    }
                    end = Some(i + 1);
                    break;
                }
                value.push(c);
            }
            let end =
                end.ok_or_else(|| format!("the value compared with {field} is not closed"))?;
            (Literal::Quoted(value), &quoted[end..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            let bare = &after[..end];
            let known_word = matches!(bare, "true" | "false" | "null") || number(bare).is_some();
            if !known_word {
                return Err(format!(
                    "{bare:?} is not a value: quote text ('{bare}'), or write a number"
                ));
            }
            (Literal::Bare(bare.to_owned()), &after[end..])
        };
        clauses.push(Clause {
            field: field.to_owned(),
            op,
            value,
        });
        let after = after.trim();
        if after.is_empty() {
            return Ok(clauses);
        }
        let (word, next) = after
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("{after:?} follows a clause; join clauses with `and`"))?;
        if !word.eq_ignore_ascii_case("and") {
            return Err(format!(
                "{word:?} follows a clause; join clauses with `and`"
            ));
        }
        rest = next.trim_start();
    }
}

/// The query string of a list, read and checked.
#[derive(Debug, Default)]
pub struct Listing {
    filter: Vec<Clause>,
    order: Vec<(String, bool)>,
    include: Vec<String>,
    limit: usize,
    offset: usize,
    count: bool,
}

pub const MAX_LIMIT: usize = 1000;

impl Listing {
    /// Reads the query string; every parameter that does not fit is named.
    pub fn read(query: &str, known: &dyn Fn(&str) -> bool) -> Result<Self, Problem> {
        let mut listing = Listing {
            limit: MAX_LIMIT,
            ..Default::default()
        };
        let mut invalid = Vec::new();
        let mut bad = |name: &str, reason: String| {
            invalid.push(Invalid {
                name: name.into(),
                reason,
            })
        };
        let (mut skip, mut resume) = (None, None);
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "filter" => match parse_filter(&value, known) {
                    Ok(clauses) => listing.filter.extend(clauses),
                    Err(reason) => bad("filter", reason),
                },
                "orderBy" => {
                    for key in value.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                        let mut words = key.split_whitespace();
                        let field = words.next().unwrap_or_default();
                        let descending = match words.next().map(str::to_ascii_lowercase) {
                            None => false,
                            Some(w) if w == "asc" => false,
                            Some(w) if w == "desc" => true,
                            Some(w) => {
                                bad("orderBy", format!("{w} is not asc or desc"));
                                false
                            }
                        };
                        if !known(field) {
                            bad(
                                "orderBy",
                                format!("{field} is not a field of the subscription"),
                            );
                        }
                        listing.order.push((field.to_owned(), descending));
                    }
                }
                "include" => {
                    for field in value.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                        if known(field) {
                            listing.include.push(field.to_owned());
                        } else {
                            bad(
                                "include",
                                format!("{field} is not a field of the subscription"),
                            );
                        }
                    }
                }
                "limit" => match value.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => listing.limit = n,
                    _ => bad(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    ),
                },
                "skip" => match value.parse::<usize>() {
                    Ok(n) => skip = Some(n),
                    _ => bad("skip", "must be a whole number, 0 or more".into()),
                },
                "continue" => match decode_token(&value) {
                    Some(n) => resume = Some(n),
                    None => bad("continue", "is not a token this API returned".into()),
                },
                "count" => match value.as_ref() {
                    "true" => listing.count = true,
                    "false" => listing.count = false,
                    _ => bad("count", "must be true or false".into()),
                },
                other => bad(other, "is not a parameter of this collection".into()),
            }
        }
        if skip.is_some() && resume.is_some() {
            bad(
                "skip",
                "is not used with continue, which already says where to resume".into(),
            );
        }
        listing.offset = resume.or(skip).unwrap_or(0);
        if invalid.is_empty() {
            Ok(listing)
        } else {
            Err(Problem {
                invalid_params: invalid,
                ..Problem::new(INVALID_PARAMS)
            })
        }
    }

    /// The page of `items`: its items (whole, or as arrays of the included fields), the
    /// token of the next page, and the count when asked for.
    pub fn page(&self, items: Vec<Item>) -> Page {
        let mut matching: Vec<Item> = items
            .into_iter()
            .filter(|item| self.filter.iter().all(|c| c.matches(item)))
            .collect();
        if !self.order.is_empty() {
            matching.sort_by(|a, b| {
                self.order
                    .iter()
                    .map(|(field, descending)| {
                        let ordering = a.value(field).order(&b.value(field));
                        if *descending {
                            ordering.reverse()
                        } else {
                            ordering
                        }
                    })
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            });
        }
        let total = matching.len();
        let end = self.offset.saturating_add(self.limit).min(total);
        let items = matching
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .map(|item| {
                if self.include.is_empty() {
                    return item.whole;
                }
                let values: Vec<String> = self
                    .include
                    .iter()
                    .map(|f| {
                        item.raw(f)
                            .map(|r| r.get().to_owned())
                            .unwrap_or("null".into())
                    })
                    .collect();
                RawValue::from_string(format!("[{}]", values.join(",")))
                    .expect("joined JSON values are JSON")
            })
            .collect();
        Page {
            items,
            continue_token: (end < total).then(|| encode_token(end)),
            count: self.count.then_some(total),
        }
    }
}

pub struct Page {
    pub items: Vec<Box<RawValue>>,
    pub continue_token: Option<String>,
    pub count: Option<usize>,
}

/// The token names where the next page starts; its form is not part of the API.
fn encode_token(offset: usize) -> String {
    format!("v1.{offset:x}")
}

fn decode_token(token: &str) -> Option<usize> {
    usize::from_str_radix(token.strip_prefix("v1.")?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(json: &str) -> Item {
        Item::new(RawValue::from_string(json.to_owned()).unwrap())
    }

    fn items() -> Vec<Item> {
        vec![
            item(
                r#"{"id":"a","terms":"trial","namespaceLimit":10,"costPerNamespaceUnit":0,"metadata":{"creationTimestamp":"2026-01-02T00:00:00Z"}}"#,
            ),
            item(
                r#"{"id":"b","terms":"paid","namespaceLimit":-1,"costPerNamespaceUnit":0.005,"metadata":{"creationTimestamp":"2026-01-01T00:00:00Z"}}"#,
            ),
            item(
                r#"{"id":"c","terms":"paid","namespaceLimit":25,"costPerNamespaceUnit":0.0050,"paymentExpiry":"2027-01-01T00:00:00Z","metadata":{"creationTimestamp":"2026-01-03T00:00:00Z"}}"#,
            ),
        ]
    }

    fn known(field: &str) -> bool {
        matches!(
            field,
            "id" | "terms"
                | "namespaceLimit"
                | "costPerNamespaceUnit"
                | "paymentExpiry"
                | "metadata.creationTimestamp"
        )
    }

    fn ids(query: &str) -> Vec<String> {
        let page = Listing::read(query, &known).unwrap().page(items());
        page.items.iter().map(|r| r.get().to_owned()).collect()
    }

    fn only_ids(query: &str) -> Vec<String> {
        ids(&format!("{query}&include=id"))
    }

    #[test]
    fn filters_compare_text_as_text_and_numbers_as_decimals() {
        assert_eq!(
            only_ids("filter=terms%20eq%20%27paid%27"),
            [r#"["b"]"#, r#"["c"]"#]
        );
        assert_eq!(
            only_ids("filter=namespaceLimit gt 0"),
            [r#"["a"]"#, r#"["c"]"#]
        );
        assert_eq!(only_ids("filter=namespaceLimit lte '-1'"), [r#"["b"]"#]);
        assert_eq!(
            only_ids("filter=costPerNamespaceUnit eq 0.005 and terms eq 'paid'"),
            [r#"["b"]"#, r#"["c"]"#]
        );
        // A resource without the field does not match.
        assert_eq!(
            only_ids("filter=paymentExpiry gte '2026-01-01'"),
            [r#"["c"]"#]
        );
        assert_eq!(
            only_ids("filter=metadata.creationTimestamp lt '2026-01-02T00:00:00Z'"),
            [r#"["b"]"#]
        );
    }

    #[test]
    fn order_include_and_pages() {
        assert_eq!(
            ids("orderBy=namespaceLimit desc&include=id,namespaceLimit"),
            [r#"["c",25]"#, r#"["a",10]"#, r#"["b",-1]"#]
        );
        assert_eq!(
            only_ids("orderBy=metadata.creationTimestamp"),
            [r#"["b"]"#, r#"["a"]"#, r#"["c"]"#]
        );
        let first = Listing::read("limit=2&count=true&include=id", &known)
            .unwrap()
            .page(items());
        assert_eq!(first.items.len(), 2);
        assert_eq!(first.count, Some(3));
        let token = first.continue_token.unwrap();
        let next = Listing::read(&format!("continue={token}&include=id"), &known)
            .unwrap()
            .page(items());
        assert_eq!(next.items[0].get(), r#"["c"]"#);
        assert!(next.continue_token.is_none());
        assert_eq!(only_ids("skip=2"), [r#"["c"]"#]);
        // Numbers come back as written.
        assert_eq!(
            ids("filter=id eq 'c'&include=costPerNamespaceUnit"),
            ["[0.0050]"]
        );
    }

    #[test]
    fn every_bad_parameter_is_named() {
        for (query, name) in [
            ("filter=terms eq trial", "filter"),
            ("filter=terms like 'x'", "filter"),
            ("filter=nope eq 'x'", "filter"),
            ("filter=terms eq 'x' or id eq 'a'", "filter"),
            ("filter=terms eq 'open", "filter"),
            ("orderBy=terms sideways", "orderBy"),
            ("include=nope", "include"),
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("skip=-1", "skip"),
            ("continue=abc", "continue"),
            ("count=yes", "count"),
            ("page=2", "page"),
        ] {
            let problem = Listing::read(query, &known).unwrap_err();
            assert_eq!(problem.invalid_params[0].name, name, "{query}");
        }
        let both = Listing::read("skip=1&continue=v1.2", &known).unwrap_err();
        assert_eq!(both.invalid_params[0].name, "skip");
        // A quote inside a value is doubled.
        let clauses = parse_filter("id eq 'O''Neil'", &known).unwrap();
        assert_eq!(clauses[0].value, Literal::Quoted("O'Neil".into()));
    }
}
