//! Which addresses `web_fetch` may connect to.
//!
//! A model asks for URLs, and a page it read may steer it towards `http://169.254.169.254/`
//! (a cloud's instance metadata, with credentials), `http://127.0.0.1:6379/` (a local
//! database) or a router's admin page. So every address a request would reach is classified
//! first ([`classify`]), and only [`Range::Public`] is allowed unless the configuration says
//! otherwise ([`AddressPolicy`]).
//!
//! The classification works on numbers, never on text: a URL's host has already been parsed
//! by the WHATWG rules (`http://0x7f.1/`, `http://2130706433/` and `http://017700000001/` all
//! become `127.0.0.1` before this module sees them), and IPv6 forms that carry an IPv4
//! address (mapped `::ffff:a.b.c.d`, translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96`,
//! 6to4 `2002::/16`) are judged by the IPv4 address inside. Anything in IPv6 outside global
//! unicast (`2000::/3`) is refused, so a range this table forgets is refused rather than let
//! through.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of address an IP is, for the purpose of deciding whether to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// A globally routable address: allowed.
    Public,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`), unique local `fc00::/7`, deprecated
    /// site-local `fec0::/10`, local-use NAT64 `64:ff9b:1::/48`.
    Private,
    /// Carrier-grade NAT, `100.64.0.0/10` (RFC 6598).
    SharedNat,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// A cloud provider's instance metadata or host service (`169.254.169.254`,
    /// `fd00:ec2::254`, `100.100.100.200`, `168.63.129.16`, …): never allowed.
    CloudMetadata,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `0.0.0.0/8` ("this network"; `0.0.0.0` reaches the local host on Linux), `::`.
    Unspecified,
    /// Documentation and benchmarking ranges (`192.0.2/24`, `198.51.100/24`, `203.0.113/24`,
    /// `198.18/15`, `2001:db8::/32`, `3fff::/20`).
    Documentation,
    /// Everything else that is not globally routable: `240/4`, `192.0.0/24`, `192.88.99/24`,
    /// IPv4-compatible `::a.b.c.d`, Teredo and the rest of `2001::/23`, discard `100::/64`,
    /// and all IPv6 outside `2000::/3`.
    Reserved,
}

impl Range {
    /// A short name for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Range::Public => "public",
            Range::Loopback => "loopback",
            Range::Private => "private network",
            Range::SharedNat => "carrier-grade NAT",
            Range::LinkLocal => "link-local",
            Range::CloudMetadata => "cloud metadata service",
            Range::Multicast => "multicast",
            Range::Broadcast => "broadcast",
            Range::Unspecified => "unspecified (this host)",
            Range::Documentation => "documentation or benchmarking",
            Range::Reserved => "reserved",
        }
    }
}

/// Addresses of cloud providers' metadata and host services.
const METADATA_V4: [Ipv4Addr; 6] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OpenStack, DigitalOcean, …
    Ipv4Addr::new(169, 254, 169, 253), // AWS DNS resolver
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(192, 0, 0, 192),     // Oracle Cloud
    Ipv4Addr::new(168, 63, 129, 16),   // Azure host (wire server); a public address
];

const METADATA_V6: [Ipv6Addr; 3] = [
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), // AWS IMDS
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x253), // AWS DNS resolver
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23),  // AWS time sync
];

/// The range of an address.
pub fn classify(ip: IpAddr) -> Range {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: u32, net: [u8; 4], prefix: u32) -> bool {
    let net = u32::from_be_bytes(net);
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    ip & mask == net & mask
}

/// The range of an IPv4 address.
pub fn classify_v4(ip: Ipv4Addr) -> Range {
    if METADATA_V4.contains(&ip) {
        return Range::CloudMetadata;
    }
    let n = u32::from(ip);
    // The first match wins: a narrower range comes before a wider one that contains it.
    let table: [([u8; 4], u32, Range); 16] = [
        ([0, 0, 0, 0], 8, Range::Unspecified),
        ([10, 0, 0, 0], 8, Range::Private),
        ([100, 64, 0, 0], 10, Range::SharedNat),
        ([127, 0, 0, 0], 8, Range::Loopback),
        ([169, 254, 0, 0], 16, Range::LinkLocal),
        ([172, 16, 0, 0], 12, Range::Private),
        ([192, 0, 0, 0], 24, Range::Reserved),
        ([192, 0, 2, 0], 24, Range::Documentation),
        ([192, 88, 99, 0], 24, Range::Reserved),
        ([192, 168, 0, 0], 16, Range::Private),
        ([198, 18, 0, 0], 15, Range::Documentation),
        ([198, 51, 100, 0], 24, Range::Documentation),
        ([203, 0, 113, 0], 24, Range::Documentation),
        ([224, 0, 0, 0], 4, Range::Multicast),
        ([255, 255, 255, 255], 32, Range::Broadcast),
        ([240, 0, 0, 0], 4, Range::Reserved),
    ];
    for (net, prefix, range) in table {
        if in_v4(n, net, prefix) {
            return range;
        }
    }
    Range::Public
}

/// The range of an IPv6 address (IPv4 carried inside it judged as IPv4).
pub fn classify_v6(ip: Ipv6Addr) -> Range {
    if METADATA_V6.contains(&ip) {
        return Range::CloudMetadata;
    }
    let s = ip.segments();
    let n = u128::from(ip);
    let low32 = Ipv4Addr::from((n & 0xffff_ffff) as u32);
    if ip.is_unspecified() {
        return Range::Unspecified;
    }
    if ip.is_loopback() {
        return Range::Loopback;
    }
    // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (translated, SIIT).
    if n >> 32 == 0xffff || n >> 32 == 0xffff_0000 {
        return classify_v4(low32);
    }
    // ::a.b.c.d (IPv4-compatible, deprecated): never routed; say what it points at when
    // that is worse than "reserved".
    if n >> 32 == 0 {
        return match classify_v4(low32) {
            Range::Public => Range::Reserved,
            other => other,
        };
    }
    // NAT64, the well-known prefix 64:ff9b::/96: the IPv4 address decides.
    if n >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return classify_v4(low32);
    }
    // Local-use NAT64, 64:ff9b:1::/48 (RFC 8215).
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        return Range::Private;
    }
    if s[0] & 0xff00 == 0xff00 {
        return Range::Multicast;
    }
    if s[0] & 0xffc0 == 0xfe80 {
        return Range::LinkLocal;
    }
    if s[0] & 0xffc0 == 0xfec0 || s[0] & 0xfe00 == 0xfc00 {
        return Range::Private;
    }
    // 6to4, 2002::/16: the IPv4 address is in bits 16..48.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new(
            (s[1] >> 8) as u8,
            (s[1] & 0xff) as u8,
            (s[2] >> 8) as u8,
            (s[2] & 0xff) as u8,
        );
        return classify_v4(v4);
    }
    if (s[0] == 0x2001 && s[1] == 0xdb8) || (s[0] == 0x3fff && s[1] & 0xf000 == 0) {
        return Range::Documentation;
    }
    // 2001::/23: IETF protocol assignments, Teredo (2001::/32) among them.
    if s[0] == 0x2001 && s[1] < 0x0200 {
        return Range::Reserved;
    }
    // 5f00::/16, SRv6 segment identifiers (RFC 9602).
    if s[0] == 0x5f00 {
        return Range::Reserved;
    }
    // Global unicast is 2000::/3; the rest (100::/64 discard included) is not routable.
    if s[0] & 0xe000 == 0x2000 {
        return Range::Public;
    }
    Range::Reserved
}

/// Which ranges besides [`Range::Public`] may be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Allow loopback (`127/8`, `::1`), e.g. for tests against a local server.
    pub allow_loopback: bool,
    /// Allow private networks and carrier-grade NAT (`10/8`, `172.16/12`, `192.168/16`,
    /// `100.64/10`, `fc00::/7`). Link-local, metadata and the rest stay refused.
    pub allow_private: bool,
}

impl AddressPolicy {
    /// `Ok` when `ip` may be connected to, or the range that refuses it.
    pub fn check(&self, ip: IpAddr) -> Result<(), Range> {
        match classify(ip) {
            Range::Public => Ok(()),
            Range::Loopback if self.allow_loopback => Ok(()),
            Range::Private | Range::SharedNat if self.allow_private => Ok(()),
            other => Err(other),
        }
    }
}

/// A connection refused by the address policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The host as the URL named it.
    pub host: String,
    /// The address refused.
    pub addr: IpAddr,
    /// Its range.
    pub range: Range,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host_ip = self.host.trim_start_matches('[').trim_end_matches(']');
        if host_ip == self.addr.to_string() {
            write!(f, "refused to connect to {}", self.addr)?;
        } else {
            write!(
                f,
                "refused to connect to {} (it resolves to {})",
                self.host, self.addr
            )?;
        }
        write!(
            f,
            ": a {} address; web_fetch reaches only public addresses",
            self.range.describe()
        )?;
        match self.range {
            Range::Loopback => f.write_str(
                " (the server's operator can allow loopback with allow_loopback in its \
                 [fetch] configuration)",
            ),
            Range::Private | Range::SharedNat => f.write_str(
                " (the server's operator can allow private networks with allow_private in its \
                 [fetch] configuration)",
            ),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for Refused {}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Range {
        classify(s.parse().expect("an IPv4 literal"))
    }

    fn v6(s: &str) -> Range {
        classify(s.parse().expect("an IPv6 literal"))
    }

    #[test]
    fn every_ipv4_range() {
        let cases = [
            ("0.0.0.0", Range::Unspecified),
            ("0.1.2.3", Range::Unspecified),
            ("10.0.0.1", Range::Private),
            ("10.255.255.255", Range::Private),
            ("100.63.255.255", Range::Public),
            ("100.64.0.1", Range::SharedNat),
            ("100.127.255.255", Range::SharedNat),
            ("100.128.0.0", Range::Public),
            ("127.0.0.1", Range::Loopback),
            ("127.255.255.254", Range::Loopback),
            ("169.254.0.1", Range::LinkLocal),
            ("169.254.169.254", Range::CloudMetadata),
            ("169.254.170.2", Range::CloudMetadata),
            ("100.100.100.200", Range::CloudMetadata),
            ("168.63.129.16", Range::CloudMetadata),
            ("192.0.0.192", Range::CloudMetadata),
            ("172.15.255.255", Range::Public),
            ("172.16.0.1", Range::Private),
            ("172.31.255.255", Range::Private),
            ("172.32.0.0", Range::Public),
            ("192.0.0.8", Range::Reserved),
            ("192.0.2.1", Range::Documentation),
            ("192.88.99.1", Range::Reserved),
            ("192.168.1.1", Range::Private),
            ("198.18.0.1", Range::Documentation),
            ("198.19.255.255", Range::Documentation),
            ("198.20.0.0", Range::Public),
            ("198.51.100.7", Range::Documentation),
            ("203.0.113.9", Range::Documentation),
            ("224.0.0.1", Range::Multicast),
            ("239.255.255.250", Range::Multicast),
            ("240.0.0.1", Range::Reserved),
            ("255.255.255.254", Range::Reserved),
            ("255.255.255.255", Range::Broadcast),
            ("1.1.1.1", Range::Public),
            ("8.8.8.8", Range::Public),
            ("93.184.215.14", Range::Public),
            ("223.255.255.255", Range::Public),
        ];
        for (ip, want) in cases {
            assert_eq!(v4(ip), want, "{ip}");
        }
    }

    #[test]
    fn every_ipv6_range() {
        let cases = [
            ("::", Range::Unspecified),
            ("::1", Range::Loopback),
            ("fe80::1", Range::LinkLocal),
            ("febf::1", Range::LinkLocal),
            ("fec0::1", Range::Private),
            ("fc00::1", Range::Private),
            ("fd12:3456::1", Range::Private),
            ("fd00:ec2::254", Range::CloudMetadata),
            ("fd00:ec2::253", Range::CloudMetadata),
            ("ff02::1", Range::Multicast),
            ("ff0e::101", Range::Multicast),
            ("2001:db8::1", Range::Documentation),
            ("3fff::1", Range::Documentation),
            ("2001::1", Range::Reserved), // Teredo
            ("2001:2::1", Range::Reserved),
            ("100::1", Range::Reserved),
            ("5f00::1", Range::Reserved),
            ("4000::1", Range::Reserved),
            ("::2", Range::Unspecified), // IPv4-compatible 0.0.0.2
            ("2606:4700:4700::1111", Range::Public),
            ("2a00:1450:4001::1", Range::Public),
        ];
        for (ip, want) in cases {
            assert_eq!(v6(ip), want, "{ip}");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_judged_as_ipv4() {
        let cases = [
            // Mapped.
            ("::ffff:127.0.0.1", Range::Loopback),
            ("::ffff:7f00:1", Range::Loopback),
            ("::ffff:169.254.169.254", Range::CloudMetadata),
            ("::ffff:a9fe:a9fe", Range::CloudMetadata),
            ("::ffff:10.0.0.1", Range::Private),
            ("::ffff:0.0.0.0", Range::Unspecified),
            ("::ffff:8.8.8.8", Range::Public),
            // Translated (SIIT).
            ("::ffff:0:127.0.0.1", Range::Loopback),
            ("::ffff:0:8.8.8.8", Range::Public),
            // IPv4-compatible (deprecated): never public.
            ("::127.0.0.1", Range::Loopback),
            ("::169.254.169.254", Range::CloudMetadata),
            ("::8.8.8.8", Range::Reserved),
            // NAT64 well-known prefix.
            ("64:ff9b::127.0.0.1", Range::Loopback),
            ("64:ff9b::a9fe:a9fe", Range::CloudMetadata),
            ("64:ff9b::192.168.0.1", Range::Private),
            ("64:ff9b::8.8.8.8", Range::Public),
            ("64:ff9b:1::1", Range::Private),
            // 6to4.
            ("2002:7f00:1::1", Range::Loopback),
            ("2002:a9fe:a9fe::", Range::CloudMetadata),
            ("2002:c0a8:101::1", Range::Private),
            ("2002:808:808::1", Range::Public),
        ];
        for (ip, want) in cases {
            assert_eq!(v6(ip), want, "{ip}");
        }
    }

    /// The URL parser turns the numeric tricks into plain addresses before the check.
    #[test]
    fn numeric_host_tricks_parse_to_the_address_they_mean() {
        use reqwest::Url;
        use url_host::host_ip;
        for (url, ip) in [
            ("http://0x7f.1/", "127.0.0.1"),
            ("http://0x7f000001/", "127.0.0.1"),
            ("http://2130706433/", "127.0.0.1"),
            ("http://017700000001/", "127.0.0.1"),
            ("http://0177.0.0.1/", "127.0.0.1"),
            ("http://127.1/", "127.0.0.1"),
            ("http://127.0.1/", "127.0.0.1"),
            ("http://0/", "0.0.0.0"),
            ("http://0.0.0.0/", "0.0.0.0"),
            ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
            ("http://[::ffff:7f00:1]/", "::ffff:127.0.0.1"),
            (
                "http://[0:0:0:0:0:ffff:a9fe:a9fe]/",
                "::ffff:169.254.169.254",
            ),
            ("http://[::1]:8080/", "::1"),
            ("http://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254"),
            ("http://2852039166/", "169.254.169.254"),
            ("http://[fd00:ec2::254]/", "fd00:ec2::254"),
            ("http://%31%32%37.0.0.1/", "127.0.0.1"),
            ("http://１２７.0.0.1/", "127.0.0.1"),
        ] {
            let u = Url::parse(url).expect(url);
            let got = host_ip(&u).unwrap_or_else(|| panic!("{url}: no IP host"));
            assert_eq!(got, ip.parse::<IpAddr>().expect("ip"), "{url}");
            let refused = AddressPolicy::default().check(got);
            assert!(refused.is_err(), "{url} must be refused");
        }
        assert_eq!(
            host_ip(&Url::parse("http://example.com/").expect("url")),
            None
        );
    }

    #[test]
    fn the_switches_open_only_their_ranges() {
        let none = AddressPolicy::default();
        let lo = AddressPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        let private = AddressPolicy {
            allow_loopback: false,
            allow_private: true,
        };
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(none.check(ip("127.0.0.1")), Err(Range::Loopback));
        assert_eq!(lo.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(lo.check(ip("::1")), Ok(()));
        assert_eq!(lo.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(lo.check(ip("10.0.0.1")), Err(Range::Private));
        assert_eq!(private.check(ip("10.0.0.1")), Ok(()));
        assert_eq!(private.check(ip("100.64.0.1")), Ok(()));
        assert_eq!(private.check(ip("fd12::1")), Ok(()));
        assert_eq!(private.check(ip("127.0.0.1")), Err(Range::Loopback));
        let both = AddressPolicy {
            allow_loopback: true,
            allow_private: true,
        };
        for never in [
            "169.254.169.254",
            "fd00:ec2::254",
            "100.100.100.200",
            "169.254.1.1",
            "fe80::1",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
        ] {
            assert!(both.check(ip(never)).is_err(), "{never}");
        }
        assert_eq!(none.check(ip("8.8.8.8")), Ok(()));
    }

    #[test]
    fn refusals_say_what_and_how_to_allow() {
        let r = Refused {
            host: "internal.example".into(),
            addr: "10.1.2.3".parse().expect("ip"),
            range: Range::Private,
        };
        let s = r.to_string();
        assert!(
            s.contains("internal.example") && s.contains("10.1.2.3"),
            "{s}"
        );
        assert!(s.contains("allow_private"), "{s}");
        let r = Refused {
            host: "169.254.169.254".into(),
            addr: "169.254.169.254".parse().expect("ip"),
            range: Range::CloudMetadata,
        };
        let s = r.to_string();
        assert!(s.contains("cloud metadata") && !s.contains("allow_"), "{s}");
    }
}

/// The IP address of a URL's host, when the host is an address rather than a name.
pub(crate) mod url_host {
    use std::net::IpAddr;

    use reqwest::Url;

    /// `Some` for `http://1.2.3.4/` and `http://[::1]/`, `None` for names.
    pub(crate) fn host_ip(url: &Url) -> Option<IpAddr> {
        match url.host()? {
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            url::Host::Domain(_) => None,
        }
    }
}
