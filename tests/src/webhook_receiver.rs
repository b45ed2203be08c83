//! A webhook endpoint for tests of deliveries.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};

#[derive(Default)]
pub struct Received {
    pub calls: usize,
    pub delivered: Vec<(HeaderMap, Vec<u8>)>,
}

/// A webhook endpoint on loopback that fails its first `failures` calls.
pub async fn receiver(failures: usize) -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let state = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                let mut received = state.lock().unwrap();
                received.calls += 1;
                if received.calls <= failures {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                received.delivered.push((headers, body.to_vec()));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}
