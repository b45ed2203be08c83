//! Checkpoints: the stream sequence each projection has applied.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};

pub async fn read<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    projection: &str,
) -> Result<u64, sqlx::Error> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE projection = $1")
            .bind(projection)
            .fetch_optional(executor)
            .await?;
    Ok(position.unwrap_or(0) as u64)
}

pub async fn ensure(conn: &mut PgConnection, projection: &str) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (projection, position) VALUES ($1, 0)
         ON CONFLICT (projection) DO NOTHING",
    )
    .bind(projection)
    .execute(&mut *conn)
    .await?;
    let position: i64 =
        sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE projection = $1")
            .bind(projection)
            .fetch_one(&mut *conn)
            .await?;
    Ok(position as u64)
}

/// Locks the checkpoint row for the rest of the transaction and returns it. Every batch takes
/// this lock, so it fences out a second writer (a stale leader, a rebuild's swap).
pub async fn lock(conn: &mut PgConnection, projection: &str) -> Result<u64, sqlx::Error> {
    let position: i64 = sqlx::query_scalar(
        "SELECT position FROM projection_checkpoints WHERE projection = $1 FOR UPDATE",
    )
    .bind(projection)
    .fetch_one(&mut *conn)
    .await?;
    Ok(position as u64)
}

/// Locks the checkpoint rows of `projections` for the rest of the transaction and returns
/// their positions, in the order given. The rows are locked in name order, whoever asks, so two
/// writers never deadlock on them.
pub async fn lock_all(
    conn: &mut PgConnection,
    projections: &[String],
) -> Result<Vec<u64>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT projection, position FROM projection_checkpoints WHERE projection = ANY($1)
          ORDER BY projection FOR UPDATE",
    )
    .bind(projections)
    .fetch_all(&mut *conn)
    .await?;
    projections
        .iter()
        .map(|name| {
            rows.iter()
                .find(|(projection, _)| projection == name)
                .map(|(_, position)| *position as u64)
                .ok_or(sqlx::Error::RowNotFound)
        })
        .collect()
}

/// The channel on which every stored checkpoint is announced as `<projection> <position>`,
/// when its transaction commits: readers that wait for a position listen instead of polling.
pub const CHANNEL: &str = "fleet_checkpoints";

pub async fn store(
    conn: &mut PgConnection,
    projection: &str,
    position: u64,
) -> Result<(), sqlx::Error> {
    // One round trip: the update and its announcement, sent when the transaction commits.
    sqlx::query(
        "WITH stored AS (
             UPDATE projection_checkpoints SET position = $2, updated_at = now()
              WHERE projection = $1 RETURNING projection, position)
         SELECT pg_notify($3, projection || ' ' || position) FROM stored",
    )
    .bind(projection)
    .bind(position as i64)
    .bind(CHANNEL)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Stores several checkpoints, and announces each, in one round trip.
pub async fn store_all(
    conn: &mut PgConnection,
    projections: &[String],
    positions: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH stored AS (
             UPDATE projection_checkpoints c SET position = s.position, updated_at = now()
               FROM UNNEST($1::text[], $2::int8[]) AS s (projection, position)
              WHERE c.projection = s.projection RETURNING c.projection, c.position)
         SELECT pg_notify($3, projection || ' ' || position) FROM stored",
    )
    .bind(projections)
    .bind(positions)
    .bind(CHANNEL)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every projection's checkpoint.
pub async fn all<'c>(
    executor: impl sqlx::PgExecutor<'c>,
) -> Result<Vec<(String, u64)>, sqlx::Error> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT projection, position FROM projection_checkpoints")
            .fetch_all(executor)
            .await?;
    Ok(rows.into_iter().map(|(p, n)| (p, n as u64)).collect())
}

/// Waits until `projection` has applied `position`, up to `timeout`. Returns whether it did.
/// Read-your-writes: a client sends the position a command returned with its next query.
pub async fn wait_for(
    pool: &PgPool,
    projection: &str,
    position: u64,
    timeout: Duration,
) -> Result<bool, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    wait_for_on(&mut conn, projection, position, timeout).await
}

/// [`wait_for`] on a connection the caller holds (inside its transaction, say).
pub async fn wait_for_on(
    conn: &mut PgConnection,
    projection: &str,
    position: u64,
    timeout: Duration,
) -> Result<bool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        if read(&mut *conn, projection).await? >= position {
            return Ok(true);
        }
        if tokio::time::Instant::now() + pause > deadline {
            return Ok(false);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}
