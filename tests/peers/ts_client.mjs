#!/usr/bin/env node
// Drive an MCP server over stdio with the official TypeScript SDK client (npm @modelcontextprotocol/sdk 1.x).
//
// Usage:
//   node ts_client.mjs [--version 2025-11-25|2025-06-18|2025-03-26|2024-11-05] --scenario list|fixture|echo|files
//                      [--timeout SECONDS] [--deadline SECONDS] [--log-level LEVEL] [--trace] -- <server command> [args...]
//
// The SDK is loaded from $RUNE_PEERS_NODE_MODULES (printed by scripts/install-test-peers.sh), falling back to
// ${RUNE_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rune-peers}/npm/node_modules. Never from a repo-local node_modules.
//
// SDK 1.x always sends initialize with its LATEST_PROTOCOL_VERSION (2025-11-25) and has no option to change it;
// --version rewrites params.protocolVersion of the outgoing initialize request in a transport wrapper, so the
// server sees a genuine older-version handshake. The SDK then accepts any version in its supported list.
//
// Prints exactly one JSON object on stdout. Exit codes: 0 all steps succeeded (isError results are reported,
// not judged); 1 some step threw (JSON still printed, failing steps carry "error"); 2 connect failure or
// --deadline hit; 64 bad command line. Diagnostics and the server's stderr go to stderr.

import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { homedir } from 'node:os';

const VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];
const SCENARIOS = ['list', 'fixture', 'echo', 'files'];
const ELICIT_CONTENT = { username: 'ada', email: 'ada@example.com' };
const SAMPLED_TEXT = 'sampled answer';
const SAMPLED_MODEL = 'rune-peer-test-model';

function usage(msg) {
  if (msg) process.stderr.write(`ts_client: ${msg}\n`);
  process.stderr.write(
    'usage: ts_client.mjs [--version V] --scenario list|fixture|echo|files [--timeout S] [--deadline S] ' +
      '[--log-level L] [--trace] -- <server command> [args...]\n',
  );
  process.exit(64);
}

function parseArgs(argv) {
  const cut = argv.indexOf('--');
  if (cut < 0) usage('missing -- before the server command');
  const own = argv.slice(0, cut);
  const server = argv.slice(cut + 1);
  if (server.length === 0) usage('missing server command after --');
  const opts = { version: null, scenario: null, timeout: 30, deadline: 120, logLevel: null, trace: false, cwd: undefined };
  for (let i = 0; i < own.length; i++) {
    const a = own[i];
    const val = () => {
      if (i + 1 >= own.length) usage(`${a} needs a value`);
      return own[++i];
    };
    if (a === '--version') opts.version = val();
    else if (a === '--scenario') opts.scenario = val();
    else if (a === '--timeout') opts.timeout = Number(val());
    else if (a === '--deadline') opts.deadline = Number(val());
    else if (a === '--log-level') opts.logLevel = val();
    else if (a === '--cwd') opts.cwd = val();
    else if (a === '--trace') opts.trace = true;
    else usage(`unknown option ${a}`);
  }
  if (!SCENARIOS.includes(opts.scenario)) usage(`--scenario must be one of ${SCENARIOS.join(', ')}`);
  if (opts.version !== null && !VERSIONS.includes(opts.version)) usage(`--version must be one of ${VERSIONS.join(', ')}`);
  if (!(opts.timeout > 0) || !(opts.deadline > 0)) usage('--timeout and --deadline must be positive numbers');
  return { opts, server };
}

function nodeModulesDir() {
  if (process.env.RUNE_PEERS_NODE_MODULES) return process.env.RUNE_PEERS_NODE_MODULES;
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const base = process.env.RUNE_PEERS_DIR || join(cache, 'rune-peers');
  return join(base, 'npm', 'node_modules');
}

function loadSdk() {
  const nm = nodeModulesDir();
  const pkgDir = join(nm, '@modelcontextprotocol', 'sdk');
  if (!existsSync(join(pkgDir, 'package.json'))) {
    process.stderr.write(
      `ts_client: @modelcontextprotocol/sdk not found under ${nm}; run scripts/install-test-peers.sh ` +
        'and set RUNE_PEERS_NODE_MODULES\n',
    );
    process.exit(2);
  }
  // Resolve through the package's own "exports" map from inside the prefix. All modules come from one build
  // (the CommonJS one), so the zod schemas used by Client and by our handlers are the same instances.
  const req = createRequire(join(nm, '__rune_peers_resolver__.js'));
  return {
    // (not via require: the package's "./*" export maps package.json to dist/cjs/package.json)
    version: JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version,
    ...req('@modelcontextprotocol/sdk/client/index.js'),
    ...req('@modelcontextprotocol/sdk/client/stdio.js'),
    ...req('@modelcontextprotocol/sdk/client/streamableHttp.js'),
    ...req('@modelcontextprotocol/sdk/client/sse.js'),
    types: req('@modelcontextprotocol/sdk/types.js'),
  };
}

// A Transport wrapper: optionally pins the initialize version, records the negotiated version, and traces.
class ObservingTransport {
  constructor(inner, { pinVersion, trace }) {
    this.inner = inner;
    this.pinVersion = pinVersion;
    this.traceLog = trace ? [] : null;
    this.initializeId = undefined;
    this.negotiated = undefined;
    this.progressSeen = []; // every notifications/progress params as received on the wire
    this.onclose = undefined;
    this.onerror = undefined;
    this.onmessage = undefined;
    inner.onclose = () => this.onclose?.();
    inner.onerror = (e) => this.onerror?.(e);
    inner.onmessage = (msg, extra) => {
      if (this.traceLog) this.traceLog.push({ dir: 'recv', msg });
      if (msg && msg.method === 'notifications/progress') this.progressSeen.push(msg.params);
      if (msg && msg.id !== undefined && msg.id === this.initializeId && msg.result) {
        this.negotiated = msg.result.protocolVersion;
      }
      this.onmessage?.(msg, extra);
    };
  }
  get sessionId() {
    return this.inner.sessionId;
  }
  async start() {
    return this.inner.start();
  }
  async close() {
    return this.inner.close();
  }
  setProtocolVersion(v) {
    this.inner.setProtocolVersion?.(v);
  }
  async send(msg, options) {
    if (msg && msg.method === 'initialize') {
      this.initializeId = msg.id;
      if (this.pinVersion) msg = { ...msg, params: { ...msg.params, protocolVersion: this.pinVersion } };
    }
    if (this.traceLog) this.traceLog.push({ dir: 'send', msg });
    return this.inner.send(msg, options);
  }
}

function errorDict(e) {
  if (e && typeof e.code === 'number') {
    // McpError prefixes "MCP error <code>: " to the server's message; report the server's message alone
    const out = { kind: 'mcp', code: e.code, message: String(e.message).replace(/^MCP error -?\d+: /, '') };
    if (e.data !== undefined) out.data = e.data;
    return out;
  }
  return { kind: e?.name ?? typeof e, message: String(e?.message ?? e) };
}

const textsOf = (r) => (r?.content ?? []).filter((c) => c.type === 'text').map((c) => c.text);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const { opts, server } = parseArgs(process.argv.slice(2));
  const sdk = loadSdk();
  const { Client, StdioClientTransport, StreamableHTTPClientTransport, SSEClientTransport, types } = sdk;
  const out = {
    peer: 'typescript-sdk',
    sdk_version: sdk.version,
    requested_version: opts.version ?? types.LATEST_PROTOCOL_VERSION,
    version_pinned: opts.version !== null,
    scenario: opts.scenario,
    server_command: server,
  };
  const logs = [];
  const elicitations = [];
  const samplings = [];
  const notifications = [];
  const failed = [];

  const client = new Client(
    { name: 'rune-peer-ts-client', version: sdk.version },
    { capabilities: { elicitation: { form: {} }, sampling: {} } },
  );
  client.setRequestHandler(types.ElicitRequestSchema, async (req) => {
    elicitations.push(req.params);
    return { action: 'accept', content: { ...ELICIT_CONTENT } };
  });
  client.setRequestHandler(types.CreateMessageRequestSchema, async (req) => {
    samplings.push(req.params);
    return {
      role: 'assistant',
      content: { type: 'text', text: SAMPLED_TEXT },
      model: SAMPLED_MODEL,
      stopReason: 'endTurn',
    };
  });
  client.setNotificationHandler(types.LoggingMessageNotificationSchema, async (n) => {
    logs.push(n.params);
  });
  const clientErrors = [];
  client.onerror = (e) => {
    clientErrors.push(String(e?.message ?? e));
  };
  client.fallbackNotificationHandler = async (n) => {
    notifications.push(n.method);
  };

  // A URL as the server means Streamable HTTP (or the legacy HTTP+SSE transport when its path
  // ends in /sse); anything else is a command to run over stdio.
  const isUrl = /^https?:\/\//.test(server[0]);
  const inner = isUrl && /\/sse$/.test(new URL(server[0]).pathname)
    ? new SSEClientTransport(new URL(server[0]))
    : isUrl
    ? new StreamableHTTPClientTransport(new URL(server[0]))
    : new StdioClientTransport({
        command: server[0],
        args: server.slice(1),
        env: { ...process.env },
        stderr: 'inherit',
        cwd: opts.cwd,
      });
  const transport = new ObservingTransport(inner, { pinVersion: opts.version, trace: opts.trace });
  const reqOpts = { timeout: opts.timeout * 1000 };

  let finished = false;
  const finish = async (code) => {
    if (finished) return; // the --deadline timer and the normal path must not both print
    finished = true;
    out.log_messages = logs;
    out.other_notifications = notifications;
    if (clientErrors.length) out.client_errors = clientErrors; // errors the SDK reported via Client.onerror // notifications with no dedicated handler (not progress or logging)
    if (transport.traceLog) out.trace = transport.traceLog;
    out.ok = code === 0;
    try {
      await client.close();
    } catch (e) {
      process.stderr.write(`ts_client: close failed: ${e}\n`);
    }
    process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(code));
  };

  const deadline = setTimeout(() => {
    out.error = { stage: 'deadline', kind: 'timeout', message: `run exceeded ${opts.deadline}s` };
    process.stderr.write(`ts_client: run exceeded --deadline ${opts.deadline}s\n`);
    finish(2);
  }, opts.deadline * 1000);

  const t0 = Date.now();
  try {
    await client.connect(transport, reqOpts);
  } catch (e) {
    out.error = { stage: 'connect', ...errorDict(e) };
    process.stderr.write(`ts_client: connect failed: ${e?.stack ?? e}\n`);
    clearTimeout(deadline);
    return finish(2);
  }
  out.connect_ms = Date.now() - t0;
  out.protocol_version = transport.negotiated ?? null;
  out.server_info = client.getServerVersion() ?? null;
  out.server_name = out.server_info?.name ?? null;
  out.server_capabilities = client.getServerCapabilities() ?? null;
  if (client.getInstructions()) out.instructions = client.getInstructions();
  const caps = out.server_capabilities ?? {};

  if (opts.logLevel) {
    // sent even when the server does not advertise `logging` (the Python SDK server logs without advertising it)
    await step('logging/setLevel', async () => {
      await client.setLoggingLevel(opts.logLevel, reqOpts);
      return { level: opts.logLevel };
    });
  }

  async function step(key, fn, section = 'steps') {
    const started = Date.now();
    try {
      const value = await fn();
      const entry = value && typeof value === 'object' && !Array.isArray(value) ? value : { value };
      if (entry.elapsed_ms === undefined) entry.elapsed_ms = Date.now() - started;
      (out[section] ??= {})[key] = entry;
      return value;
    } catch (e) {
      failed.push(key);
      process.stderr.write(`ts_client: step ${JSON.stringify(key)} failed: ${e?.message ?? e}\n`);
      (out[section] ??= {})[key] = { error: errorDict(e) };
      return undefined;
    }
  }

  async function doList(full) {
    const wrap = (r, n) => (full ? { result: r } : { count: n });
    if (caps.tools) {
      await step('tools/list', async () => {
        const r = await client.listTools({}, reqOpts);
        out.tools = r.tools.map((t) => t.name);
        return wrap(r, r.tools.length);
      }, 'lists');
    }
    if (caps.resources) {
      await step('resources/list', async () => {
        const r = await client.listResources({}, reqOpts);
        out.resources = r.resources.map((x) => x.uri);
        out.resource_names = r.resources.map((x) => x.name);
        return wrap(r, r.resources.length);
      }, 'lists');
      await step('resources/templates/list', async () => {
        const r = await client.listResourceTemplates({}, reqOpts);
        out.resource_templates = r.resourceTemplates.map((x) => x.uriTemplate);
        return wrap(r, r.resourceTemplates.length);
      }, 'lists');
    }
    if (caps.prompts) {
      await step('prompts/list', async () => {
        const r = await client.listPrompts({}, reqOpts);
        out.prompts = r.prompts.map((p) => p.name);
        return wrap(r, r.prompts.length);
      }, 'lists');
    }
  }

  async function call(name, args = {}, { progress = false } = {}) {
    const seen = [];
    await step(name, async () => {
      const [l0, e0, s0, p0] = [logs.length, elicitations.length, samplings.length, transport.progressSeen.length];
      const options = { ...reqOpts };
      if (progress) options.onprogress = (p) => seen.push(p);
      const t = Date.now();
      const r = await client.callTool({ name, arguments: args }, types.CallToolResultSchema, options);
      const elapsed = Date.now() - t;
      await sleep(50); // let notifications sent just before the response be handled
      const entry = { elapsed_ms: elapsed, result: r, is_error: r.isError === true, texts: textsOf(r) };
      if (progress) {
        entry.progress = seen; // what the SDK delivered to onprogress
        // what arrived on the wire: SDK 1.32.2 runs notification handlers a microtask late, so progress read in
        // the same chunk as the response finds its handler already removed ("unknown token" in client_errors)
        entry.progress_wire = transport.progressSeen.slice(p0);
      }
      if (logs.length > l0) entry.logs = logs.slice(l0);
      if (elicitations.length > e0) entry.elicitation_requests = elicitations.slice(e0);
      if (samplings.length > s0) entry.sampling_requests = samplings.slice(s0);
      return entry;
    }, 'tool_calls');
  }

  const read = (uri) => step(uri, async () => ({ result: await client.readResource({ uri }, reqOpts) }), 'resource_reads');
  const prompt = (name, args) =>
    step(name, async () => ({ result: await client.getPrompt({ name, arguments: args }, reqOpts) }), 'prompt_gets');

  if (opts.scenario === 'list') {
    await doList(true);
  } else if (opts.scenario === 'echo') {
    await call('echo', { message: 'hello from typescript' });
  } else if (opts.scenario === 'files') {
    // Rune's built-in file tools, with the server's root as the working directory.
    await call('file_read', { path: 'README.md', head: 1 });
    await call('list_directory', { path: '.' });
    await call('file_info', { path: '/etc/hostname' });
  } else if (opts.scenario === 'fixture') {
    await doList(false);
    await call('test_simple_text');
    await call('test_image_content');
    await call('test_embedded_resource');
    await call('test_error_handling');
    await call('test_tool_with_progress', {}, { progress: true });
    await call('test_tool_with_logging');
    await call('test_elicitation', { message: 'Please provide your username and email' });
    await call('test_sampling', { prompt: 'What is the capital of France?' });
    await read('test://static-text');
    await read('test://static-binary');
    await read('test://template/42/data');
    await prompt('test_simple_prompt');
    await prompt('test_prompt_with_arguments', { arg1: 'a', arg2: 'b' });
    if (caps.completions) {
      await step('completion/complete', async () => {
        const r = await client.complete(
          { ref: { type: 'ref/prompt', name: 'test_prompt_with_arguments' }, argument: { name: 'arg1', value: 'a' } },
          reqOpts,
        );
        return { result: r, values: r.completion.values };
      });
    } else {
      (out.steps ??= {})['completion/complete'] = { skipped: 'not advertised' };
    }
  }
  clearTimeout(deadline);
  if (failed.length) out.failed_steps = failed;
  return finish(failed.length ? 1 : 0);
}

main().catch((e) => {
  process.stderr.write(`ts_client: ${e?.stack ?? e}\n`);
  process.exit(2);
});
