//! Rune's `web_fetch` tool: HTTP GET and HEAD for a model, safe against server-side request
//! forgery, with an HTTP cache.
//!
//! # The cast
//!
//! - [`web_fetch_tool`] builds the tool from [`FetchOptions`]; [`tool`] builds it over a
//!   shared [`Fetcher`].
//! - [`Fetcher`] does the fetching: one pooled, keep-alive HTTP client (rustls; gzip, brotli
//!   and zstd decoded), redirects followed hop by hop, one deadline per call, a cap on the
//!   body, and the cache ([`cache`]).
//! - [`addr`] classifies addresses ([`addr::classify`]) and decides which may be reached
//!   ([`AddressPolicy`]); [`resolve`] makes the HTTP client connect only to addresses that
//!   passed.
//! - `render` turns a body into text: charset, HTML to Markdown, paging.
//!
//! # The security model
//!
//! A URL comes from a model, and a model can be steered by what it read. The danger is not
//! the page fetched but the machine fetching it: from inside a network, a URL can name the
//! cloud's metadata service, a database on loopback, or a router. So:
//!
//! - **Only public addresses** are reached unless the operator allows loopback or private
//!   networks ([`FetchOptions::allow_loopback`], [`FetchOptions::allow_private`]).
//!   Link-local, cloud metadata, multicast, broadcast, unspecified, documentation and
//!   reserved ranges are refused always, in IPv4 and IPv6, including IPv4 carried inside
//!   IPv6 (mapped, translated, NAT64, 6to4). Numeric tricks (`0x7f.1`, `2130706433`,
//!   `017700000001`) are parsed into the address they mean before the check.
//! - **Checked where the connection is made.** Host names are resolved by a resolver that
//!   checks every address and hands the HTTP client only those: what was checked is what is
//!   connected to, so a name that changes its answer in between (DNS rebinding) gains
//!   nothing. IP-literal hosts, which skip resolution, are checked before the request; and
//!   once connected, the peer's address is checked again.
//! - **Every redirect is a new request**: followed here, not by the HTTP client, each hop
//!   checked like the first, up to [`FetchOptions::max_redirects`].
//! - **No proxy** from the environment: a proxy would connect on our behalf to addresses we
//!   never see.
//! - **Bounded**: one deadline for the whole call ([`FetchOptions::timeout`]), a wait limit
//!   between reads, and a cap on decoded body bytes ([`FetchOptions::max_bytes`]), so a slow,
//!   endless or compressed-bomb response ends early.
//! - **Policy lives elsewhere.** Consent and the audit log are applied to this tool like to
//!   any other by `rune_tools::Policy::apply`; the tool says it only reads
//!   (`readOnlyHint: true`) and reaches the open world (`openWorldHint: true`).
//!
//! # Example
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = rune_fetch::FetchOptions::default();
//! let server = rune_server::Server::builder("web", "1.0.0")
//!     .tool(rune_fetch::web_fetch_tool(opts)?)
//!     .build();
//! # let _ = server; Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod addr;
pub mod cache;
mod fetch;
mod render;
pub mod resolve;
mod tool;

pub use addr::{AddressPolicy, Range, Refused, classify};
pub use cache::{CacheOptions, default_cache_dir};
pub use fetch::{
    CacheStatus, FetchError, FetchOptions, Fetched, Fetcher, Method, Progress, USER_AGENT,
};
pub use render::Format;
pub use resolve::{Lookup, StaticLookup, SystemLookup};
pub use tool::{
    DEFAULT_MAX_LENGTH, MAX_MAX_LENGTH, WebFetchArgs, WebFetchOutput, tool, web_fetch_tool,
};
