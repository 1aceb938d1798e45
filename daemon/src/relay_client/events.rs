//! Live notifications: `GET /v1/events`, a server-sent event stream
//! (`plog_ipc_schema::http::events`), read as an [`EventStream`].
//!
//! The stream is long-lived, so it has no overall deadline and, by default, no idle timeout
//! either (the connect timeout and TCP keep-alive still apply); a caller that knows how often
//! the relay sends keep-alives can set one with [`EventStream::with_idle_timeout`].

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, ready};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use plog_ipc_schema::http::events::{Event, EventError};
use plog_ipc_schema::http::headers::EVENT_STREAM;
use plog_ipc_schema::http::paths;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tokio::time::{Instant, Sleep};

use super::client::RelayClient;
use super::error::RelayError;
use super::transport;

/// Largest event (or comment) the parser holds: relay events are a few hundred bytes, so a
/// longer one is a relay outside the protocol, not something to buffer without end.
const MAX_EVENT_BYTES: usize = 64 << 10;

/// The SSE comment the relay sends once it has subscribed to the account's events.
const READY_COMMENT: &str = "ready";

/// One item of an [`EventStream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventItem {
    /// The relay has subscribed to this account's events (the SSE comment `: ready`): anything
    /// that happens from now on will be delivered. Something that happened before may have been
    /// missed, so a caller re-reads what it cares about (mail, volumes) after this, not before.
    Ready,
    /// An event.
    Event(Event),
}

impl RelayClient {
    /// `GET /v1/events`: opens this account's live event stream. The call returns once the
    /// relay has answered with the stream's headers; wait for [`EventItem::Ready`] before
    /// relying on delivery. The relay closes the stream when the session ends; open a new one
    /// then (which logs in again if it can).
    ///
    /// # Errors
    /// [`RelayError::Protocol`] if the answer is not `text/event-stream`, and the
    /// [`RelayError`]s of every authenticated call.
    pub async fn events(&self) -> Result<EventStream, RelayError> {
        let url = self.url(paths::EVENTS);
        let response = self
            .execute_authed(true, |_| {
                ready(Ok(self.inner.http.get(&url).header(ACCEPT, EVENT_STREAM)))
            })
            .await?;
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if !media_type.eq_ignore_ascii_case(EVENT_STREAM) {
            return Err(self.protocol(format!(
                "GET /v1/events answered with content type {content_type:?}, not {EVENT_STREAM}"
            )));
        }
        Ok(EventStream {
            origin: self.origin().to_owned(),
            body: Box::pin(response.bytes_stream()),
            parser: SseParser::default(),
            pending: VecDeque::new(),
            done: false,
            idle: None,
        })
    }
}

/// Type of the response body stream.
type BodyStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// This account's live events from one relay.
///
/// Read it as a [`Stream`] of `Result<EventItem, RelayError>` or with [`EventStream::next`].
/// It yields [`EventItem::Ready`] once the relay has subscribed, then [`EventItem::Event`]s,
/// and ends (`None`) when the relay closes the stream. Events of kinds this client does not
/// know are skipped. An `Err` (a broken connection, an idle timeout, an event that breaks the
/// protocol) is the last item: the stream ends after it.
///
/// Cancel safe: all state lives in the stream, so a `next()` dropped unfinished (a losing
/// branch of `tokio::select!`) loses nothing, and the following call goes on where it stopped.
pub struct EventStream {
    /// The relay, for errors. Not the client: a stream must not keep its session alive.
    origin: String,
    body: BodyStream,
    parser: SseParser,
    pending: VecDeque<Result<EventItem, RelayError>>,
    done: bool,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("origin", &self.origin)
            .field("pending", &self.pending.len())
            .field("done", &self.done)
            .field("idle", &self.idle.as_ref().map(|(idle, _)| *idle))
            .finish_non_exhaustive()
    }
}

impl EventStream {
    /// Ends the stream with a [`RelayError::Network`] error when nothing at all (no event, no
    /// keep-alive comment) arrives for `idle`: a connection that died silently is then noticed
    /// at once rather than after TCP gives up. Choose it well above the relay's keep-alive
    /// interval (`events.keep_alive_secs`, 15 s unless its operator changed it): three times
    /// that, say.
    #[must_use]
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = Some((idle, Box::pin(tokio::time::sleep(idle))));
        self
    }

    /// The next item, `None` once the stream has ended. Cancel safe.
    pub async fn next(&mut self) -> Option<Result<EventItem, RelayError>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Turns parsed SSE items into stream items: `: ready` becomes [`EventItem::Ready`], other
    /// comments (keep-alives) and unknown kinds are dropped.
    fn accept(&mut self, items: Vec<SseItem>) {
        for item in items {
            match item {
                SseItem::Comment(text) => {
                    if text == READY_COMMENT {
                        self.pending.push_back(Ok(EventItem::Ready));
                    }
                }
                SseItem::Event { name, data } => match Event::from_sse(&name, &data) {
                    Ok(event) => self.pending.push_back(Ok(EventItem::Event(event))),
                    Err(EventError::UnknownKind) => {
                        // A newer relay may send kinds this client does not know yet.
                        tracing::debug!(kind = %name.escape_debug(), "skipped an unknown event kind");
                    }
                    Err(err) => {
                        self.fail(self.protocol(format!("event {:?}: {err}", name.escape_debug())));
                        return;
                    }
                },
            }
        }
    }

    fn fail(&mut self, error: RelayError) {
        self.pending.push_back(Err(error));
        self.done = true;
    }

    fn protocol(&self, what: String) -> RelayError {
        RelayError::Protocol {
            origin: self.origin.clone(),
            what,
        }
    }

    fn network_error(&self, reason: String) -> RelayError {
        RelayError::Network {
            origin: self.origin.clone(),
            status: None,
            retry_after: None,
            reason,
        }
    }
}

impl Stream for EventStream {
    type Item = Result<EventItem, RelayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.pending.pop_front() {
                return Poll::Ready(Some(item));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match this.body.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Some((idle, sleep)) = &mut this.idle {
                        sleep.as_mut().reset(Instant::now() + *idle);
                    }
                    let mut items = Vec::new();
                    let parsed = this.parser.feed(&chunk, &mut items);
                    this.accept(items);
                    // Unless an event already ended the stream: one error is enough.
                    if let Err(err) = parsed
                        && !this.done
                    {
                        let error = this.protocol(err.to_string());
                        this.fail(error);
                    }
                }
                Poll::Ready(Some(Err(err))) => {
                    let error = this.network_error(format!(
                        "the event stream broke: {}",
                        transport::describe_chain(&err)
                    ));
                    this.fail(error);
                }
                // An event cut off by the end of the stream is discarded, as the SSE rules say.
                Poll::Ready(None) => this.done = true,
                Poll::Pending => {
                    if let Some((idle, sleep)) = &mut this.idle
                        && sleep.as_mut().poll(cx).is_ready()
                    {
                        let idle = *idle;
                        let error = this.network_error(format!(
                            "timed out: nothing on the event stream for {} s",
                            idle.as_secs_f32()
                        ));
                        this.fail(error);
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

/// What the SSE parser found: a comment line or a complete event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SseItem {
    /// A line starting with `:`, without the colon and one following space.
    Comment(String),
    /// An event: its name (`message` when none was given) and its data lines joined by `\n`.
    Event {
        /// The `event:` field.
        name: String,
        /// The `data:` fields.
        data: String,
    },
}

/// Why the SSE parser stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum SseError {
    /// A line or an event's data grew past [`MAX_EVENT_BYTES`].
    #[error("an event on the event stream is larger than {MAX_EVENT_BYTES} bytes")]
    TooLong,
}

/// An incremental parser of `text/event-stream` (the WHATWG HTML "server-sent events" rules):
/// lines end with CRLF, LF or CR, possibly split across chunks; `field: value` lines fill an
/// event and a blank line dispatches it; lines starting with `:` are comments; `id` and
/// `retry` are ignored (the client never resumes a stream: it re-reads state instead).
#[derive(Debug, Default)]
struct SseParser {
    /// The current line, not yet terminated.
    line: Vec<u8>,
    /// The previous chunk ended on CR, so an LF starting this one ends nothing.
    after_cr: bool,
    /// A line was completed already (a byte order mark is skipped only on the first).
    seen_line: bool,
    /// The `event:` field of the event being built.
    name: Option<String>,
    /// The `data:` fields of the event being built, each followed by `\n`.
    data: String,
}

impl SseParser {
    /// Feeds one chunk; complete items are appended to `out`.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseItem>) -> Result<(), SseError> {
        let mut rest = chunk;
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.push(&rest[..end])?;
            let ending_cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if ending_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            self.end_line(out)?;
        }
        self.push(rest)
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + self.data.len() + bytes.len() > MAX_EVENT_BYTES {
            return Err(SseError::TooLong);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<SseItem>) -> Result<(), SseError> {
        let raw = std::mem::take(&mut self.line);
        let text = String::from_utf8_lossy(&raw);
        let mut line: &str = &text;
        if !self.seen_line {
            self.seen_line = true;
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if let Some(comment) = line.strip_prefix(':') {
            out.push(SseItem::Comment(
                comment.strip_prefix(' ').unwrap_or(comment).to_owned(),
            ));
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.name = Some(value.to_owned()),
            "data" => {
                if self.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                    return Err(SseError::TooLong);
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            // `id`, `retry` and unknown fields are ignored.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        let name = self.name.take();
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        out.push(SseItem::Event {
            name: name.unwrap_or_else(|| "message".to_owned()),
            data,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseItem> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out).expect("parse");
        }
        out
    }

    fn event(name: &str, data: &str) -> SseItem {
        SseItem::Event {
            name: name.to_owned(),
            data: data.to_owned(),
        }
    }

    fn comment(text: &str) -> SseItem {
        SseItem::Comment(text.to_owned())
    }

    const SAMPLE: &[u8] = b": ready\n\nevent: new_mail\ndata: {\"seq\":7}\n\n: keep-alive\n\n\
        event: grant_revoked\ndata: {\"volume_id\":\"00000000-0000-0000-0000-000000000001\",\
        \"owner_id\":\"00000000-0000-0000-0000-000000000002\"}\n\n";

    fn sample_items() -> Vec<SseItem> {
        vec![
            comment("ready"),
            event("new_mail", r#"{"seq":7}"#),
            comment("keep-alive"),
            event(
                "grant_revoked",
                r#"{"volume_id":"00000000-0000-0000-0000-000000000001","owner_id":"00000000-0000-0000-0000-000000000002"}"#,
            ),
        ]
    }

    #[test]
    fn whole_stream() {
        assert_eq!(parse_chunks(&[SAMPLE]), sample_items());
    }

    #[test]
    fn every_split_point_gives_the_same_items() {
        for line_end in ["\n", "\r\n", "\r"] {
            let text = String::from_utf8(SAMPLE.to_vec())
                .expect("utf-8")
                .replace('\n', line_end);
            let bytes = text.as_bytes();
            for split in 0..=bytes.len() {
                let (a, b) = bytes.split_at(split);
                assert_eq!(
                    parse_chunks(&[a, b]),
                    sample_items(),
                    "split at {split} with {line_end:?}"
                );
            }
            // One byte at a time.
            let singles: Vec<&[u8]> = bytes.chunks(1).collect();
            assert_eq!(parse_chunks(&singles), sample_items(), "{line_end:?}");
        }
    }

    #[test]
    fn crlf_split_between_cr_and_lf_is_one_line_end() {
        // A CR at the end of one chunk and the LF at the start of the next must not make a
        // blank line (which would dispatch an event early).
        assert_eq!(
            parse_chunks(&[b"event: new_mail\r", b"\ndata: 1\r", b"\ndata: 2\r\n\r\n"]),
            vec![event("new_mail", "1\n2")]
        );
        // Empty chunks in between change nothing.
        assert_eq!(
            parse_chunks(&[b"data: x\r", b"", b"\n\r", b"", b"\n"]),
            vec![event("message", "x")]
        );
    }

    #[test]
    fn multi_line_data_fields_and_defaults() {
        assert_eq!(
            parse_chunks(&[b"data: a\ndata:b\ndata:  c\ndata\n\n"]),
            vec![event("message", "a\nb\n c\n")]
        );
        // A blank line without data dispatches nothing and forgets the name.
        assert_eq!(
            parse_chunks(&[b"event: new_mail\n\ndata: x\n\n"]),
            vec![event("message", "x")]
        );
        // `data:` with nothing after it is an event with empty data.
        assert_eq!(
            parse_chunks(&[b"event: e\ndata:\n\n"]),
            vec![event("e", "")]
        );
        // id, retry and unknown fields are ignored; a field without a colon is a name alone.
        assert_eq!(
            parse_chunks(&[b"id: 4\nretry: 100\nfoo: bar\nevent\ndata: y\n\n"]),
            vec![event("", "y")]
        );
    }

    #[test]
    fn comments_a_byte_order_mark_and_a_cut_off_event() {
        assert_eq!(
            parse_chunks(&[b"\xef\xbb\xbf: ready\n:\n:x\n"]),
            vec![comment("ready"), comment(""), comment("x")]
        );
        // A BOM later in the stream is not skipped.
        assert_eq!(
            parse_chunks(&[b": a\n\xef\xbb\xbfdata: z\n\n"]),
            vec![comment("a")]
        );
        // An event without its blank line is never dispatched.
        assert_eq!(
            parse_chunks(&[b"event: new_mail\ndata: {\"seq\":1}\n"]),
            vec![]
        );
    }

    #[test]
    fn oversized_lines_and_events_are_refused() {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        let long = vec![b'a'; MAX_EVENT_BYTES + 1];
        assert_eq!(parser.feed(&long, &mut out), Err(SseError::TooLong));

        // Many data lines, each short, add up to too much.
        let mut parser = SseParser::default();
        let line = format!("data: {}\n", "b".repeat(1000));
        let result = (0..100).try_for_each(|_| parser.feed(line.as_bytes(), &mut out));
        assert_eq!(result, Err(SseError::TooLong));
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn stream_items_ready_events_unknown_kinds_and_end() {
        let chunks: Vec<reqwest::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b": ready\n\nevent: new_mail\nda")),
            Ok(Bytes::from_static(
                b"ta: {\"seq\":9}\n\nevent: shiny_new_kind\ndata: {}\n\n: keep-alive\n\n",
            )),
            Ok(Bytes::from_static(
                b"event: new_mail\ndata: {\"seq\":10}\n\n",
            )),
        ];
        let mut stream = test_stream(chunks);
        assert_eq!(
            stream.next().await.map(Result::ok),
            Some(Some(EventItem::Ready))
        );
        for seq in [9, 10] {
            let item = stream.next().await.expect("item").expect("event");
            assert_eq!(
                item,
                EventItem::Event(Event::NewMail(plog_ipc_schema::http::events::NewMail {
                    seq
                }))
            );
        }
        assert!(stream.next().await.is_none());
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn a_malformed_payload_of_a_known_kind_ends_the_stream_with_an_error() {
        let chunks: Vec<reqwest::Result<Bytes>> = vec![Ok(Bytes::from_static(
            b"event: new_mail\ndata: {\"seq\":1}\n\nevent: new_mail\ndata: nonsense\n\n\
              event: new_mail\ndata: {\"seq\":2}\n\n",
        ))];
        let mut stream = test_stream(chunks);
        assert!(matches!(
            stream.next().await,
            Some(Ok(EventItem::Event(Event::NewMail(_))))
        ));
        let err = stream.next().await.expect("item").expect_err("malformed");
        assert!(matches!(err, RelayError::Protocol { .. }), "{err:?}");
        assert!(stream.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_times_out_when_asked_to() {
        let body = futures_util::stream::pending::<reqwest::Result<Bytes>>();
        let mut stream = EventStream {
            body: Box::pin(body),
            ..test_stream(Vec::new())
        }
        .with_idle_timeout(Duration::from_secs(30));
        let err = stream.next().await.expect("item").expect_err("timeout");
        assert!(
            matches!(&err, RelayError::Network { reason, .. } if reason.contains("timed out")),
            "{err:?}"
        );
        assert!(err.is_retryable());
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn next_is_cancel_safe() {
        // A body that delivers one event, then nothing until the test sends more.
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<reqwest::Result<Bytes>>();
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let mut stream = EventStream {
            body: Box::pin(body),
            ..test_stream(Vec::new())
        };
        tx.send(Ok(Bytes::from_static(b"event: new_mail\ndata: {\"seq\":")))
            .expect("send");
        // The half event is consumed by a `next()` that is then cancelled.
        tokio::select! {
            biased;
            item = stream.next() => panic!("nothing complete yet: {item:?}"),
            () = tokio::task::yield_now() => {}
        }
        tx.send(Ok(Bytes::from_static(b"3}\n\n"))).expect("send");
        drop(tx);
        assert!(matches!(
            stream.next().await,
            Some(Ok(EventItem::Event(Event::NewMail(
                plog_ipc_schema::http::events::NewMail { seq: 3 }
            ))))
        ));
        assert!(stream.next().await.is_none());
    }

    fn test_stream(chunks: Vec<reqwest::Result<Bytes>>) -> EventStream {
        EventStream {
            origin: "https://relay.example".to_owned(),
            body: Box::pin(futures_util::stream::iter(chunks)),
            parser: SseParser::default(),
            pending: VecDeque::new(),
            done: false,
            idle: None,
        }
    }
}
