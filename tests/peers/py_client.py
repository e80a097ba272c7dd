#!/usr/bin/env python3
"""Drive an MCP server over stdio with the official Python SDK client (PyPI `mcp`).

Usage:
    py_client.py --mode legacy|2026-07-28|auto --scenario list|fixture|echo|files|consent|listen \
        [--timeout SECONDS] [--deadline SECONDS] [--log-level LEVEL] -- <server command> [args...]

Prints exactly one JSON object on stdout describing what was observed. Exit codes:
    0  every step succeeded (a tool result with isError=true is a success: it is reported, not judged)
    1  at least one step raised (the JSON is still printed; failing steps carry an "error" object)
    2  could not connect / negotiate (the JSON carries "error"), or the whole run hit --deadline
    64 bad command line
Diagnostics go to stderr, and so does the server's own stderr.

Run it with the interpreter of the venv made by scripts/install-test-peers.sh (RUNE_PEERS_PY).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from importlib.metadata import version as dist_version
from typing import Any

import anyio
import mcp_types as types
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

MODES = ("legacy", "2026-07-28", "auto")
SCENARIOS = ("list", "fixture", "echo", "files", "consent", "listen")

ELICIT_CONTENT = {"username": "ada", "email": "ada@example.com"}
SAMPLED_TEXT = "sampled answer"
SAMPLED_MODEL = "rune-peer-test-model"


def dump(obj: Any) -> Any:
    """Wire-shaped dict of a pydantic model; plain values pass through.

    camelCase, no nulls, and exclude_unset: fields the server did not send (e.g. a defaulted resultType or
    isError) are left out, so the dict stays close to what was on the wire.
    """
    if obj is None:
        return None
    if hasattr(obj, "model_dump"):
        return obj.model_dump(by_alias=True, exclude_none=True, exclude_unset=True, mode="json")
    if isinstance(obj, (list, tuple)):
        return [dump(o) for o in obj]
    if isinstance(obj, dict):
        return {k: dump(v) for k, v in obj.items()}
    return obj


def error_dict(exc: BaseException) -> dict[str, Any]:
    # anyio task groups wrap the real failure (e.g. MCPError -32001 "timed out") in exception groups
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        out: dict[str, Any] = {"kind": "mcp", "code": exc.error.code, "message": exc.error.message}
        if exc.error.data is not None:
            out["data"] = dump(exc.error.data)
        return out
    if isinstance(exc, TimeoutError):
        return {"kind": "timeout", "message": str(exc) or "timed out"}
    return {"kind": type(exc).__name__, "message": str(exc)}


class Recorder:
    """Collects what the server sends back through callbacks."""

    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []
        self.elicitations: list[dict[str, Any]] = []
        self.samplings: list[dict[str, Any]] = []
        self.notifications: list[str] = []

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(dump(params))

    async def on_elicit(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.elicitations.append(dump(params))
        return types.ElicitResult(action="accept", content=dict(ELICIT_CONTENT))

    async def on_sample(self, context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.samplings.append(dump(params))
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=SAMPLED_TEXT),
            model=SAMPLED_MODEL,
            stop_reason="endTurn",
        )

    async def on_message(self, message: Any) -> None:
        # Every server notification the session surfaces (and transport exceptions).
        if isinstance(message, Exception):
            self.notifications.append(f"exception: {type(message).__name__}: {message}")
            return
        method = getattr(getattr(message, "root", message), "method", None)
        self.notifications.append(str(method or type(message).__name__))


def texts_of(result: Any) -> list[str]:
    return [c.text for c in getattr(result, "content", []) or [] if getattr(c, "type", None) == "text"]


class Run:
    def __init__(self, client: Client, rec: Recorder, out: dict[str, Any], caps_known: bool) -> None:
        self.client = client
        # False with --mode 2026-07-28: the client adopts the version without any discovery, so the
        # server's capabilities are unknown and every list / completion is simply attempted.
        self.caps_known = caps_known
        self.rec = rec
        self.out = out
        self.failed: list[str] = []

    async def step(self, key: str, coro_fn, section: str = "steps") -> Any:
        """Run one step; record its value or its error under out[section][key]."""
        started = time.monotonic()
        try:
            value = await coro_fn()
        except Exception as exc:  # recorded, run continues
            self.failed.append(key)
            print(f"py_client: step {key!r} failed: {exc!r}", file=sys.stderr)
            self.out.setdefault(section, {})[key] = {"error": error_dict(exc)}
            return None
        entry = value if isinstance(value, dict) else {"value": value}
        entry.setdefault("elapsed_ms", round((time.monotonic() - started) * 1000))
        self.out.setdefault(section, {})[key] = entry
        return value

    # -- listing -----------------------------------------------------------------------
    def advertised(self, feature: str) -> bool:
        return not self.caps_known or getattr(self.client.server_capabilities, feature) is not None

    async def do_list(self, full: bool) -> None:
        c = self.client
        if self.advertised("tools"):
            async def tools():
                r = await c.list_tools()
                self.out["tools"] = [t.name for t in r.tools]
                return {"result": dump(r)} if full else {"count": len(r.tools)}
            await self.step("tools/list", tools, "lists")
        if self.advertised("resources"):
            async def resources():
                r = await c.list_resources()
                self.out["resources"] = [x.uri for x in r.resources]
                self.out["resource_names"] = [x.name for x in r.resources]
                return {"result": dump(r)} if full else {"count": len(r.resources)}

            async def templates():
                r = await c.list_resource_templates()
                self.out["resource_templates"] = [x.uri_template for x in r.resource_templates]
                return {"result": dump(r)} if full else {"count": len(r.resource_templates)}
            await self.step("resources/list", resources, "lists")
            await self.step("resources/templates/list", templates, "lists")
        if self.advertised("prompts"):
            async def prompts():
                r = await c.list_prompts()
                self.out["prompts"] = [p.name for p in r.prompts]
                return {"result": dump(r)} if full else {"count": len(r.prompts)}
            await self.step("prompts/list", prompts, "lists")

    # -- tools -------------------------------------------------------------------------
    async def call(self, name: str, args: dict[str, Any] | None = None, *, progress: bool = False) -> None:
        c = self.client
        progress_seen: list[dict[str, Any]] = []

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            item: dict[str, Any] = {"progress": p}
            if total is not None:
                item["total"] = total
            if message is not None:
                item["message"] = message
            progress_seen.append(item)

        async def run():
            logs_before = len(self.rec.logs)
            el_before = len(self.rec.elicitations)
            sa_before = len(self.rec.samplings)
            t0 = time.monotonic()
            r = await c.call_tool(name, args or {}, progress_callback=on_progress if progress else None)
            elapsed = round((time.monotonic() - t0) * 1000)
            await anyio.sleep(0.05)  # let notifications queued just before the response be delivered
            entry: dict[str, Any] = {
                "elapsed_ms": elapsed,
                "result": dump(r),
                "is_error": bool(r.is_error),
                "texts": texts_of(r),
            }
            if progress:
                entry["progress"] = progress_seen
            if len(self.rec.logs) > logs_before:
                entry["logs"] = self.rec.logs[logs_before:]
            if len(self.rec.elicitations) > el_before:
                entry["elicitation_requests"] = self.rec.elicitations[el_before:]
            if len(self.rec.samplings) > sa_before:
                entry["sampling_requests"] = self.rec.samplings[sa_before:]
            return entry

        await self.step(name, run, "tool_calls")

    async def read(self, uri: str) -> None:
        async def run():
            r = await self.client.read_resource(uri)
            return {"result": dump(r)}
        await self.step(uri, run, "resource_reads")

    async def prompt(self, name: str, args: dict[str, str] | None = None) -> None:
        async def run():
            r = await self.client.get_prompt(name, args)
            return {"result": dump(r)}
        await self.step(name, run, "prompt_gets")

    # -- scenarios ---------------------------------------------------------------------
    async def scenario_list(self) -> None:
        await self.do_list(full=True)

    async def scenario_echo(self) -> None:
        await self.call("echo", {"message": "hello from python"})

    async def scenario_files(self) -> None:
        # Rune's built-in file tools, with the server's root as the working directory.
        await self.call("file_read", {"path": "README.md", "head": 1})
        await self.call("list_directory", {"path": "."})
        await self.call("file_info", {"path": "/etc/hostname"})

    async def scenario_consent(self) -> None:
        # A writing tool of `rune mcp-server` asks the user first (elicitation, or an
        # input_required round trip in 2026-07-28); this client's callback accepts.
        await self.call("file_write", {"path": "consent.txt", "content": "approved\n"})
        await self.call("file_read", {"path": "consent.txt"})

    async def scenario_listen(self) -> None:
        """2026-07-28: a `subscriptions/listen` stream sees the changes `test_trigger_changes`
        makes on the fixture server (a tool added, test://static-text updated)."""
        from mcp.client.subscriptions import ResourceUpdated

        c = self.client

        async def run():
            events: list[str] = []
            async with c.listen(tools_list_changed=True, resource_subscriptions=["test://static-text"]) as sub:
                honored = dump(sub.honored)
                await c.call_tool("test_trigger_changes", {})
                with anyio.fail_after(10):
                    async for event in sub:
                        name = type(event).__name__
                        events.append(f"{name}:{event.uri}" if isinstance(event, ResourceUpdated) else name)
                        if len(events) >= 2:
                            break
            return {"honored": honored, "events": sorted(events)}

        await self.step("subscriptions/listen", run)

    async def scenario_fixture(self) -> None:
        await self.do_list(full=False)
        await self.call("test_simple_text")
        await self.call("test_image_content")
        await self.call("test_embedded_resource")
        await self.call("test_error_handling")
        await self.call("test_tool_with_progress", progress=True)
        await self.call("test_tool_with_logging")
        await self.call("test_elicitation", {"message": "Please provide your username and email"})
        await self.call("test_sampling", {"prompt": "What is the capital of France?"})
        if "test_param_headers" in self.out.get("tools", []):
            # Over HTTP in 2026-07-28 the SDK mirrors both into Mcp-Param-* headers (the
            # region in base64: it is not ASCII).
            await self.call("test_param_headers", {"region": "zürich", "limit": 3})
        await self.read("test://static-text")
        await self.read("test://static-binary")
        await self.read("test://template/42/data")
        await self.prompt("test_simple_prompt")
        await self.prompt("test_prompt_with_arguments", {"arg1": "a", "arg2": "b"})
        if self.advertised("completions"):
            async def complete():
                r = await self.client.complete(
                    types.PromptReference(type="ref/prompt", name="test_prompt_with_arguments"),
                    {"name": "arg1", "value": "a"},
                )
                return {"result": dump(r), "values": list(r.completion.values)}
            await self.step("completion/complete", complete)
        else:
            self.out["steps"] = {**self.out.get("steps", {}), "completion/complete": {"skipped": "not advertised"}}


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        print("usage: py_client.py --mode MODE --scenario NAME [options] -- <server command> [args...]", file=sys.stderr)
        sys.exit(64)
    cut = argv.index("--")
    own, server = argv[:cut], argv[cut + 1 :]
    p = argparse.ArgumentParser(prog="py_client.py")
    p.add_argument("--mode", choices=MODES, required=True)
    p.add_argument("--scenario", choices=SCENARIOS, required=True)
    p.add_argument("--timeout", type=float, default=30.0, help="per-request read timeout, seconds (default 30)")
    p.add_argument("--deadline", type=float, default=120.0, help="whole-run limit, seconds (default 120)")
    p.add_argument(
        "--log-level",
        default="debug",
        help="2026-07-28 only: logLevel stamped on every request (default debug; 'none' to opt out)",
    )
    p.add_argument("--cwd", default=None, help="working directory for the server process")
    args = p.parse_args(own)
    if not server:
        p.error("missing server command after --")
    return args, server


async def amain(args: argparse.Namespace, server: list[str]) -> int:
    rec = Recorder()
    out: dict[str, Any] = {
        "peer": "python-sdk",
        "sdk_version": dist_version("mcp"),
        "mode": args.mode,
        "scenario": args.scenario,
        "server_command": server,
    }
    # A URL as the server means Streamable HTTP; anything else is a command to run over stdio.
    if server[0].startswith(("http://", "https://")):
        params = server[0]
    else:
        params = StdioServerParameters(command=server[0], args=server[1:], env=dict(os.environ), cwd=args.cwd)
    client = Client(
        params,
        mode=args.mode,
        read_timeout_seconds=args.timeout,
        elicitation_callback=rec.on_elicit,
        sampling_callback=rec.on_sample,
        logging_callback=rec.on_log,
        message_handler=rec.on_message,
        log_level=None if args.log_level == "none" else args.log_level,
        client_info=types.Implementation(name="rune-peer-py-client", version=dist_version("mcp")),
    )
    code = 0
    try:
        with anyio.fail_after(args.deadline):
            started = time.monotonic()
            try:
                await client.__aenter__()
            except BaseException as exc:
                out["ok"] = False
                if isinstance(exc, anyio.get_cancelled_exc_class()):
                    out["error"] = {"stage": "connect", "kind": "timeout", "message": f"run exceeded {args.deadline}s"}
                else:
                    out["error"] = {"stage": "connect", **error_dict(exc)}
                print(f"py_client: connect failed: {exc!r}", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
                return finish(out, 2)
            try:
                session = client.session
                out["connect_ms"] = round((time.monotonic() - started) * 1000)
                out["protocol_version"] = client.protocol_version
                out["era"] = "modern" if session.discover_result is not None else "legacy"
                info = client.server_info
                out["server_info"] = dump(info)
                out["server_name"] = info.name if info else None
                out["server_capabilities"] = (
                    None if args.mode not in ("legacy", "auto") else dump(client.server_capabilities)
                )
                if args.mode in ("legacy", "auto") and session.discover_result is not None:
                    out["supported_versions"] = list(session.discover_result.supported_versions)
                if client.instructions:
                    out["instructions"] = client.instructions
                pinned = args.mode not in ("legacy", "auto")
                run = Run(client, rec, out, caps_known=not pinned)
                await getattr(run, f"scenario_{args.scenario}")()
                if pinned:
                    # Informational only: what the server would have said to a probe. Never fails the run.
                    try:
                        raw = await session.send_discover(args.mode)
                        out["discover_after"] = raw
                        stamp = (raw.get("_meta") or {}).get("io.modelcontextprotocol/serverInfo")
                        if isinstance(stamp, dict) and out.get("server_name") is None:
                            out["server_info"] = stamp
                            out["server_name"] = stamp.get("name")
                    except Exception as exc:
                        out["discover_after"] = {"error": error_dict(exc)}
                if run.failed:
                    out["failed_steps"] = run.failed
                    code = 1
            finally:
                await client.__aexit__(None, None, None)
    except TimeoutError:
        out["error"] = {"stage": "deadline", "kind": "timeout", "message": f"run exceeded {args.deadline}s"}
        print(f"py_client: run exceeded --deadline {args.deadline}s", file=sys.stderr)
        code = 2
    out["log_messages"] = rec.logs
    out["notifications"] = rec.notifications
    out["ok"] = code == 0
    return finish(out, code)


def finish(out: dict[str, Any], code: int) -> int:
    sys.stdout.write(json.dumps(out, sort_keys=False) + "\n")
    sys.stdout.flush()
    return code


def main() -> None:
    args, server = parse_args(sys.argv[1:])
    sys.exit(anyio.run(amain, args, server))


if __name__ == "__main__":
    main()
