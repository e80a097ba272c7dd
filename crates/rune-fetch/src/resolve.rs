//! Name resolution that only ever hands checked addresses to the HTTP client.
//!
//! The HTTP client connects to whatever its resolver returns. The guarded resolver resolves a
//! name, checks every address with the [`AddressPolicy`], and returns those same addresses:
//! the check and the connection use one answer, so a name that changes its answer between
//! the two (DNS rebinding) cannot slip a private address in. Every connection goes through
//! it, the first and each one after a redirect. A name is refused as soon as one of its
//! addresses is refused, rather than trying the others: a public name has no business
//! pointing into a private network.
//!
//! Hosts written as IP addresses never reach a resolver; `fetch.rs` checks them itself.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::addr::{AddressPolicy, Refused};

/// A future that resolves a host name to its addresses.
pub type LookupFuture = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Where names are looked up: the system's resolver by default ([`SystemLookup`]); tests
/// inject their own to make a name point anywhere without touching DNS.
pub trait Lookup: Send + Sync + 'static {
    /// The addresses of `host`.
    fn lookup(&self, host: &str) -> LookupFuture;
}

/// The system's resolver (`getaddrinfo`, on the runtime's blocking pool).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let host = host.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// A fixed table of names, for tests: any other name fails to resolve.
#[derive(Debug, Clone, Default)]
pub struct StaticLookup {
    entries: Vec<(String, Vec<IpAddr>)>,
}

impl StaticLookup {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `host` resolve to `addrs`.
    pub fn with(mut self, host: &str, addrs: &[IpAddr]) -> Self {
        self.entries
            .push((host.to_ascii_lowercase(), addrs.to_vec()));
        self
    }
}

impl Lookup for StaticLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let found = self
            .entries
            .iter()
            .find(|(h, _)| *h == host)
            .map(|(_, a)| a.clone());
        Box::pin(async move {
            found.ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("unknown host {host}"))
            })
        })
    }
}

/// The resolver handed to the HTTP client (see the module docs).
#[derive(Clone)]
pub(crate) struct GuardedResolver {
    pub(crate) lookup: Arc<dyn Lookup>,
    pub(crate) policy: AddressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.lookup.clone();
        let policy = self.policy;
        Box::pin(async move {
            let ips = lookup.lookup(&host).await?;
            if ips.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{host} has no address"),
                )
                .into());
            }
            for ip in &ips {
                if let Err(range) = policy.check(*ip) {
                    return Err(Box::new(Refused {
                        host: host.clone(),
                        addr: *ip,
                        range,
                    })
                        as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The [`Refused`] somewhere in an error's chain of causes.
pub(crate) fn refused_in(err: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r.clone());
        }
        cur = e.source();
    }
    None
}
