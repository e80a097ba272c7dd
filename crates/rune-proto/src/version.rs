//! The MCP revisions Rune speaks, and what differs between them.
//!
//! Two eras share one engine. The **handshake** era (2024-11-05 … 2025-11-25) opens with
//! `initialize` and fixes the revision for the whole connection. The **stateless** era
//! (2026-07-28) has no handshake: every request names its revision in
//! `_meta["io.modelcontextprotocol/protocolVersion"]`. Behaviour that depends on the revision
//! is asked of [`ProtocolVersion`] (`allows_batches`, `has_result_type`, …), never spelled as
//! string comparisons elsewhere.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A released MCP revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// The first released revision.
    V2024_11_05,
    /// Streamable HTTP, batching, tool annotations, audio.
    V2025_03_26,
    /// Structured tool output, elicitation, resource links; batching removed.
    V2025_06_18,
    /// Icons, URL elicitation, sampling with tools, tasks, SSE polling.
    V2025_11_25,
    /// The stateless core: no handshake, per-request `_meta`, `resultType`, MRTR.
    V2026_07_28,
}

/// Which way a revision starts a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Era {
    /// `initialize` → `notifications/initialized`, then a connection-wide revision.
    Handshake,
    /// No handshake; each request carries its revision and capabilities in `_meta`.
    Stateless,
}

impl ProtocolVersion {
    /// Every revision, oldest first.
    pub const ALL: [ProtocolVersion; 5] = [
        ProtocolVersion::V2024_11_05,
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_11_25,
        ProtocolVersion::V2026_07_28,
    ];
    /// The newest revision.
    pub const LATEST: ProtocolVersion = ProtocolVersion::V2026_07_28;
    /// The newest handshake revision (offered to `initialize` with an unknown version).
    pub const LATEST_HANDSHAKE: ProtocolVersion = ProtocolVersion::V2025_11_25;

    /// The revision's date string.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2024_11_05 => "2024-11-05",
            ProtocolVersion::V2025_03_26 => "2025-03-26",
            ProtocolVersion::V2025_06_18 => "2025-06-18",
            ProtocolVersion::V2025_11_25 => "2025-11-25",
            ProtocolVersion::V2026_07_28 => "2026-07-28",
        }
    }

    /// Parses a date string; `None` for anything Rune does not speak.
    pub fn parse(s: &str) -> Option<ProtocolVersion> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The era this revision belongs to.
    pub const fn era(self) -> Era {
        match self {
            ProtocolVersion::V2026_07_28 => Era::Stateless,
            _ => Era::Handshake,
        }
    }

    /// JSON-RPC batches are allowed (and must be received) only in 2025-03-26.
    pub const fn allows_batches(self) -> bool {
        matches!(self, ProtocolVersion::V2025_03_26)
    }

    /// Results carry `resultType` (2026-07-28 on).
    pub fn has_result_type(self) -> bool {
        self.era() == Era::Stateless
    }

    /// `resources/read` of an unknown URI answers `-32002` (up to 2025-11-25) or `-32602`.
    pub fn resource_not_found_code(self) -> i64 {
        match self.era() {
            Era::Handshake => crate::jsonrpc::code::RESOURCE_NOT_FOUND,
            Era::Stateless => crate::jsonrpc::code::INVALID_PARAMS,
        }
    }

    /// `structuredContent` and `outputSchema` exist (2025-06-18 on).
    pub fn has_structured_content(self) -> bool {
        self >= ProtocolVersion::V2025_06_18
    }

    /// `elicitation/create` exists (2025-06-18 on).
    pub fn has_elicitation(self) -> bool {
        self >= ProtocolVersion::V2025_06_18
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ProtocolVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        ProtocolVersion::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown protocol version {s:?}")))
    }
}

/// The handshake revisions, newest first (the order `initialize` negotiation prefers).
pub const HANDSHAKE_VERSIONS: [ProtocolVersion; 4] = [
    ProtocolVersion::V2025_11_25,
    ProtocolVersion::V2025_06_18,
    ProtocolVersion::V2025_03_26,
    ProtocolVersion::V2024_11_05,
];

/// The stateless revisions, newest first.
pub const STATELESS_VERSIONS: [ProtocolVersion; 1] = [ProtocolVersion::V2026_07_28];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_every_revision() {
        for v in ProtocolVersion::ALL {
            assert_eq!(ProtocolVersion::parse(v.as_str()), Some(v));
        }
        assert_eq!(ProtocolVersion::parse("2024-10-07"), None);
    }

    #[test]
    fn only_2025_03_26_allows_batches() {
        let batching: Vec<_> = ProtocolVersion::ALL
            .into_iter()
            .filter(|v| v.allows_batches())
            .collect();
        assert_eq!(batching, [ProtocolVersion::V2025_03_26]);
    }

    #[test]
    fn eras() {
        assert_eq!(ProtocolVersion::V2026_07_28.era(), Era::Stateless);
        assert!(HANDSHAKE_VERSIONS.iter().all(|v| v.era() == Era::Handshake));
        assert_eq!(
            ProtocolVersion::V2026_07_28.resource_not_found_code(),
            -32602
        );
        assert_eq!(
            ProtocolVersion::V2025_11_25.resource_not_found_code(),
            -32002
        );
    }
}
