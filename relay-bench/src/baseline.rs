//! The two bare fan-out servers the relay is compared with. Each runs as its
//! own process (`tabchain-relay-bench serve-chat` / `serve-batched`), forwards
//! every text frame verbatim to every other connection on `/ws`, speaks no
//! protocol, and prints `tabchain-relay-bench <name> listening on http://ADDR/`
//! as its first stdout line. They stop when stdin closes or on SIGTERM.
//!
//! - **chat** (baseline a), in the style of axum's chat example: one
//!   `tokio::sync::broadcast` channel of `String`s (so each receiver gets its
//!   own copy, as in the example); each connection's sender task receives and
//!   `send`s each message, which is one flush (one `write` syscall) per
//!   delivery.
//! - **batched** (baseline b): a bounded queue per client; a received frame is
//!   `try_send` to every other client's queue (a full queue drops that client),
//!   and each writer `feed`s everything queued (up to [`BATCH`]) and flushes once.
//!
//! Batched shares the message as one `Utf8Bytes` (no copy per receiver). Both
//! use a [`WRITE_BUFFER`] write buffer and a [`MAX_MESSAGE`] message limit, and
//! set `TCP_NODELAY`, like the relay.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc};

/// Capacity of the chat broadcast channel and of each batched client queue.
const QUEUE: usize = 1024;
/// Most frames one batched writer feeds before it flushes.
const BATCH: usize = 256;
/// Per-connection write buffer (tungstenite's default is 128 KiB).
const WRITE_BUFFER: usize = 16 * 1024;
/// Largest accepted message (axum's default is 64 MiB).
const MAX_MESSAGE: usize = 2 << 20;

/// Which baseline to serve.
#[derive(Clone, Copy, Debug)]
pub enum Baseline {
    /// (a) broadcast channel, one flush per message.
    Chat,
    /// (b) per-client bounded queues, batched writes.
    Batched,
}

impl Baseline {
    /// The name printed in the first line.
    fn name(self) -> &'static str {
        match self {
            Baseline::Chat => "chat",
            Baseline::Batched => "batched",
        }
    }
}

/// Serves `kind` on 127.0.0.1 (an OS-chosen port) until stdin closes or SIGTERM.
pub fn serve(kind: Baseline) -> Result<()> {
    // With the usual soft limit of 1024 descriptors, client ~1,011 hangs in the handshake.
    rlimit::increase_nofile_limit(u64::MAX).context("raising the open-file limit")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding 127.0.0.1:0")?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let app = match kind {
            Baseline::Chat => Router::new()
                .route("/ws", get(chat_upgrade))
                .with_state(Arc::new(Chat { next_id: AtomicU64::new(0), tx: broadcast::channel(QUEUE).0 })),
            Baseline::Batched => Router::new()
                .route("/ws", get(batched_upgrade))
                .with_state(Arc::new(Batched { next_id: AtomicU64::new(0), clients: Mutex::default() })),
        };
        println!("tabchain-relay-bench {} listening on http://{addr}/", kind.name());
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::select! {
            res = axum::serve(listener, app) => res.context("serving HTTP"),
            () = shutdown() => Ok(()),
        }
    })?;
    // Do not wait for connection tasks or the stdin thread.
    std::process::exit(0)
}

/// Resolves when stdin reaches end-of-file (the benchmark went away) or on SIGTERM.
async fn shutdown() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = tx.send(());
    });
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = rx => {},
                _ = term.recv() => {},
            }
        }
        Err(e) => {
            eprintln!("cannot listen for SIGTERM: {e}");
            let _ = rx.await;
        }
    }
}

/// Applies the shared WebSocket settings.
fn configure(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.write_buffer_size(WRITE_BUFFER).max_message_size(MAX_MESSAGE)
}

/// State of baseline (a).
struct Chat {
    next_id: AtomicU64,
    /// Every received frame, tagged with its sender.
    tx: broadcast::Sender<(u64, String)>,
}

async fn chat_upgrade(ws: WebSocketUpgrade, State(chat): State<Arc<Chat>>) -> Response {
    configure(ws).on_upgrade(move |socket| chat_connection(socket, chat))
}

/// As in axum's chat example: a send task forwarding the broadcast channel and
/// a receive task feeding it; when either ends, the other is aborted.
async fn chat_connection(socket: WebSocket, chat: Arc<Chat>) {
    let id = chat.next_id.fetch_add(1, Ordering::Relaxed);
    let (mut sender, mut receiver) = socket.split();
    let mut rx = chat.tx.subscribe();
    let mut send_task = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok((from, _)) if from == id => {}
                Ok((_, text)) => {
                    if sender.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    let tx = chat.tx.clone();
    let mut recv_task = tokio::spawn(async move {
        while let Some(Ok(message)) = receiver.next().await {
            match message {
                Message::Text(text) => {
                    let _ = tx.send((id, text.as_str().to_owned()));
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    tokio::select! {
        _ = &mut send_task => recv_task.abort(),
        _ = &mut recv_task => send_task.abort(),
    }
}

/// State of baseline (b).
struct Batched {
    next_id: AtomicU64,
    /// Each connected client's queue.
    clients: Mutex<HashMap<u64, mpsc::Sender<Utf8Bytes>>>,
}

impl Batched {
    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<u64, mpsc::Sender<Utf8Bytes>>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn batched_upgrade(ws: WebSocketUpgrade, State(batched): State<Arc<Batched>>) -> Response {
    configure(ws).on_upgrade(move |socket| batched_connection(socket, batched))
}

/// A writer task draining this client's queue in batches and a reader fanning
/// out into every other queue.
async fn batched_connection(socket: WebSocket, batched: Arc<Batched>) {
    let id = batched.next_id.fetch_add(1, Ordering::Relaxed);
    let (queue_tx, mut queue_rx) = mpsc::channel::<Utf8Bytes>(QUEUE);
    batched.clients().insert(id, queue_tx);
    let (mut sink, mut stream) = socket.split();
    let mut writer = tokio::spawn(async move {
        while let Some(first) = queue_rx.recv().await {
            if sink.feed(Message::Text(first)).await.is_err() {
                return;
            }
            for _ in 1..BATCH {
                let Ok(text) = queue_rx.try_recv() else { break };
                if sink.feed(Message::Text(text)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    let state = batched.clone();
    let mut reader = tokio::spawn(async move {
        let mut full = Vec::new();
        while let Some(Ok(message)) = stream.next().await {
            match message {
                Message::Text(text) => {
                    for (&other, queue) in state.clients().iter() {
                        if other != id
                            && matches!(queue.try_send(text.clone()), Err(mpsc::error::TrySendError::Full(_)))
                        {
                            full.push(other);
                        }
                    }
                    if !full.is_empty() {
                        let mut clients = state.clients();
                        for other in full.drain(..) {
                            eprintln!("batched: dropping client {other}: its queue is full");
                            clients.remove(&other);
                        }
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    tokio::select! {
        _ = &mut writer => reader.abort(),
        _ = &mut reader => writer.abort(),
    }
    batched.clients().remove(&id);
}
