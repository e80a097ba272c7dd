//! Compile-time checks of the public API: the handle and the futures of its calls can move
//! between threads (a host spawns them on a multi-threaded runtime).

use rune_client::{CallOptions, Client, ClientBuilder, Error, Notification};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>(_: &T) {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Client>();
    send_sync::<ClientBuilder>();
    send_sync::<CallOptions>();
    send_sync::<Error>();
    send_sync::<Notification>();
}

#[allow(dead_code)]
fn call_futures_are_send(client: &Client) {
    send(&client.call_tool("x", serde_json::json!({})));
    send(&client.list_tools());
    send(&client.read_resource("x"));
    send(&client.get_prompt("x", [("a", "b")]));
    send(&client.ping());
    send(&client.clone().close());
    send(&Client::builder().connect("tcp://127.0.0.1:1"));
    send(&Client::builder().connect_stdio(std::process::Command::new("x")));
}
