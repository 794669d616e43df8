//! The node's websocket to the relay: the same protocol a tab speaks, driven
//! by the same core driver. One relay at a time: the `--relay` addresses are
//! tried in turn, with exponential backoff and jitter between attempts.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::service::{Service, now_ms};

/// First retry delay; doubled per failure up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// Messages waiting to be written to the relay.
const OUTBOUND_QUEUE: usize = 1024;
/// How often the driver's timers run (sync retries).
const TICK: Duration = Duration::from_secs(1);
/// Largest message accepted from the relay (the protocol's limit).
const MAX_MESSAGE: usize = tabchain_core::wire::MAX_MESSAGE_BYTES;

/// Keeps a connection to one of `urls` until `shutdown` turns true.
pub async fn run(urls: Vec<String>, service: Arc<Service>, mut shutdown: watch::Receiver<bool>) {
    if urls.is_empty() {
        return;
    }
    let mut failures: u32 = 0;
    for url in urls.iter().cycle() {
        if *shutdown.borrow() {
            return;
        }
        match connect_once(url, &service, &mut shutdown).await {
            Ok(()) => failures = 0,
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(%url, "relay connection failed: {e}");
            }
        }
        service.set_relay(None);
        let _ = service
            .update_blocking(|driver| {
                driver.on_disconnected();
                ((), Vec::new())
            })
            .await;
        if *shutdown.borrow() {
            return;
        }
        let delay = backoff(failures);
        tracing::info!(%url, "reconnecting in {} ms", delay.as_millis());
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// Full jitter: a random wait up to the exponential cap.
fn backoff(failures: u32) -> Duration {
    let cap = BASE_BACKOFF.saturating_mul(1 << failures.min(5)).min(MAX_BACKOFF);
    let random = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), now_ms());
    Duration::from_millis(100 + random % (cap.as_millis() as u64).max(1))
}

/// What woke the connection loop.
enum Step {
    Frame(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Tick,
    Stop,
}

/// One connection: until it closes or the node shuts down.
async fn connect_once(url: &str, service: &Arc<Service>, shutdown: &mut watch::Receiver<bool>) -> anyhow::Result<()> {
    let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
    let (socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    tracing::info!(%url, "connected to the relay");
    let (mut sink, mut stream) = socket.split();
    let (queue, mut outbound) = mpsc::channel::<String>(OUTBOUND_QUEUE);
    service.set_relay(Some(queue));
    let writer = tokio::spawn(async move {
        while let Some(text) = outbound.recv().await {
            sink.feed(Message::text(text)).await?;
            while let Ok(text) = outbound.try_recv() {
                sink.feed(Message::text(text)).await?;
            }
            sink.flush().await?;
        }
        let _ = sink.close().await;
        Ok::<_, tokio_tungstenite::tungstenite::Error>(())
    });
    let mut tick = tokio::time::interval(TICK);
    let result = loop {
        // Decide first, then act: nothing borrowed by `select!` lives across an await.
        let step = tokio::select! {
            frame = stream.next() => Step::Frame(frame),
            _ = tick.tick() => Step::Tick,
            _ = shutdown.wait_for(|stop| *stop) => Step::Stop,
        };
        match step {
            Step::Frame(Some(Ok(Message::Text(text)))) => {
                let text = text.as_str().to_owned();
                service.update_blocking(move |driver| ((), driver.on_text(&text, now_ms()))).await?;
            }
            Step::Frame(Some(Ok(Message::Close(frame)))) => {
                tracing::info!(?frame, "relay closed the connection");
                break Ok(());
            }
            Step::Frame(Some(Ok(_))) => {}
            Step::Frame(Some(Err(e))) => break Err(e.into()),
            Step::Frame(None) | Step::Stop => break Ok(()),
            Step::Tick => service.update_blocking(|driver| ((), driver.tick(now_ms()))).await?,
        }
    };
    service.set_relay(None);
    writer.abort();
    result
}
