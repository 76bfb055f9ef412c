//! A scripted OpenAI-compatible chat-completions server on loopback, for testing LLM clients.
//!
//! `ChatServer::start(script)` binds `127.0.0.1:0` and answers each `POST /v1/chat/completions`
//! with the next [`Step`] of the script (then the fallback step, or a 500 once the script is
//! exhausted). `GET /v1/models` always lists one model, `scripted`. It speaks just enough
//! HTTP/1.1 for a real client: a `Content-Length` or chunked request body, one response per
//! connection (`Connection: close`). Only std and serde_json.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// How long a `Hang` or `Slow` step sleeps between looks at the stop flag.
const TICK: Duration = Duration::from_millis(10);
/// The longest request head (request line + headers) the server reads.
const MAX_HEAD: usize = 64 * 1024;

/// One scripted answer to one chat-completions request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// 200 with a completion whose content is this string, `finish_reason: "stop"`.
    Reply(String),
    /// 200 with a completion whose content is this string, `finish_reason: "length"`.
    Truncated(String),
    /// 200 with a completion that has no choices (`choices: []`).
    Empty,
    /// This status and exactly this body (malformed JSON, wrong shapes…).
    RawBody(u16, String),
    /// This status with the body `{"error":{"message":"scripted <status>"}}`.
    Status(u16),
    /// 429 with `Retry-After: <retry_after_s>` and an OpenAI-style error body.
    RateLimited {
        /// The value of the `Retry-After` header, in seconds.
        retry_after_s: u64,
    },
    /// Waits `delay_ms` before answering as `then` (for client timeouts).
    Slow {
        /// How long to wait before answering, in milliseconds.
        delay_ms: u64,
        /// The answer once the delay is over.
        then: Box<Step>,
    },
    /// Never answers; the connection is closed, unanswered, when the server stops.
    Hang,
    /// 401 with an OpenAI-style `invalid_api_key` error body.
    Unauthorized,
}

/// One chat-completions request as the server received it.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// The request path, query string included (`/v1/chat/completions`).
    pub path: String,
    /// The request headers in order, names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The request body as JSON (`Value::Null` if it is not JSON).
    pub body: Value,
}

impl Recorded {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The script and what was recorded, under one lock so that recording order is answer order.
struct State {
    script: VecDeque<Step>,
    fallback: Option<Step>,
    responder: Option<Responder>,
    requests: Vec<Recorded>,
}

/// Computes the step for a request from its body (for scripts that depend on the prompt).
pub type Responder = Arc<dyn Fn(&Value) -> Step + Send + Sync>;

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    completions: AtomicU64,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// A scripted chat-completions server on a loopback port; stops when dropped.
pub struct ChatServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl ChatServer {
    /// Binds `127.0.0.1:0` and serves `script` on a background thread, one step per
    /// chat-completions request.
    pub fn start(script: Vec<Step>) -> ChatServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address of the listener");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                script: script.into(),
                fallback: None,
                responder: None,
                requests: Vec::new(),
            }),
            stop: AtomicBool::new(false),
            completions: AtomicU64::new(0),
        });
        let accept = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("chat-server-accept".into())
                .spawn(move || accept_loop(listener, shared))
                .expect("spawn the accept thread")
        };
        ChatServer { addr, shared, accept: Some(accept) }
    }

    /// Answers with `step` (again and again) once the script is exhausted, instead of a 500.
    pub fn with_fallback(self, step: Step) -> ChatServer {
        self.shared.state().fallback = Some(step);
        self
    }

    /// Once the script is exhausted, answers each request with the step `responder` computes
    /// from its body (before any fallback).
    pub fn with_responder(self, responder: impl Fn(&Value) -> Step + Send + Sync + 'static) -> ChatServer {
        self.shared.state().responder = Some(Arc::new(responder));
        self
    }

    /// `http://127.0.0.1:PORT/v1`, the base URL an OpenAI client is given.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The chat-completions requests received so far, in arrival order (not `/v1/models`).
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.state().requests.clone()
    }

    /// How many chat-completions requests were received so far.
    pub fn request_count(&self) -> usize {
        self.shared.state().requests.len()
    }

    /// How many scripted steps are still queued (the fallback not counted).
    pub fn remaining_steps(&self) -> usize {
        self.shared.state().script.len()
    }

    /// Stops accepting, ends hanging and slow answers, closes open connections and joins every
    /// server thread. Dropping the server does the same.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(accept) = self.accept.take() else { return };
        self.shared.stop.store(true, Ordering::SeqCst);
        // Unblock `accept`: the loop sees the flag on this connection and ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = accept.join();
    }
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A completion body with `content`, `finish_reason: "stop"`, model `scripted` and usage counted
/// from the content alone (for `Step::RawBody` variations on a well-formed answer).
pub fn completion_json(content: &str) -> String {
    completion(content, "stop", "scripted", 0, 0).to_string()
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections: Vec<(JoinHandle<()>, Option<TcpStream>)> = Vec::new();
    for stream in listener.incoming() {
        if shared.stopped() {
            break;
        }
        let Ok(stream) = stream else { continue };
        connections.retain(|(handle, _)| !handle.is_finished());
        let peer = stream.try_clone().ok();
        let conn_shared = Arc::clone(&shared);
        match std::thread::Builder::new()
            .name("chat-server-conn".into())
            .spawn(move || serve_connection(stream, &conn_shared))
        {
            Ok(handle) => connections.push((handle, peer)),
            Err(_) => continue,
        }
    }
    // Unblock connections still waiting on their client, then wait for every thread.
    for peer in connections.iter().filter_map(|(_, peer)| peer.as_ref()) {
        let _ = peer.shutdown(Shutdown::Both);
    }
    for (handle, _) in connections {
        let _ = handle.join();
    }
}

/// One parsed HTTP request.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// One HTTP response to write.
struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Response {
    fn json(status: u16, body: String) -> Response {
        Response { status, headers: Vec::new(), body }
    }

    fn error(status: u16, message: &str) -> Response {
        Response::json(status, json!({ "error": { "message": message } }).to_string())
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    if answer_connection(&mut reader, &mut writer, shared) {
        // Close gracefully: end our side, then drain what the client still sends (briefly), so
        // that unread bytes do not turn the close into a reset that could lose the response.
        let _ = writer.shutdown(Shutdown::Write);
        let _ = writer.set_read_timeout(Some(Duration::from_millis(200)));
        let mut sink = [0u8; 1024];
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            match reader.get_mut().read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    // The accept thread holds a clone of this socket: shut it down rather than rely on the drop.
    let _ = writer.shutdown(Shutdown::Both);
}

/// Reads one request and writes its answer; false if nothing was written.
fn answer_connection(reader: &mut BufReader<TcpStream>, writer: &mut TcpStream, shared: &Shared) -> bool {
    let response = match read_request(reader, writer) {
        Ok(request) => route(request, shared),
        Err(RequestError::Closed) => None,
        Err(RequestError::Bad(message)) => Some(Response::error(400, &message)),
    };
    // The client may have hung up (timeouts): write errors are not the server's concern.
    response.is_some_and(|response| write_response(writer, &response).is_ok())
}

/// The answer to one request, or `None` to close the connection unanswered.
fn route(request: Request, shared: &Shared) -> Option<Response> {
    let route_path = request.path.split('?').next().unwrap_or_default().trim_end_matches('/');
    match (request.method.as_str(), route_path) {
        ("GET", "/v1/models") => Some(Response::json(
            200,
            json!({ "object": "list", "data": [{ "id": "scripted", "object": "model" }] }).to_string(),
        )),
        ("POST", "/v1/chat/completions") => {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let step = {
                let mut state = shared.state();
                state.requests.push(Recorded {
                    path: request.path.clone(),
                    headers: request.headers.clone(),
                    body: body.clone(),
                });
                match state.script.pop_front() {
                    Some(step) => Some(step),
                    None => state.responder.clone().map(|r| r(&body)).or_else(|| state.fallback.clone()),
                }
            };
            let n = shared.completions.fetch_add(1, Ordering::SeqCst) + 1;
            match step {
                Some(step) => answer(step, &body, n, shared),
                None => Some(Response::error(500, "script exhausted")),
            }
        }
        (_, "/v1/models" | "/v1/chat/completions") => {
            Some(Response::error(405, &format!("method {} not allowed", request.method)))
        }
        _ => Some(Response::error(404, &format!("no route for {}", request.path))),
    }
}

/// The answer scripted by `step` to the request `body` (the `n`th chat-completions request).
fn answer(step: Step, body: &Value, n: u64, shared: &Shared) -> Option<Response> {
    match step {
        Step::Reply(content) => Some(reply(&content, "stop", body, n)),
        Step::Truncated(content) => Some(reply(&content, "length", body, n)),
        Step::Empty => {
            let mut completion = completion("", "stop", request_model(body), 0, n);
            completion["choices"] = json!([]);
            completion["usage"] = usage(prompt_tokens(body), 0);
            Some(Response::json(200, completion.to_string()))
        }
        Step::RawBody(status, raw) => Some(Response::json(status, raw)),
        Step::Status(status) => Some(Response::error(status, &format!("scripted {status}"))),
        Step::RateLimited { retry_after_s } => Some(Response {
            status: 429,
            headers: vec![("Retry-After", retry_after_s.to_string())],
            body: json!({ "error": {
                "message": format!("Rate limit reached; retry after {retry_after_s} s."),
                "type": "requests",
                "param": null,
                "code": "rate_limit_exceeded",
            } })
            .to_string(),
        }),
        Step::Slow { delay_ms, then } => {
            let until = Instant::now() + Duration::from_millis(delay_ms);
            while Instant::now() < until {
                if shared.stopped() {
                    return None;
                }
                std::thread::sleep(TICK.min(until.saturating_duration_since(Instant::now())));
            }
            answer(*then, body, n, shared)
        }
        Step::Hang => {
            while !shared.stopped() {
                std::thread::sleep(TICK);
            }
            None
        }
        Step::Unauthorized => Some(Response::json(
            401,
            json!({ "error": {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "param": null,
                "code": "invalid_api_key",
            } })
            .to_string(),
        )),
    }
}

fn reply(content: &str, finish_reason: &str, body: &Value, n: u64) -> Response {
    let completion = completion(content, finish_reason, request_model(body), prompt_tokens(body), n);
    Response::json(200, completion.to_string())
}

fn request_model(body: &Value) -> &str {
    body.get("model").and_then(Value::as_str).unwrap_or("scripted")
}

/// A well-formed chat completion.
fn completion(content: &str, finish_reason: &str, model: &str, prompt_tokens: u64, n: u64) -> Value {
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    json!({
        "id": format!("chatcmpl-scripted-{n}"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": finish_reason,
        }],
        "usage": usage(prompt_tokens, tokens(content.chars().count() as u64)),
    })
}

fn usage(prompt_tokens: u64, completion_tokens: u64) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}

/// Tokens for `chars` characters: one per four, rounded up.
fn tokens(chars: u64) -> u64 {
    chars.div_ceil(4)
}

/// Prompt tokens: the characters of every message content (text parts of array contents too).
fn prompt_tokens(body: &Value) -> u64 {
    let chars: u64 = body
        .get("messages")
        .and_then(Value::as_array)
        .map(|messages| messages.iter().map(|message| message.get("content").map_or(0, content_chars)).sum())
        .unwrap_or(0);
    tokens(chars)
}

fn content_chars(content: &Value) -> u64 {
    match content {
        Value::String(text) => text.chars().count() as u64,
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .map(|text| text.chars().count() as u64)
            .sum(),
        _ => 0,
    }
}

enum RequestError {
    /// The client closed (or never sent) the request: nothing to answer.
    Closed,
    /// A malformed request: answer 400 with this message.
    Bad(String),
}

impl From<std::io::Error> for RequestError {
    fn from(_: std::io::Error) -> Self {
        RequestError::Closed
    }
}

/// Reads one request: request line, headers, then a `Content-Length` or chunked body.
fn read_request(reader: &mut BufReader<TcpStream>, writer: &mut TcpStream) -> Result<Request, RequestError> {
    let mut head_len = 0;
    let request_line = read_line(reader, &mut head_len)?;
    if request_line.is_empty() {
        return Err(RequestError::Closed);
    }
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(path), Some(_version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(RequestError::Bad(format!("bad request line {request_line:?}")));
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, &mut head_len)?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(RequestError::Bad(format!("bad header line {line:?}")));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let chunked = header("transfer-encoding")
        .is_some_and(|v| v.split(',').any(|coding| coding.trim().eq_ignore_ascii_case("chunked")));
    let body = if chunked {
        read_chunked(reader)?
    } else if let Some(length) = header("content-length") {
        let length: usize =
            length.parse().map_err(|_| RequestError::Bad(format!("bad Content-Length {length:?}")))?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    } else {
        Vec::new()
    };
    Ok(Request { method, path, headers, body })
}

/// One CRLF- (or LF-) terminated line without its terminator; empty at end of stream.
fn read_line(reader: &mut BufReader<TcpStream>, head_len: &mut usize) -> Result<String, RequestError> {
    let mut line = Vec::new();
    let limit = (MAX_HEAD - *head_len) as u64 + 1;
    let n = reader.by_ref().take(limit).read_until(b'\n', &mut line)?;
    *head_len += n;
    if *head_len > MAX_HEAD {
        return Err(RequestError::Bad("request head too large".into()));
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| RequestError::Bad("request head is not UTF-8".into()))
}

/// A chunked body, decoded: hex sizes (extensions ignored), data, and trailers skipped.
fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, RequestError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader, &mut 0)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| RequestError::Bad(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            break;
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = Vec::new();
        reader.by_ref().take(2).read_until(b'\n', &mut crlf)?;
        if crlf != b"\r\n" && crlf != b"\n" {
            return Err(RequestError::Bad("chunk not followed by CRLF".into()));
        }
    }
    // Trailers, up to the empty line.
    let mut head_len = 0;
    while !read_line(reader, &mut head_len)?.is_empty() {}
    Ok(body)
}

fn write_response(writer: &mut TcpStream, response: &Response) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", response.status, reason(response.status));
    head.push_str("Content-Type: application/json\r\n");
    head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    head.push_str("Connection: close\r\n");
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(response.body.as_bytes());
    writer.write_all(&bytes)?;
    writer.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
