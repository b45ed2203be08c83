//! Rows that are inserted once by their key (usage records and cost facts by id, audit rows by
//! stream position), inserted the cheap way first.
//!
//! `ON CONFLICT … DO NOTHING` makes PostgreSQL insert each row speculatively: about twice the
//! work of a plain insert (a usage record: 11 µs instead of 5), paid on every row for the rare
//! batch that repeats a key (a client's resend, a month later). So a batch is first inserted
//! plainly under a savepoint, where the unique index itself refuses a repeated key; only a
//! refused batch is rolled back to the savepoint and inserted again with `ON CONFLICT`, adding
//! just its new rows. Keys repeated inside the batch are dropped before either, by the caller.

use sqlx::postgres::{PgArguments, PgQueryResult};
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres};

/// Below this many rows the savepoint's two round trips cost more than the plain insert
/// saves (about 6 µs a row), so a small batch (a live command's events) goes in carefully.
const PLAIN_FIRST_FROM_ROWS: usize = 64;
/// PostgreSQL's `unique_violation`.
const UNIQUE_VIOLATION: &str = "23505";

/// Moves one field out of every row into a column of its own, for UNNEST, declaring a `let`
/// per field: `take_columns!(rows, row => row.fact; id, day)` declares `id` and `day`. The
/// rows are done with once inserted, so nothing is copied.
macro_rules! take_columns {
    ($rows:expr, $row:ident => $place:expr; $($field:ident),+ $(,)?) => {
        $(
            let $field: Vec<_> = $rows
                .iter_mut()
                .map(|$row| std::mem::take(&mut $place.$field))
                .collect();
        )+
    };
}
pub(crate) use take_columns;

/// An insert in its two forms: written once with `{on_conflict}` where the conflict clause
/// belongs.
pub(crate) struct Statement {
    plain: String,
    careful: String,
}

impl Statement {
    /// `conflict` is the clause of the careful form: `ON CONFLICT (tenant, id) DO NOTHING`.
    pub(crate) fn new(template: &str, conflict: &str) -> Self {
        Self {
            plain: template.replace("{on_conflict}", ""),
            careful: template.replace("{on_conflict}", conflict),
        }
    }
}

/// Runs `statement` (of `rows` rows) plainly, and again in its careful form should a key be
/// there already. `bind` binds the same arguments to either.
pub(crate) async fn insert<'q, F>(
    tx: &mut PgConnection,
    statement: &'q Statement,
    rows: usize,
    bind: F,
) -> Result<PgQueryResult, sqlx::Error>
where
    F: Fn(Query<'q, Postgres, PgArguments>) -> Query<'q, Postgres, PgArguments>,
{
    if rows < PLAIN_FIRST_FROM_ROWS {
        return bind(sqlx::query(&statement.careful))
            .execute(&mut *tx)
            .await;
    }
    sqlx::query("SAVEPOINT insert_once")
        .execute(&mut *tx)
        .await?;
    let result = match bind(sqlx::query(&statement.plain)).execute(&mut *tx).await {
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(UNIQUE_VIOLATION) => {
            sqlx::query("ROLLBACK TO SAVEPOINT insert_once")
                .execute(&mut *tx)
                .await?;
            bind(sqlx::query(&statement.careful))
                .execute(&mut *tx)
                .await?
        }
        other => other?,
    };
    sqlx::query("RELEASE SAVEPOINT insert_once")
        .execute(&mut *tx)
        .await?;
    Ok(result)
}
