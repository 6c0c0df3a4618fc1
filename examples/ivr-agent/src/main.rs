//! A small IVR written as a Switchboard agent, to read before writing your own.
//!
//! For every call the server offers (`invite`) it answers 200, then sends
//! `ring`, `answer`, `play` a welcome prompt and `read_dtmf` up to `#`. Digits
//! starting with 9 are handed to the `voicebot` endpoint with `redirect`; any
//! other digits are read back one prompt per digit, and the call is hung up.
//!
//! How it is built:
//! - one WebSocket connection carries every call; a single reader loop
//!   decodes frames and routes each response to the request with its `id`;
//! - each call runs in its own task, sending one request at a time and
//!   awaiting its final response (provisionals like 183 come first);
//! - all writes go through one writer task, so frames never interleave;
//! - if the server is not up, or goes away, it reconnects with backoff.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_rpc::{AgentOp, Frame, Play, ReadDtmf, Redirect, Request, Response};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::{info, info_span, warn, Instrument};

/// Agents give up on a request that gets no response of any kind this long.
const FIRST_RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Reconnect delays: doubling from the first to the last, reset once connected.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Command line; the defaults match Switchboard's default config.
#[derive(Parser, Debug)]
#[command(about = "Example IVR agent for Switchboard's Agent RPC")]
struct Args {
    /// Agent RPC address of the server.
    #[arg(long, default_value = "ws://127.0.0.1:6000")]
    url: String,
    /// Endpoint whose calls this agent takes.
    #[arg(long, default_value = "myagent")]
    endpoint: String,
    /// Welcome prompt, relative to the server's sounds directory.
    #[arg(long, default_value = "file://welcome.wav")]
    prompt: String,
    /// Folder of the digit prompts `0.wav` … `9.wav`.
    #[arg(long, default_value = "file://digits")]
    digits: String,
}

/// One connection's shared state: where to write, and who waits for which id.
struct Connection {
    writer: mpsc::Sender<Message>,
    waiting: Mutex<HashMap<String, mpsc::UnboundedSender<Response>>>,
    next_id: AtomicU64,
}

impl Connection {
    /// Sends a frame; fails only when the connection is gone.
    async fn send(&self, frame: impl Into<Frame>) -> anyhow::Result<()> {
        let text = frame.into().to_json();
        self.writer.send(Message::text(text)).await?;
        Ok(())
    }

    /// Sends `op` for call `did` and returns its final response.
    async fn request(&self, did: &str, op: AgentOp) -> anyhow::Result<Response> {
        let id = format!("ivr-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, mut responses) = mpsc::unbounded_channel();
        self.waiting
            .lock()
            .expect("lock not poisoned")
            .insert(id.clone(), tx);
        self.send(op.to_request(id.clone(), did)).await?;
        // The first response must come quickly; the final one may take as
        // long as the op runs (a prompt, a digit timeout).
        let name = op.name();
        let outcome = async {
            let mut next = tokio::time::timeout(FIRST_RESPONSE_TIMEOUT, responses.recv())
                .await
                .map_err(|_| anyhow::anyhow!("no response to {name}"))?;
            loop {
                match next {
                    Some(response) if response.is_provisional() => {
                        info!(op = %name, code = response.code, reason = %response.reason);
                        next = responses.recv().await;
                    }
                    Some(response) => return Ok(response),
                    None => anyhow::bail!("connection lost during {name}"),
                }
            }
        }
        .await;
        self.waiting.lock().expect("lock not poisoned").remove(&id);
        outcome
    }

    /// Hands a response to the request waiting for it.
    fn deliver(&self, response: Response) {
        let waiting = self.waiting.lock().expect("lock not poisoned");
        match waiting.get(&response.id) {
            Some(waiter) => {
                let _ = waiter.send(response);
            }
            None => warn!(id = %response.id, "response to no request of ours"),
        }
    }
}

/// What the IVR plays, from the command line.
struct Prompts {
    welcome: String,
    digits: String,
}

/// One call, from answer to hangup or redirect.
async fn run_call(connection: Arc<Connection>, prompts: Arc<Prompts>, did: String) {
    match call_flow(&connection, &prompts, &did).await {
        Ok(()) => info!("call flow done"),
        // Most often the caller hung up: the server answers 404 or 487.
        Err(e) => info!("call flow ended early: {e:#}"),
    }
}

/// The IVR's steps; an error ends them (the caller hung up, a step failed).
async fn call_flow(connection: &Connection, prompts: &Prompts, did: &str) -> anyhow::Result<()> {
    // A step whose final response is not 200 ends the flow.
    let step = |op: AgentOp| async move {
        let name = op.name().to_owned();
        let response = connection.request(did, op).await?;
        info!(op = %name, code = response.code, reason = %response.reason);
        anyhow::ensure!(response.code == 200, "{name} answered {}", response.code);
        Ok::<_, anyhow::Error>(response)
    };
    let play = |uri: &str| {
        AgentOp::Play(Play {
            uri: uri.to_owned(),
        })
    };

    step(AgentOp::Ring).await?;
    step(AgentOp::Answer).await?;
    step(play(&prompts.welcome)).await?;
    let read = step(AgentOp::ReadDtmf(ReadDtmf {
        duration_sec: 10,
        termination: Some('#'),
    }))
    .await?;
    let digits = read.data["dtmf"].as_str().unwrap_or_default().to_owned();
    info!(%digits, "caller entered");

    if digits.starts_with('9') {
        let endpoint = "voicebot".to_owned();
        step(AgentOp::Redirect(Redirect { endpoint })).await?;
        return Ok(()); // The server sends `bye`: the call is no longer ours.
    }
    for digit in digits.chars().filter(char::is_ascii_digit) {
        let uri = format!("{}/{digit}.wav", prompts.digits);
        // A missing file is answered 4xx and the call goes on: fall back.
        if step(play(&uri)).await.is_err() {
            step(play(&prompts.welcome)).await?;
            break;
        }
    }
    step(AgentOp::Hangup).await?;
    Ok(())
}

/// The client side of one Agent RPC connection.
type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Serves one connection until it closes.
async fn serve(socket: Socket, prompts: &Arc<Prompts>) -> anyhow::Result<()> {
    let (mut sink, mut stream) = socket.split();
    let (writer, mut outgoing) = mpsc::channel::<Message>(256);
    let write_loop = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
    });
    let connection = Arc::new(Connection {
        writer,
        waiting: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
    });

    let result = read_loop(&mut stream, &connection, prompts).await;
    // Wake every call still waiting for a response: none will come now.
    connection
        .waiting
        .lock()
        .expect("lock not poisoned")
        .clear();
    write_loop.abort();
    result
}

/// Routes every frame the server sends: responses to their requests,
/// requests to [`on_request`].
async fn read_loop(
    stream: &mut futures_util::stream::SplitStream<Socket>,
    connection: &Arc<Connection>,
    prompts: &Arc<Prompts>,
) -> anyhow::Result<()> {
    while let Some(message) = stream.next().await {
        let text = match message? {
            Message::Text(text) => text,
            Message::Close(_) => break,
            _ => continue, // Binary frames carry `listen` audio; we never listen.
        };
        match Frame::decode(text.as_str()) {
            Ok(Frame::Response(response)) => connection.deliver(response),
            Ok(Frame::Request(request)) => on_request(connection, prompts, request).await?,
            Err(e) => warn!("undecodable frame from server: {e}"),
        }
    }
    Ok(())
}

/// Answers a request from the server: a new call, or the end of one.
async fn on_request(
    connection: &Arc<Connection>,
    prompts: &Arc<Prompts>,
    request: Request,
) -> anyhow::Result<()> {
    match request.op.as_str() {
        "invite" => {
            info!(did = %request.did, data = %request.data, "incoming call");
            // Agents answer `invite` with an empty did; only 200 accepts.
            connection
                .send(Response::new(request.id.clone(), "", 200, "OK"))
                .await?;
            let span = info_span!("call", did = %request.did);
            let call = run_call(connection.clone(), prompts.clone(), request.did);
            tokio::spawn(call.instrument(span));
        }
        "bye" => {
            info!(did = %request.did, "call ended");
            connection.send(Response::ok(&request)).await?;
        }
        other => {
            warn!(op = other, "unexpected request");
            connection
                .send(Response::to(&request, 405, "Method Not Allowed"))
                .await?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let args = Args::parse();
    let url = format!(
        "{}/?endpoint={}",
        args.url.trim_end_matches('/'),
        args.endpoint
    );
    let prompts = Arc::new(Prompts {
        welcome: args.prompt,
        digits: args.digits.trim_end_matches('/').to_owned(),
    });

    let mut backoff = MIN_BACKOFF;
    loop {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((socket, _)) => {
                info!(url, "connected");
                backoff = MIN_BACKOFF;
                match serve(socket, &prompts).await {
                    Ok(()) => warn!("server closed the connection"),
                    Err(e) => warn!("connection lost: {e}"),
                }
            }
            // 400 or 404: unknown endpoint or too many agents. Keep trying:
            // the operator may be fixing the config right now.
            Err(tungstenite::Error::Http(response)) => {
                warn!(status = %response.status(), "server refused the agent");
            }
            Err(e) => warn!("cannot connect: {e}"),
        }
        info!("reconnecting in {backoff:?}");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
