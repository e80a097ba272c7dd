//! Prompts and argument completion.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use rune_proto::model::{
    CompleteParams, CompleteResult, GetPromptResult, Prompt, PromptArgument, PromptMessage,
};

use crate::tool::BoxFuture;
use crate::{HandlerError, RequestContext};

pub(crate) type GetFn = dyn Fn(BTreeMap<String, String>, RequestContext) -> BoxFuture<Result<GetPromptResult, HandlerError>>
    + Send
    + Sync;

pub(crate) type CompleteFn = dyn Fn(CompleteParams, RequestContext) -> BoxFuture<Result<CompleteResult, HandlerError>>
    + Send
    + Sync;

/// What a prompt handler may return.
pub trait IntoGetPromptResult {
    /// The conversion.
    fn into_get_prompt_result(self) -> GetPromptResult;
}

impl IntoGetPromptResult for GetPromptResult {
    fn into_get_prompt_result(self) -> GetPromptResult {
        self
    }
}

impl IntoGetPromptResult for Vec<PromptMessage> {
    fn into_get_prompt_result(self) -> GetPromptResult {
        GetPromptResult {
            description: None,
            messages: self,
            meta: None,
        }
    }
}

impl IntoGetPromptResult for String {
    fn into_get_prompt_result(self) -> GetPromptResult {
        vec![PromptMessage::user(self)].into_get_prompt_result()
    }
}

/// A prompt the server offers.
#[derive(Clone)]
pub struct PromptDef {
    pub(crate) prompt: Prompt,
    pub(crate) get: Arc<GetFn>,
}

impl std::fmt::Debug for PromptDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptDef")
            .field("prompt", &self.prompt)
            .finish()
    }
}

impl PromptDef {
    /// A prompt; the handler receives the arguments, required ones already checked.
    pub fn new<F, Fut, R>(name: impl Into<String>, description: impl Into<String>, get: F) -> Self
    where
        F: Fn(BTreeMap<String, String>, RequestContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, HandlerError>> + Send + 'static,
        R: IntoGetPromptResult,
    {
        let get = Arc::new(get);
        let description = description.into();
        PromptDef {
            prompt: Prompt {
                name: name.into(),
                title: None,
                description: Some(description).filter(|d| !d.is_empty()),
                arguments: None,
                icons: None,
                meta: None,
            },
            get: Arc::new(move |args, cx| {
                let get = get.clone();
                Box::pin(async move {
                    get(args, cx)
                        .await
                        .map(IntoGetPromptResult::into_get_prompt_result)
                })
            }),
        }
    }

    /// Declares an argument.
    pub fn argument(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        required: bool,
    ) -> Self {
        self.prompt
            .arguments
            .get_or_insert_with(Vec::new)
            .push(PromptArgument {
                name: name.into(),
                title: None,
                description: Some(description.into()),
                required: Some(required),
            });
        self
    }

    /// Sets the display title.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.prompt.title = Some(t.into());
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.prompt.name
    }

    pub(crate) fn missing_required(&self, args: &BTreeMap<String, String>) -> Option<&str> {
        self.prompt
            .arguments
            .iter()
            .flatten()
            .find(|a| a.required == Some(true) && !args.contains_key(&a.name))
            .map(|a| a.name.as_str())
    }
}

/// Wraps a completion handler.
pub(crate) fn erase_completion<F, Fut>(f: F) -> Arc<CompleteFn>
where
    F: Fn(CompleteParams, RequestContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CompleteResult, HandlerError>> + Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |p, cx| {
        let f = f.clone();
        Box::pin(async move { f(p, cx).await })
    })
}
