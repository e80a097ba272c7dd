//! The fixture server of the official MCP conformance suite, built on Rune's library.
//!
//! It implements every tool, resource, template, prompt and completion the suite's server
//! scenarios name (`@modelcontextprotocol/conformance`, see each scenario's "Server
//! Implementation Requirements"), so the suite can run against it, and so Rune's own tests
//! and the official SDK clients have a rich server to talk to.
//!
//! Run with `cargo run -p conformance_server` (stdio) or
//! `cargo run -p conformance_server -- --listen tcp://127.0.0.1:9000`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use rune_server::proto::model::{
    CompleteParams, CompleteResult, Completion, CompletionReference, Content, CreateMessageParams,
    ElicitRequestParams, JsonObject, LoggingLevel, PromptMessage, ResourceContents, Role,
    SamplingMessage,
};
use rune_server::{
    HandlerError, NoArgs, PromptDef, RequestContext, ResourceDef, Server, TemplateDef, ToolDef,
};
use serde_json::json;

/// A 1×1 red PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A WAV file of 8 silent samples (8 kHz, 8-bit mono).
const WAV: &str = "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA==";

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct PromptArg {
    /// The prompt to send to the LLM.
    prompt: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct MessageArg {
    /// The message to show the user.
    message: String,
}

/// Arguments mirrored into `Mcp-Param-Region` and `Mcp-Param-Limit` (SEP-2243).
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct RouteArgs {
    /// Where to route.
    #[schemars(extend("x-mcp-header" = "Region"))]
    region: String,
    /// How many results.
    #[serde(default)]
    #[schemars(extend("x-mcp-header" = "Limit"))]
    limit: i64,
}

fn obj(v: serde_json::Value) -> JsonObject {
    match v {
        serde_json::Value::Object(o) => o,
        _ => JsonObject::new(),
    }
}

fn simple(
    name: &str,
    description: &str,
    result: impl Fn() -> Vec<Content> + Send + Sync + 'static,
) -> ToolDef {
    ToolDef::new(name, description, move |_: NoArgs, _cx: RequestContext| {
        let r = result();
        async move { Ok::<_, HandlerError>(r) }
    })
}

fn tools() -> Vec<ToolDef> {
    vec![
        simple("test_simple_text", "Returns simple text content", || {
            vec![Content::text("This is a simple text response for testing.")]
        }),
        simple("test_image_content", "Returns image content", || {
            vec![Content::image(PNG, "image/png")]
        }),
        simple("test_audio_content", "Returns audio content", || {
            vec![Content::audio(WAV, "audio/wav")]
        }),
        simple(
            "test_embedded_resource",
            "Returns an embedded resource",
            || {
                vec![Content::resource(ResourceContents::text(
                    "test://embedded-resource",
                    Some("text/plain"),
                    "This is an embedded resource content.",
                ))]
            },
        ),
        simple(
            "test_multiple_content_types",
            "Returns text, image and resource content",
            || {
                vec![
                    Content::text("Multiple content types test:"),
                    Content::image(PNG, "image/png"),
                    Content::resource(ResourceContents::text(
                        "test://mixed-content-resource",
                        Some("application/json"),
                        r#"{"test":"data","value":123}"#,
                    )),
                ]
            },
        ),
        ToolDef::new(
            "test_tool_with_logging",
            "Sends three log messages while it runs",
            |_: NoArgs, cx: RequestContext| async move {
                cx.log(LoggingLevel::Info, "Tool execution started");
                tokio::time::sleep(Duration::from_millis(50)).await;
                cx.log(LoggingLevel::Info, "Tool processing data");
                tokio::time::sleep(Duration::from_millis(50)).await;
                cx.log(LoggingLevel::Info, "Tool execution completed");
                Ok::<_, HandlerError>("Tool with logging executed successfully")
            },
        ),
        ToolDef::new(
            "test_tool_with_progress",
            "Reports progress 0, 50 and 100 of 100",
            |_: NoArgs, cx: RequestContext| async move {
                cx.progress(0.0, Some(100.0), None);
                tokio::time::sleep(Duration::from_millis(50)).await;
                cx.progress(50.0, Some(100.0), None);
                tokio::time::sleep(Duration::from_millis(50)).await;
                cx.progress(100.0, Some(100.0), None);
                Ok::<_, HandlerError>("Tool with progress executed successfully")
            },
        ),
        ToolDef::new(
            "test_error_handling",
            "Always fails",
            |_: NoArgs, _cx: RequestContext| async move {
                Err::<String, _>(HandlerError::failed(
                    "This tool intentionally returns an error for testing",
                ))
            },
        ),
        ToolDef::new(
            "test_sampling",
            "Asks the client's LLM to answer a prompt",
            |a: PromptArg, cx: RequestContext| async move {
                let r = cx
                    .create_message(CreateMessageParams {
                        messages: vec![SamplingMessage::user_text(a.prompt)],
                        max_tokens: 100,
                        model_preferences: None,
                        system_prompt: None,
                        include_context: None,
                        temperature: None,
                        stop_sequences: None,
                        metadata: None,
                        tools: None,
                        tool_choice: None,
                        meta: None,
                    })
                    .await?;
                Ok::<_, HandlerError>(format!("LLM response: {}", r.text().unwrap_or_default()))
            },
        ),
        ToolDef::new(
            "test_elicitation",
            "Asks the user for a username and an email",
            |a: MessageArg, cx: RequestContext| async move {
                let schema = obj(json!({
                    "type": "object",
                    "properties": {
                        "username": {"type": "string", "description": "User's response"},
                        "email": {"type": "string", "description": "User's email address"}
                    },
                    "required": ["username", "email"]
                }));
                let r = cx
                    .elicit(ElicitRequestParams::form(a.message, schema))
                    .await?;
                Ok::<_, HandlerError>(format!(
                    "User response: <action: {}, content: {}>",
                    json!(r.action).as_str().unwrap_or_default(),
                    json!(r.content.unwrap_or_default())
                ))
            },
        ),
        ToolDef::new(
            "test_elicitation_sep1034_defaults",
            "Elicits fields that all have defaults (SEP-1034)",
            |_: NoArgs, cx: RequestContext| async move {
                let schema = obj(json!({
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "default": "John Doe"},
                        "age": {"type": "integer", "default": 30},
                        "score": {"type": "number", "default": 95.5},
                        "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
                        "verified": {"type": "boolean", "default": true}
                    }
                }));
                let r = cx
                    .elicit(ElicitRequestParams::form(
                        "Please review your details",
                        schema,
                    ))
                    .await?;
                Ok::<_, HandlerError>(format!(
                    "Elicitation completed: action={}, content={}",
                    json!(r.action).as_str().unwrap_or_default(),
                    json!(r.content.unwrap_or_default())
                ))
            },
        ),
        ToolDef::new(
            "test_elicitation_sep1330_enums",
            "Elicits every kind of enum field (SEP-1330)",
            |_: NoArgs, cx: RequestContext| async move {
                let schema = obj(json!({
                    "type": "object",
                    "properties": {
                        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                        "titledSingle": {"type": "string", "oneOf": [
                            {"const": "value1", "title": "First Option"},
                            {"const": "value2", "title": "Second Option"},
                            {"const": "value3", "title": "Third Option"}
                        ]},
                        "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                            "enumNames": ["Option One", "Option Two", "Option Three"]},
                        "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                        "titledMulti": {"type": "array", "items": {"anyOf": [
                            {"const": "value1", "title": "First Choice"},
                            {"const": "value2", "title": "Second Choice"},
                            {"const": "value3", "title": "Third Choice"}
                        ]}}
                    }
                }));
                let r = cx
                    .elicit(ElicitRequestParams::form("Pick your options", schema))
                    .await?;
                Ok::<_, HandlerError>(format!(
                    "Elicitation completed: action={}, content={}",
                    json!(r.action).as_str().unwrap_or_default(),
                    json!(r.content.unwrap_or_default())
                ))
            },
        ),
        ToolDef::raw(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features",
            obj(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {
                        "type": "object",
                        "properties": {"street": {"type": "string"}, "city": {"type": "string"}}
                    }
                },
                "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
                "additionalProperties": false
            })),
            |args: serde_json::Value, _cx: RequestContext| async move {
                Ok::<_, HandlerError>(format!("Received: {args}"))
            },
        ),
        ToolDef::new(
            "test_param_headers",
            "Echoes two arguments that 2026-07-28 HTTP requests mirror into Mcp-Param-* headers",
            |a: RouteArgs, _cx: RequestContext| async move {
                Ok::<_, HandlerError>(format!("region={} limit={}", a.region, a.limit))
            },
        ),
        ToolDef::new(
            "test_reconnection",
            "Closes the SSE stream mid-call to test client reconnection (HTTP only)",
            |_: NoArgs, cx: RequestContext| async move {
                // Over Streamable HTTP the POST's stream closes now; the client reconnects
                // with Last-Event-ID and gets the result on the new stream.
                cx.close_sse_stream();
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok::<_, HandlerError>("Reconnection test completed")
            },
        ),
    ]
}

fn server() -> Server {
    let mut b = Server::builder("rune-conformance-server", env!("CARGO_PKG_VERSION"))
        .instructions("Fixture server for the official MCP conformance suite.");
    for t in tools() {
        b = b.tool(t);
    }
    b.resource(
        ResourceDef::new(
            "test://static-text",
            "Static text resource",
            |uri, _cx| async move {
                Ok::<_, HandlerError>(ResourceContents::text(
                    uri,
                    Some("text/plain"),
                    "This is the content of the static text resource.",
                ))
            },
        )
        .description("A static text resource for testing")
        .mime_type("text/plain"),
    )
    .resource(
        ResourceDef::new(
            "test://static-binary",
            "Static binary resource",
            |uri, _cx| async move {
                Ok::<_, HandlerError>(ResourceContents::blob(uri, Some("image/png"), PNG))
            },
        )
        .description("A static binary resource (a PNG image) for testing")
        .mime_type("image/png"),
    )
    .resource(
        ResourceDef::new(
            "test://watched-resource",
            "Watched resource",
            |uri, _cx| async move {
                Ok::<_, HandlerError>(ResourceContents::text(
                    uri,
                    Some("text/plain"),
                    "Watched resource content",
                ))
            },
        )
        .description("A resource for subscription tests")
        .mime_type("text/plain"),
    )
    .resource_template(
        TemplateDef::new(
            "test://template/{id}/data",
            "Template resource",
            |uri, vars: BTreeMap<String, String>, _cx| async move {
                let id = vars.get("id").cloned().unwrap_or_default();
                let text =
                    json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")})
                        .to_string();
                Ok::<_, HandlerError>(ResourceContents::text(uri, Some("application/json"), text))
            },
        )
        .description("A resource template with an id parameter")
        .mime_type("application/json"),
    )
    .prompt(PromptDef::new(
        "test_simple_prompt",
        "A simple prompt without arguments",
        |_args, _cx| async move {
            Ok::<_, HandlerError>(vec![PromptMessage::user(
                "This is a simple prompt for testing.",
            )])
        },
    ))
    .prompt(
        PromptDef::new(
            "test_prompt_with_arguments",
            "A prompt with two required arguments",
            |args: BTreeMap<String, String>, _cx| async move {
                let a = args.get("arg1").map(String::as_str).unwrap_or_default();
                let b = args.get("arg2").map(String::as_str).unwrap_or_default();
                Ok::<_, HandlerError>(vec![PromptMessage::user(format!(
                    "Prompt with arguments: arg1='{a}', arg2='{b}'"
                ))])
            },
        )
        .argument("arg1", "First test argument", true)
        .argument("arg2", "Second test argument", true),
    )
    .prompt(
        PromptDef::new(
            "test_prompt_with_embedded_resource",
            "A prompt that embeds a resource",
            |args: BTreeMap<String, String>, _cx| async move {
                let uri = args.get("resourceUri").cloned().unwrap_or_default();
                Ok::<_, HandlerError>(vec![
                    PromptMessage {
                        role: Role::User,
                        content: Content::resource(ResourceContents::text(
                            uri,
                            Some("text/plain"),
                            "Embedded resource content for testing.",
                        )),
                    },
                    PromptMessage::user("Please process the embedded resource above."),
                ])
            },
        )
        .argument("resourceUri", "URI of the resource to embed", true),
    )
    .prompt(PromptDef::new(
        "test_prompt_with_image",
        "A prompt with an image",
        |_args, _cx| async move {
            Ok::<_, HandlerError>(vec![
                PromptMessage {
                    role: Role::User,
                    content: Content::image(PNG, "image/png"),
                },
                PromptMessage::user("Please analyze the image above."),
            ])
        },
    ))
    .completion(|p: CompleteParams, _cx| async move {
        let candidates: &[&str] = match (&p.reference, p.argument.name.as_str()) {
            (CompletionReference::Prompt { name }, "arg1" | "arg2")
                if name == "test_prompt_with_arguments" =>
            {
                &["alpha", "apple", "paris", "park", "party", "hello", "world"]
            }
            (CompletionReference::Resource { .. }, "id") => &["1", "2", "3", "42", "123"],
            _ => &[],
        };
        let values: Vec<String> = candidates
            .iter()
            .filter(|c| c.starts_with(&p.argument.value))
            .map(|c| (*c).to_owned())
            .collect();
        Ok(CompleteResult {
            completion: Completion {
                total: Some(values.len() as u64),
                has_more: Some(false),
                values,
            },
            meta: None,
        })
    })
    .build()
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUNE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let server = server();
    server.add_tool(change_trigger(server.clone()));
    rune_http::listen::main("conformance_server", server)
}

/// Not a suite requirement: a tool that changes the server, for clients' change
/// notifications (`subscriptions/listen` in 2026-07-28, list_changed and resource updates
/// in the handshake era). It adds `test_added_tool` and reports `test://static-text` updated.
fn change_trigger(server: Server) -> ToolDef {
    ToolDef::new(
        "test_trigger_changes",
        "Adds the tool test_added_tool and reports test://static-text updated",
        move |_: NoArgs, _cx: RequestContext| {
            let server = server.clone();
            async move {
                server.add_tool(simple(
                    "test_added_tool",
                    "Added at run time by test_trigger_changes",
                    || vec![Content::text("added")],
                ));
                server.notify_resource_updated("test://static-text");
                Ok::<_, HandlerError>("changed")
            }
        },
    )
}
