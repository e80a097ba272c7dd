//! Many servers at once: a registry of named connections whose tools are offered under one
//! namespace (`server__tool`), the basis of a gateway.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use futures_util::future::join_all;
use rune_proto::model::{CallToolParams, CallToolResult, Tool};
use serde::Serialize;

use crate::builder::ClientBuilder;
use crate::client::{CallOptions, Client};
use crate::config::{McpServers, ServerConfig};
use crate::error::Error;

/// The separator between a server's name and its tool's name, unless
/// [`ClientPool::with_separator`] says otherwise.
pub const DEFAULT_SEPARATOR: &str = "__";

/// A tool of one of the pool's servers, under its namespaced name.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolTool {
    /// The server it belongs to.
    pub server: String,
    /// The tool's name on that server.
    pub original_name: String,
    /// The tool as the server describes it, with `name` set to the namespaced name
    /// (`server__tool`).
    pub tool: Tool,
}

/// Several named connections held at once.
///
/// Cheap to clone (clones share the registry). Calls to different servers run concurrently;
/// [`list_tools`](Self::list_tools) asks every server at the same time.
///
/// ```no_run
/// # async fn run() -> rune_client::Result<()> {
/// use rune_client::{Client, ClientPool, McpServers};
///
/// let config = McpServers::load(".mcp.json")?;
/// let (pool, failures) = ClientPool::connect_all(&config, Client::builder()).await;
/// for (server, e) in failures {
///     eprintln!("{server}: {e}");
/// }
/// for t in pool.list_tools().await? {
///     println!("{} ({})", t.tool.name, t.server);
/// }
/// let r = pool.call_tool("files__read_text_file", serde_json::json!({"path": "README.md"})).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientPool {
    clients: Arc<RwLock<BTreeMap<String, Client>>>,
    separator: Arc<str>,
}

impl fmt::Debug for ClientPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientPool")
            .field("servers", &self.names())
            .field("separator", &self.separator)
            .finish()
    }
}

impl Default for ClientPool {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientPool {
    /// An empty pool with the separator `__`.
    pub fn new() -> Self {
        Self::with_separator(DEFAULT_SEPARATOR)
    }

    /// An empty pool whose namespaced names are `server{separator}tool`.
    pub fn with_separator(separator: &str) -> Self {
        ClientPool {
            clients: Arc::new(RwLock::new(BTreeMap::new())),
            separator: separator.into(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Client>> {
        self.clients.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Client>> {
        self.clients.write().unwrap_or_else(|e| e.into_inner())
    }

    fn check_name(&self, name: &str) -> Result<(), Error> {
        if name.is_empty() || name.contains(&*self.separator) {
            return Err(Error::InvalidTarget(
                format!(
                    "server name {name:?}: must be non-empty and not contain {:?}",
                    self.separator
                )
                .into(),
            ));
        }
        Ok(())
    }

    /// Adds a connection under `name`; gives back the one it replaces, if any (still open).
    pub fn insert(&self, name: &str, client: Client) -> Result<Option<Client>, Error> {
        self.check_name(name)?;
        Ok(self.write().insert(name.to_owned(), client))
    }

    /// Connects to a configured server and adds it under `name` (a connection it replaces is
    /// closed).
    pub async fn connect(
        &self,
        name: &str,
        config: &ServerConfig,
        builder: ClientBuilder,
    ) -> Result<Client, Error> {
        self.check_name(name)?;
        let client = builder
            .connect_server(config)
            .await
            .map_err(|e| Error::server(name, e))?;
        if let Some(old) = self.insert(name, client.clone())? {
            old.close().await;
        }
        Ok(client)
    }

    /// Connects to every server of a configuration at once. The pool holds those that
    /// answered; the others (and the entries the configuration could not read) are returned
    /// with their errors, sorted by name.
    pub async fn connect_all(
        config: &McpServers,
        builder: ClientBuilder,
    ) -> (ClientPool, Vec<(String, Error)>) {
        let pool = ClientPool::new();
        let attempts = config.servers.iter().map(|(name, server)| {
            let pool = pool.clone();
            let builder = builder.clone();
            async move { (name.clone(), pool.connect(name, server, builder).await) }
        });
        let mut failures: Vec<(String, Error)> = config
            .errors
            .iter()
            .map(|(name, why)| {
                let e = Error::InvalidTarget(why.as_str().into());
                (name.clone(), Error::server(name, e))
            })
            .collect();
        failures.extend(
            join_all(attempts)
                .await
                .into_iter()
                .filter_map(|(name, r)| r.err().map(|e| (name, e))),
        );
        failures.sort_by(|a, b| a.0.cmp(&b.0));
        (pool, failures)
    }

    /// The connection called `name`.
    pub fn get(&self, name: &str) -> Option<Client> {
        self.read().get(name).cloned()
    }

    /// The servers' names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// How many servers the pool holds.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the pool holds no server.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Removes `name` and closes its connection; false if there was none.
    pub async fn remove(&self, name: &str) -> bool {
        let client = self.write().remove(name);
        match client {
            Some(c) => {
                c.close().await;
                true
            }
            None => false,
        }
    }

    /// Closes every connection and empties the pool.
    pub async fn close(&self) {
        let clients = std::mem::take(&mut *self.write());
        join_all(clients.into_values().map(Client::close)).await;
    }

    /// `server{separator}tool`.
    pub fn qualified_name(&self, server: &str, tool: &str) -> String {
        format!("{server}{}{tool}", self.separator)
    }

    /// Splits a namespaced name into the server's and the tool's (at the first separator:
    /// server names cannot hold it, tool names may).
    pub fn split_name<'a>(&self, qualified: &'a str) -> Option<(&'a str, &'a str)> {
        qualified
            .split_once(&*self.separator)
            .filter(|(s, t)| !s.is_empty() && !t.is_empty())
    }

    /// Every server's tools, asked at the same time, each server's list complete (every
    /// page) or its error.
    pub async fn list_tools_by_server(&self) -> Vec<(String, Result<Vec<Tool>, Error>)> {
        let clients: Vec<(String, Client)> = self
            .read()
            .iter()
            .map(|(n, c)| (n.clone(), c.clone()))
            .collect();
        join_all(
            clients
                .into_iter()
                .map(|(name, client)| async move { (name, client.list_tools().await) }),
        )
        .await
    }

    /// Every tool of every server under its namespaced name, sorted by server. Fails if one
    /// server fails (the error names it); see [`list_tools_by_server`](Self::list_tools_by_server)
    /// to go on without it.
    pub async fn list_tools(&self) -> Result<Vec<PoolTool>, Error> {
        let mut out = Vec::new();
        for (server, tools) in self.list_tools_by_server().await {
            let tools = tools.map_err(|e| Error::server(&server, e))?;
            out.extend(tools.into_iter().map(|mut tool| {
                let original_name = std::mem::take(&mut tool.name);
                tool.name = self.qualified_name(&server, &original_name);
                PoolTool {
                    server: server.clone(),
                    original_name,
                    tool,
                }
            }));
        }
        Ok(out)
    }

    /// The connection and the tool's own name behind a namespaced name.
    pub fn route<'a>(&self, qualified: &'a str) -> Result<(Client, &'a str), Error> {
        let Some((server, tool)) = self.split_name(qualified) else {
            return Err(Error::InvalidTarget(
                format!("tool {qualified:?}: expected server{}tool", self.separator).into(),
            ));
        };
        match self.get(server) {
            Some(c) => Ok((c, tool)),
            None => Err(Error::InvalidTarget(
                format!("tool {qualified:?}: no server {server:?} in the pool").into(),
            )),
        }
    }

    /// Calls a tool by its namespaced name on the server it belongs to.
    pub async fn call_tool(
        &self,
        qualified: &str,
        arguments: impl Serialize,
    ) -> Result<CallToolResult, Error> {
        let (client, tool) = self.route(qualified)?;
        let server = qualified[..qualified.len() - tool.len() - self.separator.len()].to_owned();
        client
            .call_tool(tool, arguments)
            .await
            .map_err(|e| Error::server(&server, e))
    }

    /// [`call_tool`](Self::call_tool) with full params (whose `name` is the namespaced one)
    /// and options.
    pub async fn call_tool_with(
        &self,
        params: &CallToolParams,
        options: CallOptions,
    ) -> Result<CallToolResult, Error> {
        let (client, tool) = self.route(&params.name)?;
        let server =
            params.name[..params.name.len() - tool.len() - self.separator.len()].to_owned();
        let mut p = params.clone();
        p.name = tool.to_owned();
        client
            .call_tool_with(&p, options)
            .await
            .map_err(|e| Error::server(&server, e))
    }
}
