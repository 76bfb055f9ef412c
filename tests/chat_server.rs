//! The scripted chat-completions server of the test harness, driven with plain HTTP/1.1 over
//! `TcpStream`: what each step answers, what is recorded, and that stopping ends a hanging answer.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::chat_server::{ChatServer, Step, completion_json};

/// One HTTP response as read off the wire.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

/// Sends `raw` and reads everything until the server closes; `None` if it closed unanswered.
fn exchange(addr: SocketAddr, raw: &[u8]) -> Option<Reply> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(raw).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    if bytes.is_empty() {
        return None;
    }
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    let reply = Reply { status, headers, body: body.to_owned() };
    assert_eq!(reply.header("content-length"), Some(body.len().to_string().as_str()));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("connection"), Some("close"));
    Some(reply)
}

/// A `POST /v1/chat/completions` with a `Content-Length` body.
fn post(server: &ChatServer, body: &Value) -> Option<Reply> {
    let body = body.to_string();
    let raw = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer sk-test\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.addr(),
        body.len()
    );
    exchange(server.addr(), raw.as_bytes())
}

fn chat(model: &str, contents: &[&str]) -> Value {
    let messages: Vec<Value> =
        contents.iter().map(|content| json!({ "role": "user", "content": content })).collect();
    json!({ "model": model, "messages": messages })
}

#[test]
fn base_url_names_the_loopback_port_and_v1() {
    let server = ChatServer::start(vec![]);
    assert_eq!(server.base_url(), format!("http://127.0.0.1:{}/v1", server.addr().port()));
}

#[test]
fn reply_is_a_well_formed_completion_with_usage_and_the_model_echoed() {
    let server = ChatServer::start(vec![Step::Reply("hello world".into())]);
    // 8 + 1 = 9 characters of prompt: 3 tokens; 11 characters of content: 3 tokens.
    let reply = post(&server, &chat("gpt-test", &["abcdefgh", "x"])).unwrap();
    assert_eq!(reply.status, 200);
    let completion = reply.json();
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(completion["model"], "gpt-test");
    assert!(completion["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(completion["created"].as_u64().is_some_and(|t| t > 1_600_000_000));
    assert_eq!(completion["choices"][0]["message"]["role"], "assistant");
    assert_eq!(completion["choices"][0]["message"]["content"], "hello world");
    assert_eq!(completion["choices"][0]["finish_reason"], "stop");
    assert_eq!(completion["usage"], json!({ "prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6 }));

    // The script is exhausted: a 500 with an error body.
    let exhausted = post(&server, &chat("gpt-test", &["again"])).unwrap();
    assert_eq!(exhausted.status, 500);
    assert_eq!(exhausted.json(), json!({ "error": { "message": "script exhausted" } }));

    let requests = server.requests();
    assert_eq!(server.request_count(), 2);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].body, chat("gpt-test", &["abcdefgh", "x"]));
    assert_eq!(requests[0].header("authorization"), Some("Bearer sk-test"));
    assert!(
        requests[0].headers.iter().any(|(name, value)| name == "content-type" && value == "application/json")
    );
    assert!(requests[0].headers.iter().all(|(name, _)| *name == name.to_ascii_lowercase()));
    assert_eq!(requests[1].body, chat("gpt-test", &["again"]));
}

#[test]
fn each_step_answers_as_scripted_in_order() {
    let server = ChatServer::start(vec![
        Step::RateLimited { retry_after_s: 7 },
        Step::RawBody(200, "{not json".into()),
        Step::RawBody(200, completion_json("raw")),
        Step::Status(503),
        Step::Truncated("cut".into()),
        Step::Empty,
        Step::Unauthorized,
    ]);
    let body = chat("m", &["hi"]);

    let limited = post(&server, &body).unwrap();
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("7"));
    assert!(limited.json()["error"]["message"].is_string());

    let raw = post(&server, &body).unwrap();
    assert_eq!((raw.status, raw.body.as_str()), (200, "{not json"));

    let raw = post(&server, &body).unwrap();
    assert_eq!(raw.json()["choices"][0]["message"]["content"], "raw");

    let unavailable = post(&server, &body).unwrap();
    assert_eq!(unavailable.status, 503);
    assert_eq!(unavailable.json(), json!({ "error": { "message": "scripted 503" } }));

    let truncated = post(&server, &body).unwrap().json();
    assert_eq!(truncated["choices"][0]["message"]["content"], "cut");
    assert_eq!(truncated["choices"][0]["finish_reason"], "length");

    let empty = post(&server, &body).unwrap();
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json()["choices"], json!([]));

    let unauthorized = post(&server, &body).unwrap();
    assert_eq!(unauthorized.status, 401);
    assert_eq!(unauthorized.json()["error"]["code"], "invalid_api_key");

    assert_eq!(server.request_count(), 7);
    assert_eq!(server.remaining_steps(), 0);
}

#[test]
fn fallback_answers_once_the_script_is_exhausted() {
    let server =
        ChatServer::start(vec![Step::Reply("first".into())]).with_fallback(Step::Reply("again".into()));
    let contents: Vec<Value> = (0..3)
        .map(|_| {
            post(&server, &chat("m", &["q"])).unwrap().json()["choices"][0]["message"]["content"].clone()
        })
        .collect();
    assert_eq!(contents, ["first", "again", "again"]);
}

#[test]
fn chunked_body_is_decoded_and_recorded() {
    let server = ChatServer::start(vec![Step::Reply("ok".into())]);
    let body = chat("chunky", &["one two three four"]).to_string();
    let (a, b) = body.split_at(10);
    let raw = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x};ext=1\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\nX-Trailer: t\r\n\r\n",
        a.len(),
        b.len()
    );
    let reply = exchange(server.addr(), raw.as_bytes()).unwrap();
    assert_eq!(reply.status, 200);
    // 18 characters of prompt: 5 tokens.
    assert_eq!(reply.json()["usage"]["prompt_tokens"], 5);
    assert_eq!(reply.json()["model"], "chunky");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].body, chat("chunky", &["one two three four"]));
    assert_eq!(requests[0].header("transfer-encoding"), Some("chunked"));
}

#[test]
fn models_are_listed_and_not_recorded() {
    let server = ChatServer::start(vec![]);
    let raw = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";
    for _ in 0..2 {
        let reply = exchange(server.addr(), raw).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.json(),
            json!({ "object": "list", "data": [{ "id": "scripted", "object": "model" }] })
        );
    }
    assert_eq!(server.request_count(), 0);
    assert!(server.requests().is_empty());

    let missing = exchange(server.addr(), b"GET /v2/nothing HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(server.request_count(), 0);
}

#[test]
fn non_json_body_is_recorded_as_null() {
    let server = ChatServer::start(vec![Step::Reply("ok".into())]);
    let raw = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    let reply = exchange(server.addr(), raw).unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["model"], "scripted");
    assert_eq!(server.requests()[0].body, Value::Null);
}

#[test]
fn slow_waits_before_answering() {
    let server =
        ChatServer::start(vec![Step::Slow { delay_ms: 150, then: Box::new(Step::Reply("late".into())) }]);
    let started = Instant::now();
    let reply = post(&server, &chat("m", &["q"])).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(reply.json()["choices"][0]["message"]["content"], "late");
}

#[test]
fn hang_never_answers_and_ends_when_the_server_stops() {
    let server = ChatServer::start(vec![Step::Hang]);
    let addr = server.addr();
    let client = std::thread::spawn(move || {
        let body = chat("m", &["q"]).to_string();
        let raw = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        exchange(addr, raw.as_bytes())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!client.is_finished(), "a hanging step answered");
    assert_eq!(server.request_count(), 1);

    let stopping = Instant::now();
    server.stop();
    assert!(stopping.elapsed() < Duration::from_secs(1), "stop took {:?}", stopping.elapsed());
    assert!(client.join().unwrap().is_none(), "a hanging step answered");
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err());
}
