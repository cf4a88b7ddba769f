//! The HTTP side of `/nic/update`: plain HTTP/1.1 (TLS is the reverse
//! proxy's job), one request per connection, every connection bounded in
//! size, time and number so that no client can hold the daemon's memory
//! or tasks: at most `MAX_CONNECTIONS` at once (further ones wait in the
//! kernel's backlog), `HEADER_TIMEOUT` for the request's head to arrive,
//! `CONNECTION_TIMEOUT` for the whole exchange, `MAX_HEAD` bytes of
//! request line and headers (longer: hyper answers 431 and closes). The
//! body of a GET is never read.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    body::Incoming as Body,
    header::{HeaderName, HeaderValue, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE},
    server::conn::http1,
    service::service_fn,
    Request, Response,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::Semaphore};
use tracing::{debug, warn};

use super::{
    answer::{Answer, Counters, Outcome, REALM},
    change,
    limit::{Limiter, LIMITS},
    request::{self, Forwarded, Incoming},
};
use crate::daemon::{engine::Engine, server::lock};

pub const MAX_CONNECTIONS: usize = 64;
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// hyper's smallest read buffer: far above any update request (a URL of a
/// few dozen bytes, a Basic header, a proxy's few headers).
pub const MAX_HEAD: usize = 8192;
/// How long a request waits for the engine (another operation, say a large
/// apply) before it is answered `911`.
const BUSY_AFTER: Duration = Duration::from_secs(5);

struct Shared {
    engine: Arc<Mutex<Engine>>,
    limiter: Mutex<Limiter>,
    counters: Arc<Counters>,
    trust_forwarded: bool,
}

pub async fn serve(
    listener: TcpListener,
    engine: Arc<Mutex<Engine>>,
    counters: Arc<Counters>,
    trust_forwarded: bool,
) {
    let shared = Arc::new(Shared {
        engine,
        limiter: Mutex::new(Limiter::new(LIMITS)),
        counters,
        trust_forwarded,
    });
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        // A slot first: at the limit, connections queue in the kernel.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (sock, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: do not spin.
                warn!("update accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let svc = {
                let shared = shared.clone();
                service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(handle(&shared, req, peer).await) }
                })
            };
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(sock), svc);
            match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    // hyper has answered what it could not parse (431, 400).
                    if e.is_parse() || e.is_parse_too_large() {
                        shared.counters.add(Outcome::Bad);
                    }
                    debug!(%peer, "update connection: {e}");
                }
                Err(_) => debug!(%peer, "update connection timed out"),
            }
        });
    }
}

async fn handle(
    shared: &Arc<Shared>,
    req: Request<Body>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let headers = req.headers();
    let auth: Vec<&[u8]> = headers
        .get_all(AUTHORIZATION)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    let last = |name: &'static str| {
        headers
            .get_all(HeaderName::from_static(name))
            .iter()
            .next_back()
            .map(HeaderValue::as_bytes)
    };
    let forwarded = shared.trust_forwarded.then(|| Forwarded {
        real_ip: last("x-real-ip"),
        forwarded_for: last("x-forwarded-for"),
    });
    let parsed = request::parse(&Incoming {
        method: req.method().as_str(),
        path: req.uri().path(),
        query: req.uri().query(),
        authorization: &auth,
        forwarded,
        peer: peer.ip(),
    });
    let answer = match parsed {
        Err(a) => a,
        Ok(u) => {
            let shared = shared.clone();
            tokio::task::spawn_blocking(move || {
                let Ok(mut e) = lock(&shared.engine, BUSY_AFTER) else {
                    warn!(
                        tunnel = u.tunnel,
                        "update: the daemon is busy; answered 911"
                    );
                    return Answer::Internal;
                };
                let mut l = shared.limiter.lock().unwrap_or_else(|p| p.into_inner());
                change::answer(&mut e, &mut l, &u, Instant::now())
            })
            .await
            .unwrap_or(Answer::Internal)
        }
    };
    shared.counters.add(answer.result());
    respond(answer)
}

fn respond(a: Answer) -> Response<Full<Bytes>> {
    let mut r = Response::builder()
        .status(a.status())
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(CACHE_CONTROL, "no-store");
    match a {
        Answer::Unauthenticated => {
            r = r.header(
                "www-authenticate",
                format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""),
            );
        }
        Answer::MethodNotAllowed => r = r.header(ALLOW, "GET"),
        _ => {}
    }
    r.body(Full::new(Bytes::from(a.body())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"911\n"))))
}
