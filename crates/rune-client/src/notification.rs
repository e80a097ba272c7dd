//! What the server tells the client without being asked.

use rune_proto::RawValue;
use rune_proto::model::{LoggingMessageParams, ProgressParams, ResourceUpdatedParams};
use serde_json::Value;

/// A notification from the server, delivered to the callback given to
/// [`ClientBuilder::on_notification`](crate::ClientBuilder::on_notification).
///
/// Progress of a call that has its own progress callback goes to that callback instead.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Notification {
    /// `notifications/tools/list_changed`.
    ToolsListChanged,
    /// `notifications/prompts/list_changed`.
    PromptsListChanged,
    /// `notifications/resources/list_changed`.
    ResourcesListChanged,
    /// `notifications/resources/updated`: a subscribed resource changed.
    ResourceUpdated(ResourceUpdatedParams),
    /// `notifications/message`: a log message.
    Log(LoggingMessageParams),
    /// `notifications/progress` for a call without a progress callback.
    Progress(ProgressParams),
    /// `notifications/elicitation/complete` (URL mode, 2025-11-25).
    ElicitationComplete {
        /// The elicitation that finished.
        elicitation_id: String,
    },
    /// Any other notification.
    Other {
        /// Its method.
        method: String,
        /// Its params.
        params: Option<Value>,
    },
}

impl Notification {
    pub(crate) fn decode(method: &str, params: Option<&RawValue>) -> Result<Self, String> {
        fn de<T: serde::de::DeserializeOwned>(p: Option<&RawValue>) -> Result<T, String> {
            serde_json::from_str(p.map_or("{}", RawValue::get)).map_err(|e| e.to_string())
        }
        Ok(match method {
            "notifications/tools/list_changed" => Notification::ToolsListChanged,
            "notifications/prompts/list_changed" => Notification::PromptsListChanged,
            "notifications/resources/list_changed" => Notification::ResourcesListChanged,
            "notifications/resources/updated" => Notification::ResourceUpdated(de(params)?),
            "notifications/message" => Notification::Log(de(params)?),
            "notifications/progress" => Notification::Progress(de(params)?),
            "notifications/elicitation/complete" => {
                #[derive(serde::Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct P {
                    elicitation_id: String,
                }
                let p: P = de(params)?;
                Notification::ElicitationComplete {
                    elicitation_id: p.elicitation_id,
                }
            }
            other => Notification::Other {
                method: other.to_owned(),
                params: params.map(|p| de(Some(p))).transpose()?,
            },
        })
    }
}
