//! Streamed responses (exports, reports): rows are read and sent as they come, so a response
//! of any size never sits in memory, and a client that goes away stops the reading.

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
pub fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// A free-text CSV field for a report people open in a spreadsheet: text a user typed that
/// starts like a formula (`=`, `+`, `-`, `@`) is prefixed with `'`, so it is shown, never run.
pub fn csv_text(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        csv_field(&format!("'{value}"))
    } else {
        csv_field(value)
    }
}

/// A channel whose receiving end is a response body: a spawned task produces chunks into the
/// sender, which fails once the client has gone.
pub fn body_channel() -> (
    mpsc::Sender<Result<String, std::io::Error>>,
    impl Stream<Item = Result<String, std::io::Error>> + Send + 'static,
) {
    let (sender, mut receiver) = mpsc::channel(64);
    let stream = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    (sender, stream)
}

/// Chunks are about this big: one per row would cost a channel hop and a write each.
const CHUNK: usize = 64 * 1024;

/// Renders `rows` after `first` (a header, or nothing) into `sender` in chunks. A failure ends
/// the body early, so the client sees a cut-off response rather than one that looks whole;
/// a client that has gone stops the reading.
pub async fn send_rows<T, E: std::error::Error + Send + Sync + 'static>(
    sender: mpsc::Sender<Result<String, std::io::Error>>,
    first: String,
    mut rows: impl Stream<Item = Result<T, E>> + Unpin,
    render: impl Fn(&T, &mut String) -> Result<(), std::io::Error>,
) {
    let mut chunk = first;
    while let Some(row) = rows.next().await {
        let rendered = row
            .map_err(std::io::Error::other)
            .and_then(|row| render(&row, &mut chunk));
        if let Err(e) = rendered {
            let _ = sender.send(Err(e)).await;
            return;
        }
        if chunk.len() >= CHUNK {
            let full = std::mem::replace(&mut chunk, String::with_capacity(CHUNK + CHUNK / 4));
            if sender.send(Ok(full)).await.is_err() {
                return;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = sender.send(Ok(chunk)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_text("+1 555"), "'+1 555");
        assert_eq!(csv_text("Acme"), "Acme");
    }
}
