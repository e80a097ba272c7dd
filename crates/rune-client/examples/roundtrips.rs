//! Round trips per second: `tools/call` of `echo` against a stdio server, with 1 and with 16
//! calls in flight.
//!
//! Run with `cargo run --release -p rune-client --example roundtrips -- SERVER [ARGS...]`,
//! e.g. `-- target/release/echo_server`. A quick look, not the benchmark of record (that is
//! `rune-bench`, see BENCHMARKS.md).

use std::time::{Duration, Instant};

use rune_client::Client;
use serde_json::json;

const WINDOW: Duration = Duration::from_secs(2);

async fn run(client: &Client, in_flight: usize) -> Result<f64, rune_client::Error> {
    let start = Instant::now();
    let mut done = 0u64;
    while start.elapsed() < WINDOW {
        let calls = (0..in_flight).map(|_| client.call_tool("echo", json!({"message": "hi"})));
        for r in futures_util::future::join_all(calls).await {
            r?;
            done += 1;
        }
    }
    Ok(done as f64 / start.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let Some(program) = args.next() else {
        eprintln!("usage: roundtrips SERVER [ARGS...]");
        std::process::exit(64);
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    let client = Client::builder().connect_stdio(cmd).await?;
    run(&client, 1).await?;
    for in_flight in [1, 16] {
        let rate = run(&client, in_flight).await?;
        println!("{in_flight:>2} in flight: {rate:>9.0} calls/s");
    }
    client.close().await;
    Ok(())
}
