//! `subscriptions/listen` (2026-07-28) against Rune's own server, in process, over TCP
//! (newline-delimited JSON: the stdio framing) and over Streamable HTTP: the acknowledged
//! filter, notifications delivered to the callback for what was asked only, the end of a
//! subscription when it is dropped, and the server ending it at shutdown.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bounded, init_tracing};
use rune_client::model::ListenFilter;
use rune_client::{Client, ClientBuilder, Notification, ProtocolVersion};
use rune_server::{HandlerError, NoArgs, RequestContext, ResourceDef, Server, ToolDef};

type Notes = Arc<Mutex<Vec<Notification>>>;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Uri {
    uri: String,
}

/// A server whose tools make changes: `grow` adds a tool (tools list changed), `touch`
/// reports a resource updated.
fn server() -> Server {
    let server = Server::builder("listen-test", "1")
        .resource(ResourceDef::new(
            "test://a",
            "a",
            |uri: String, _cx: RequestContext| async move {
                Ok::<_, HandlerError>(rune_client::model::ResourceContents::text(uri, None, "a"))
            },
        ))
        .build();
    let s = server.clone();
    server.add_tool(ToolDef::new(
        "grow",
        "Adds a tool",
        move |_: NoArgs, _cx: RequestContext| {
            let s = s.clone();
            async move {
                s.add_tool(ToolDef::new(
                    "grown",
                    "Added at run time",
                    |_: NoArgs, _cx: RequestContext| async move { Ok::<_, HandlerError>("grown") },
                ));
                Ok::<_, HandlerError>("grew")
            }
        },
    ));
    let s = server.clone();
    server.add_tool(ToolDef::new(
        "touch",
        "Reports a resource updated",
        move |a: Uri, _cx: RequestContext| {
            let s = s.clone();
            async move {
                s.notify_resource_updated(&a.uri);
                Ok::<_, HandlerError>("touched")
            }
        },
    ));
    server
}

/// Serves [`server`] over TCP (newline-delimited JSON, one connection each) on loopback.
async fn serve_tcp() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let srv = server();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let srv = srv.clone();
            tokio::spawn(async move {
                let (r, w) = stream.into_split();
                let _ = srv.serve(r, w).await;
            });
        }
    });
    addr
}

fn builder(notes: &Notes) -> ClientBuilder {
    let sink = notes.clone();
    Client::builder()
        .protocol_version(ProtocolVersion::V2026_07_28)
        .on_notification(move |n| sink.lock().expect("lock").push(n))
}

/// Waits until a notification that `pred` accepts arrived; returns how many did.
async fn arrived(notes: &Notes, pred: impl Fn(&Notification) -> bool) -> usize {
    for _ in 0..200 {
        let n = notes
            .lock()
            .expect("lock")
            .iter()
            .filter(|n| pred(n))
            .count();
        if n > 0 {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no such notification: {:?}", notes.lock().expect("lock"));
}

fn count(notes: &Notes, pred: impl Fn(&Notification) -> bool) -> usize {
    notes
        .lock()
        .expect("lock")
        .iter()
        .filter(|n| pred(n))
        .count()
}

fn is_list_changed(n: &Notification) -> bool {
    matches!(n, Notification::ToolsListChanged)
}

fn updated(uri: &'static str) -> impl Fn(&Notification) -> bool {
    move |n| matches!(n, Notification::ResourceUpdated(p) if p.uri == uri)
}

/// What both transports must do.
async fn exercise(client: &Client, notes: &Notes) {
    let filter = ListenFilter {
        tools_list_changed: Some(true),
        resource_subscriptions: Some(vec!["test://a".into()]),
        ..Default::default()
    };
    let sub = client.listen(filter.clone()).await.expect("listen");
    assert_eq!(sub.acknowledged(), &filter);
    // Nothing is sent unasked: prompts were not asked for, and nothing changed yet.
    assert_eq!(count(notes, is_list_changed), 0);

    client
        .call_tool("grow", serde_json::json!({}))
        .await
        .expect("grow");
    arrived(notes, is_list_changed).await;
    for uri in ["test://b", "test://a"] {
        client
            .call_tool("touch", serde_json::json!({ "uri": uri }))
            .await
            .expect("touch");
    }
    arrived(notes, updated("test://a")).await;
    assert_eq!(count(notes, updated("test://b")), 0, "not subscribed");

    // Dropped: the server stops sending.
    drop(sub);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = count(notes, is_list_changed);
    client
        .call_tool("grow", serde_json::json!({}))
        .await
        .expect("grow");
    client
        .call_tool("touch", serde_json::json!({"uri": "test://a"}))
        .await
        .expect("touch");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(notes, is_list_changed), before, "{notes:?}");
    assert_eq!(count(notes, updated("test://a")), 1, "{notes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_over_a_stream_transport() {
    init_tracing();
    bounded(async {
        let addr = serve_tcp().await;
        let notes = Notes::default();
        let client = builder(&notes)
            .connect_tcp(&addr.to_string())
            .await
            .expect("connect");
        exercise(&client, &notes).await;
        client.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_over_streamable_http_and_the_server_ends_it() {
    init_tracing();
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let srv = server();
        let serving = tokio::spawn(async move {
            rune_http::listen::serve_http(&srv, listener, Default::default(), async {
                let _ = stop_rx.await;
            })
            .await
        });
        let notes = Notes::default();
        let client = builder(&notes).connect(&url).await.expect("connect");
        exercise(&client, &notes).await;

        // A graceful shutdown ends every subscription with its result.
        let mut sub = client
            .listen(ListenFilter {
                tools_list_changed: Some(true),
                ..Default::default()
            })
            .await
            .expect("listen");
        let _ = stop_tx.send(());
        sub.ended().await.expect("ended by the server");
        let _ = serving.await;
    })
    .await;
}

#[tokio::test]
async fn listen_needs_the_stateless_revision() {
    bounded(async {
        let addr = serve_tcp().await;
        let client = Client::builder()
            .connect_tcp(&addr.to_string())
            .await
            .expect("connect");
        let e = client
            .listen(ListenFilter::default())
            .await
            .expect_err("handshake connection");
        assert!(e.to_string().contains("2026-07-28"), "{e}");
    })
    .await;
}
