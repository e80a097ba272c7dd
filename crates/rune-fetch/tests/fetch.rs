//! `Fetcher` against a local server: caching and revalidation, redirects, address checks,
//! slow and endless responses, content encodings and charsets.

#![allow(clippy::unwrap_used)]

#[path = "support/server.rs"]
mod server;

use std::io::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rune_fetch::{
    CacheOptions, CacheStatus, FetchError, FetchOptions, Fetcher, Method, Range, StaticLookup,
};
use server::{Reply, Request, TestServer};

fn no_progress(_: u64, _: Option<u64>) {}

/// Options for tests: loopback allowed, memory cache only, short deadlines.
fn opts() -> FetchOptions {
    FetchOptions {
        allow_loopback: true,
        timeout: Duration::from_secs(10),
        cache: CacheOptions {
            dir: None,
            ..CacheOptions::default()
        },
        ..FetchOptions::default()
    }
}

fn fetcher(o: FetchOptions) -> Fetcher {
    Fetcher::new(o).unwrap()
}

async fn get(f: &Fetcher, url: &str) -> Result<rune_fetch::Fetched, FetchError> {
    f.fetch(url, Method::Get, false, &no_progress).await
}

fn refused(r: Result<rune_fetch::Fetched, FetchError>) -> rune_fetch::Refused {
    match r {
        Err(FetchError::Refused(r)) => r,
        Err(e) => panic!("expected a refusal, got the error {e}"),
        Ok(f) => panic!("expected a refusal, got HTTP {}", f.status()),
    }
}

#[tokio::test]
async fn fresh_responses_are_served_from_the_cache_without_asking() {
    let s = TestServer::start(|_| {
        Reply::status(
            200,
            &[
                ("Content-Type", "text/plain"),
                ("Cache-Control", "max-age=3600"),
            ],
            "cached body",
        )
    })
    .await;
    let f = fetcher(opts());
    let a = get(&f, &s.url("/p")).await.unwrap();
    assert_eq!(a.cache(), CacheStatus::Miss);
    let b = get(&f, &s.url("/p")).await.unwrap();
    assert_eq!(b.cache(), CacheStatus::Hit);
    assert_eq!(b.body(), b"cached body");
    assert_eq!(s.hits("/p"), 1, "a fresh entry must not reach the origin");
    // `refresh` goes to the origin even when fresh.
    let c = f
        .fetch(&s.url("/p"), Method::Get, true, &no_progress)
        .await
        .unwrap();
    assert_eq!(c.cache(), CacheStatus::Miss);
    assert_eq!(s.hits("/p"), 2);
    // The fragment is not part of the key (it is never sent).
    let d = get(&f, &format!("{}#section-2", s.url("/p")))
        .await
        .unwrap();
    assert_eq!(d.cache(), CacheStatus::Hit);
    // A URL with credentials is neither served from the cache nor stored in it.
    let with_creds = format!("http://user:pw@{}/p", s.addr);
    for _ in 0..2 {
        assert_eq!(
            get(&f, &with_creds).await.unwrap().cache(),
            CacheStatus::Off
        );
    }
    assert_eq!(s.hits("/p"), 4);
    assert!(s.requests("/p")[3].header("Authorization").is_some());
}

#[tokio::test]
async fn stale_entries_are_revalidated_with_etag_and_304() {
    let version = Arc::new(AtomicUsize::new(1));
    let v = version.clone();
    let s = TestServer::start(move |req: &Request| {
        let etag = format!("\"v{}\"", v.load(Ordering::SeqCst));
        if req.header("If-None-Match") == Some(etag.as_str()) {
            return Reply::status(304, &[("ETag", &etag), ("Cache-Control", "max-age=0")], "");
        }
        let body = format!("version {}", v.load(Ordering::SeqCst));
        Reply::status(
            200,
            &[
                ("Content-Type", "text/plain"),
                ("ETag", &etag),
                ("Cache-Control", "max-age=0"),
            ],
            body,
        )
    })
    .await;
    let f = fetcher(opts());
    let a = get(&f, &s.url("/doc")).await.unwrap();
    assert_eq!(
        (a.cache(), a.body()),
        (CacheStatus::Miss, &b"version 1"[..])
    );
    let b = get(&f, &s.url("/doc")).await.unwrap();
    assert_eq!(b.cache(), CacheStatus::Revalidated);
    assert_eq!(b.body(), b"version 1");
    let reqs = s.requests("/doc");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("If-None-Match"), None);
    assert_eq!(reqs[1].header("If-None-Match"), Some("\"v1\""));
    // Changed at the origin: the 200 replaces the entry.
    version.store(2, Ordering::SeqCst);
    let c = get(&f, &s.url("/doc")).await.unwrap();
    assert_eq!(
        (c.cache(), c.body()),
        (CacheStatus::Miss, &b"version 2"[..])
    );
    let d = get(&f, &s.url("/doc")).await.unwrap();
    assert_eq!(
        (d.cache(), d.body()),
        (CacheStatus::Revalidated, &b"version 2"[..])
    );
}

#[tokio::test]
async fn last_modified_revalidation_and_no_cache() {
    const LM: &str = "Mon, 01 Jan 2024 00:00:00 GMT";
    let s = TestServer::start(|req: &Request| {
        if req.header("If-Modified-Since") == Some(LM) {
            return Reply::status(304, &[], "");
        }
        Reply::status(
            200,
            &[
                ("Content-Type", "text/plain"),
                ("Last-Modified", LM),
                ("Cache-Control", "no-cache"),
            ],
            "dated",
        )
    })
    .await;
    let f = fetcher(opts());
    get(&f, &s.url("/d")).await.unwrap();
    // no-cache: even though Last-Modified would make it heuristically fresh, every use asks.
    let b = get(&f, &s.url("/d")).await.unwrap();
    assert_eq!(b.cache(), CacheStatus::Revalidated);
    assert_eq!(b.body(), b"dated");
    assert_eq!(s.requests("/d")[1].header("If-Modified-Since"), Some(LM));
}

#[tokio::test]
async fn no_store_and_uncacheable_responses_always_go_to_the_origin() {
    let s = TestServer::start(|req: &Request| match req.path.as_str() {
        "/secret" => Reply::status(
            200,
            &[
                ("Content-Type", "text/plain"),
                ("Cache-Control", "no-store, max-age=3600"),
            ],
            "x",
        ),
        _ => Reply::ok("text/plain", "no validators, no lifetime"),
    })
    .await;
    let f = fetcher(opts());
    for _ in 0..2 {
        assert_eq!(
            get(&f, &s.url("/secret")).await.unwrap().cache(),
            CacheStatus::Miss
        );
        assert_eq!(
            get(&f, &s.url("/plain")).await.unwrap().cache(),
            CacheStatus::Miss
        );
    }
    assert_eq!(s.hits("/secret"), 2);
    assert_eq!(s.hits("/plain"), 2);
    // Cache off: reported as such.
    let mut o = opts();
    o.cache.enabled = false;
    let f = fetcher(o);
    assert_eq!(
        get(&f, &s.url("/secret")).await.unwrap().cache(),
        CacheStatus::Off
    );
}

#[tokio::test]
async fn the_disk_store_outlives_the_process_memory_and_stays_within_its_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let s = TestServer::start(|req: &Request| {
        // Incompressible bodies of 40 KB (xorshift), distinct per path.
        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ req.path.len() as u64;
        let body: Vec<u8> = (0..40_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        Reply::status(
            200,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Cache-Control", "max-age=3600"),
            ],
            body,
        )
    })
    .await;
    let mut o = opts();
    let root = tmp.path().join("rune").join("fetch");
    o.cache.dir = Some(root.clone());
    o.cache.disk_bytes = 100_000;
    let f = fetcher(o.clone());
    get(&f, &s.url("/a")).await.unwrap();
    // The directories it made are private: the cache holds fetched pages in clear.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&root).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
    let dir = root;
    // A new fetcher on the same directory: nothing in memory, the entry comes from disk.
    let g = fetcher(o.clone());
    let hit = get(&g, &s.url("/a")).await.unwrap();
    assert_eq!(hit.cache(), CacheStatus::Hit);
    assert_eq!(hit.body().len(), 40_000);
    assert_eq!(s.hits("/a"), 1);
    // Fill past the budget: the least recently used files go.
    for p in ["/bb", "/ccc", "/dddd"] {
        get(&g, &s.url(p)).await.unwrap();
    }
    let bytes = g.disk_cache_bytes().unwrap();
    assert!(bytes <= 100_000, "{bytes} bytes on disk");
    let on_disk: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(on_disk <= 100_000, "{on_disk} bytes in the directory");
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert!((1..4).contains(&files), "{files} files");
    // "/a" was the oldest: evicted, so a fresh fetcher must ask the origin again.
    let h = fetcher(o);
    assert_eq!(
        get(&h, &s.url("/a")).await.unwrap().cache(),
        CacheStatus::Miss
    );
    assert_eq!(s.hits("/a"), 2);
    // A corrupt file is a miss, not an error.
    for e in std::fs::read_dir(&dir).unwrap() {
        std::fs::write(e.unwrap().path(), b"not an entry").unwrap();
    }
    let k = fetcher({
        let mut o = opts();
        o.cache.dir = Some(dir.clone());
        o
    });
    assert_eq!(
        get(&k, &s.url("/dddd")).await.unwrap().cache(),
        CacheStatus::Miss
    );
}

#[tokio::test]
async fn redirects_are_followed_and_reported() {
    let s = TestServer::start(|req: &Request| match req.path.as_str() {
        "/a" => Reply::redirect(301, "/b"),
        "/b" => Reply::redirect(302, "c?x=1"),
        "/c?x=1" => Reply::ok("text/plain", "landed"),
        "/loop" => Reply::redirect(307, "/loop"),
        _ => Reply::status(404, &[], ""),
    })
    .await;
    let f = fetcher(opts());
    let r = get(&f, &s.url("/a")).await.unwrap();
    assert_eq!(r.body(), b"landed");
    assert_eq!(r.final_url().as_str(), s.url("/c?x=1"));
    assert_eq!(r.redirects(), [s.url("/a"), s.url("/b")]);
    match get(&f, &s.url("/loop")).await {
        Err(FetchError::TooManyRedirects(10, _)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(s.hits("/loop"), 11);
}

#[tokio::test]
async fn redirects_into_private_space_are_refused_before_connecting() {
    let s = TestServer::start(|req: &Request| {
        let to = &req.path[1..];
        let to = to.replace("%5B", "[").replace("%5D", "]");
        Reply::redirect(302, &format!("http://{to}/latest/meta-data/"))
    })
    .await;
    let lookup = StaticLookup::new()
        .with("evil.test", &["10.0.0.5".parse().unwrap()])
        .with(
            "rebind.test",
            &[
                "8.8.8.8".parse().unwrap(),
                "169.254.169.254".parse().unwrap(),
            ],
        );
    let f = fetcher(FetchOptions {
        lookup: Arc::new(lookup),
        ..opts()
    });
    for (target, range) in [
        ("169.254.169.254", Range::CloudMetadata),
        ("10.0.0.1", Range::Private),
        ("192.168.1.1", Range::Private),
        ("[fd00:ec2::254]", Range::CloudMetadata),
        ("[::ffff:a9fe:a9fe]", Range::CloudMetadata),
        ("2852039166", Range::CloudMetadata),
        ("0xa9.0xfe.0xa9.0xfe", Range::CloudMetadata),
        ("0.0.0.0", Range::Unspecified),
        ("evil.test", Range::Private),
        ("rebind.test", Range::CloudMetadata),
    ] {
        let r = refused(get(&f, &s.url(&format!("/{target}"))).await);
        assert_eq!(r.range, range, "{target}: {r}");
    }
}

#[tokio::test]
async fn loopback_is_refused_unless_allowed_however_it_is_written() {
    let s = TestServer::start(|_| Reply::ok("text/plain", "local secret")).await;
    let port = s.addr.port();
    let lookup = StaticLookup::new()
        .with("loop.test", &["127.0.0.1".parse().unwrap()])
        .with("mapped.test", &["::ffff:127.0.0.1".parse().unwrap()])
        .with("intranet.test", &["192.168.7.7".parse().unwrap()]);
    let strict = fetcher(FetchOptions {
        allow_loopback: false,
        lookup: Arc::new(lookup.clone()),
        ..opts()
    });
    for host in [
        "127.0.0.1",
        "0x7f.1",
        "2130706433",
        "017700000001",
        "127.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "loop.test",
        "mapped.test",
        "LOOP.TEST.",
    ] {
        let r = refused(get(&strict, &format!("http://{host}:{port}/")).await);
        assert_eq!(r.range, Range::Loopback, "{host}");
        assert!(r.to_string().contains("allow_loopback"), "{r}");
    }
    let r = refused(get(&strict, &format!("http://intranet.test:{port}/")).await);
    assert_eq!(r.range, Range::Private);
    match get(&strict, &format!("http://0.0.0.0:{port}/")).await {
        Err(FetchError::Refused(r)) => assert_eq!(r.range, Range::Unspecified),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.total_hits(), 0, "nothing may have reached the server");
    // Allowed: a name is connected to the address the resolver checked (no other lookup).
    let open = fetcher(FetchOptions {
        lookup: Arc::new(lookup),
        ..opts()
    });
    let r = get(&open, &format!("http://loop.test:{port}/x"))
        .await
        .unwrap();
    assert_eq!(r.body(), b"local secret");
    assert_eq!(
        s.requests("/x")[0].header("Host"),
        Some(&*format!("loop.test:{port}"))
    );
    // Unknown names fail as lookups, not as refusals.
    match get(&open, &format!("http://unknown.test:{port}/")).await {
        Err(FetchError::Request { message, .. }) => {
            assert!(message.contains("unknown"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn only_http_and_https() {
    let f = fetcher(opts());
    for url in [
        "file:///etc/passwd",
        "ftp://example.com/",
        "data:text/plain,hi",
        "gopher://x/",
    ] {
        match get(&f, url).await {
            Err(FetchError::Scheme(_)) => {}
            other => panic!("{url}: {other:?}"),
        }
    }
    assert!(matches!(
        get(&f, "not a url").await,
        Err(FetchError::InvalidUrl { .. })
    ));
}

#[tokio::test]
async fn slow_and_stalled_servers_hit_the_deadline() {
    let s = TestServer::start(|req: &Request| match req.path.as_str() {
        "/slow" => Reply::Slow {
            headers: vec![("Content-Type".into(), "text/plain".into())],
            chunk: b"drip ".to_vec(),
            every: Duration::from_millis(100),
            count: 1000,
        },
        _ => Reply::Stall,
    })
    .await;
    let f = fetcher(FetchOptions {
        timeout: Duration::from_millis(800),
        ..opts()
    });
    for path in ["/slow", "/stall"] {
        let t = Instant::now();
        match get(&f, &s.url(path)).await {
            Err(FetchError::Timeout(..)) => {}
            other => panic!("{path}: {other:?}"),
        }
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "{path}: {:?}",
            t.elapsed()
        );
    }
    // The wait between reads has its own, shorter limit.
    let f = fetcher(FetchOptions {
        read_timeout: Duration::from_millis(300),
        ..opts()
    });
    let t = Instant::now();
    assert!(matches!(
        get(&f, &s.url("/stall")).await,
        Err(FetchError::Timeout(..))
    ));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test]
async fn endless_bodies_and_compression_bombs_stop_at_the_cap() {
    let bomb = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![b'z'; 16 << 20]).unwrap();
        e.finish().unwrap()
    };
    assert!(bomb.len() < 200_000);
    let s = TestServer::start(move |req: &Request| match req.path.as_str() {
        "/endless" => Reply::Endless {
            headers: vec![("Content-Type".into(), "text/plain".into())],
        },
        _ => Reply::status(
            200,
            &[
                ("Content-Type", "text/plain"),
                ("Content-Encoding", "gzip"),
                ("Cache-Control", "max-age=60"),
            ],
            bomb.clone(),
        ),
    })
    .await;
    let f = fetcher(FetchOptions {
        max_bytes: 1 << 20,
        ..opts()
    });
    for path in ["/endless", "/bomb"] {
        let t = Instant::now();
        let r = get(&f, &s.url(path)).await.unwrap();
        assert!(r.body_truncated(), "{path}");
        assert_eq!(r.body().len(), 1 << 20, "{path}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{path}: {:?}",
            t.elapsed()
        );
    }
    // A cut body is never cached.
    assert_eq!(
        get(&f, &s.url("/bomb")).await.unwrap().cache(),
        CacheStatus::Miss
    );
}

#[tokio::test]
async fn content_encodings_are_decoded_and_malformed_ones_fail_cleanly() {
    let text = "the same words, compressed three ways. ".repeat(50);
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let zst = zstd::encode_all(text.as_bytes(), 3).unwrap();
    let br = {
        let mut out = Vec::new();
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(text.as_bytes()).unwrap();
        drop(w);
        out
    };
    let s = TestServer::start(move |req: &Request| {
        let (enc, body): (&str, Vec<u8>) = match req.path.as_str() {
            "/gzip" => ("gzip", gz.clone()),
            "/zstd" => ("zstd", zst.clone()),
            "/br" => ("br", br.clone()),
            "/bad-gzip" => (
                "gzip",
                b"\x1f\x8b\x08\x00 this is not deflate data at all".to_vec(),
            ),
            "/truncated-gzip" => ("gzip", gz[..gz.len() / 2].to_vec()),
            _ => ("x-rune-custom", b"opaque".to_vec()),
        };
        Reply::status(
            200,
            &[("Content-Type", "text/plain"), ("Content-Encoding", enc)],
            body,
        )
    })
    .await;
    let f = fetcher(opts());
    for path in ["/gzip", "/zstd", "/br"] {
        let r = get(&f, &s.url(path)).await.unwrap();
        assert_eq!(r.body(), text.as_bytes(), "{path}");
        let sent = s.requests(path)[0]
            .header("Accept-Encoding")
            .unwrap()
            .to_owned();
        assert!(
            sent.contains("gzip") && sent.contains("br") && sent.contains("zstd"),
            "{sent}"
        );
    }
    for path in ["/bad-gzip", "/truncated-gzip"] {
        match get(&f, &s.url(path)).await {
            Err(e @ FetchError::Body { .. }) => {
                assert!(e.to_string().contains("could not be read"), "{e}")
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    match get(&f, &s.url("/custom")).await {
        Err(FetchError::UnsupportedEncoding { encoding, .. }) => {
            assert_eq!(encoding, "x-rune-custom")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn head_returns_status_and_headers_only() {
    let s = TestServer::start(|_| {
        Reply::status(
            200,
            &[("Content-Type", "text/html"), ("X-Marker", "m1")],
            "<p>body</p>",
        )
    })
    .await;
    let f = fetcher(opts());
    let r = f
        .fetch(&s.url("/h"), Method::Head, false, &no_progress)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.body().is_empty());
    assert_eq!(r.cache(), CacheStatus::Off);
    assert_eq!(s.requests("/h")[0].method, "HEAD");
}

#[tokio::test]
async fn progress_is_reported_while_downloading() {
    let s = TestServer::start(|_| Reply::ok("text/plain", vec![b'p'; 600_000])).await;
    let f = fetcher(opts());
    let seen = std::sync::Mutex::new(Vec::new());
    let report = |n: u64, total: Option<u64>| seen.lock().unwrap().push((n, total));
    f.fetch(&s.url("/big"), Method::Get, false, &report)
        .await
        .unwrap();
    let seen = seen.into_inner().unwrap();
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    assert!(seen.iter().all(|&(_, t)| t == Some(600_000)), "{seen:?}");
}

#[test]
fn a_static_lookup_is_what_the_tests_inject() {
    // A guard against the tests above passing for the wrong reason: unknown names fail.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let l = StaticLookup::new().with("a.test", &["1.2.3.4".parse::<IpAddr>().unwrap()]);
    use rune_fetch::Lookup as _;
    assert_eq!(
        rt.block_on(l.lookup("A.test.")).unwrap(),
        vec!["1.2.3.4".parse::<IpAddr>().unwrap()]
    );
    assert!(rt.block_on(l.lookup("b.test")).is_err());
}

#[tokio::test]
async fn cacheable_redirects_are_followed_from_the_cache() {
    let s = TestServer::start(|req: &Request| match req.path.as_str() {
        "/moved" => Reply::status(
            301,
            &[("Location", "/here"), ("Cache-Control", "max-age=3600")],
            Vec::new(),
        ),
        "/temp" => Reply::redirect(302, "/here"),
        _ => Reply::status(
            200,
            &[
                ("Content-Type", "text/plain"),
                ("ETag", "\"h1\""),
                ("Cache-Control", "max-age=3600"),
            ],
            "here",
        ),
    })
    .await;
    let f = fetcher(opts());
    for _ in 0..3 {
        let r = get(&f, &s.url("/moved")).await.unwrap();
        assert_eq!(r.body(), b"here");
        assert_eq!(r.final_url().as_str(), s.url("/here"));
        assert_eq!(r.redirects(), [s.url("/moved")]);
    }
    assert_eq!((s.hits("/moved"), s.hits("/here")), (1, 1));
    // A temporary redirect without a lifetime is asked for every time.
    for _ in 0..2 {
        get(&f, &s.url("/temp")).await.unwrap();
    }
    assert_eq!(s.hits("/temp"), 2);
    // `refresh` revalidates a fresh entry instead of serving it.
    let r = f
        .fetch(&s.url("/here"), Method::Get, true, &no_progress)
        .await
        .unwrap();
    assert_eq!(
        r.cache(),
        CacheStatus::Miss,
        "this server ignores If-None-Match"
    );
    assert_eq!(
        s.requests("/here").last().unwrap().header("If-None-Match"),
        Some("\"h1\"")
    );
}
