//! Streamed responses (exports, reports): rows are read and sent as they come, so a response
//! of any size never sits in memory, and a client that goes away stops the reading.

use futures::Stream;
use tokio::sync::mpsc;

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
pub fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
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
