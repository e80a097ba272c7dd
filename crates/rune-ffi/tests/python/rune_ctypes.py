"""librune.so from Python's ctypes: connect to `rune mcp-server` over stdio and read a file.

    python3 rune_ctypes.py LIBRUNE RUNE_BINARY ROOT_DIR FILE_NAME EXPECTED_TEXT

Exits 0 when the file's text came back through rune_client_call_tool("file_read"), and
checks on the way that errors come back as status codes with a message (never a crash).
tests/python.rs runs it.
"""

import ctypes
import json
import shlex
import sys

RUNE_OK = 0
RUNE_ERROR_NULL_POINTER = 1
RUNE_ERROR_INVALID_JSON = 3
RUNE_ERROR_INVALID_HANDLE = 5
RUNE_ERROR_RPC = 9


def load(path):
    lib = ctypes.CDLL(path)
    handle = ctypes.c_void_p
    out_str = ctypes.POINTER(ctypes.c_void_p)  # char **: kept as void* to free it ourselves
    lib.rune_version.restype = ctypes.c_char_p
    lib.rune_last_error.restype = ctypes.c_char_p
    lib.rune_status_name.restype = ctypes.c_char_p
    lib.rune_status_name.argtypes = [ctypes.c_int]
    lib.rune_client_create.restype = ctypes.c_int
    lib.rune_client_create.argtypes = [ctypes.c_char_p, ctypes.POINTER(handle)]
    lib.rune_client_call_tool.restype = ctypes.c_int
    lib.rune_client_call_tool.argtypes = [handle, ctypes.c_char_p, ctypes.c_char_p, out_str]
    lib.rune_client_list_tools.restype = ctypes.c_int
    lib.rune_client_list_tools.argtypes = [handle, out_str]
    lib.rune_client_destroy.restype = ctypes.c_int
    lib.rune_client_destroy.argtypes = [handle]
    lib.rune_string_free.restype = None
    lib.rune_string_free.argtypes = [ctypes.c_void_p]
    return lib


def take_string(lib, ptr):
    """Copies a string Rune returned into Python, then frees Rune's copy."""
    try:
        return ctypes.string_at(ptr.value).decode("utf-8")
    finally:
        lib.rune_string_free(ptr)


def check(lib, status, expected, what):
    if status != expected:
        name = lib.rune_status_name(status).decode()
        want = lib.rune_status_name(expected).decode()
        err = lib.rune_last_error().decode("utf-8", "replace")
        raise SystemExit(f"{what}: {name}, expected {want} ({err})")


def main():
    lib_path, rune_bin, root, file_name, expected = sys.argv[1:6]
    lib = load(lib_path)
    print("Rune", lib.rune_version().decode())

    client = ctypes.c_void_p()
    url = "stdio:" + shlex.join([rune_bin, "mcp-server", "--root", root, "--no-audit"])
    check(lib, lib.rune_client_create(url.encode(), ctypes.byref(client)), RUNE_OK, "create")

    out = ctypes.c_void_p()
    check(lib, lib.rune_client_list_tools(client, ctypes.byref(out)), RUNE_OK, "list_tools")
    names = [t["name"] for t in json.loads(take_string(lib, out))]
    if "file_read" not in names:
        raise SystemExit(f"file_read is not among the tools: {names}")

    params = json.dumps({"path": file_name}).encode()
    check(lib, lib.rune_client_call_tool(client, b"file_read", params, ctypes.byref(out)),
          RUNE_OK, "file_read")
    result = json.loads(take_string(lib, out))
    text = "".join(c.get("text", "") for c in result["content"])
    if result.get("isError") or expected not in text:
        raise SystemExit(f"file_read did not return the file: {result}")

    # Errors are codes and messages, not crashes.
    check(lib, lib.rune_client_call_tool(client, b"file_read", b"{not json", ctypes.byref(out)),
          RUNE_ERROR_INVALID_JSON, "invalid JSON")
    if out.value is not None:
        raise SystemExit("the out-parameter was not cleared on failure")
    check(lib, lib.rune_client_call_tool(client, b"no_such_tool", b"{}", ctypes.byref(out)),
          RUNE_ERROR_RPC, "unknown tool")
    check(lib, lib.rune_client_call_tool(client, None, b"{}", ctypes.byref(out)),
          RUNE_ERROR_NULL_POINTER, "NULL tool")

    check(lib, lib.rune_client_destroy(client), RUNE_OK, "destroy")
    check(lib, lib.rune_client_destroy(client), RUNE_ERROR_INVALID_HANDLE, "destroy twice")
    print("python ctypes: file_read through librune ok")


if __name__ == "__main__":
    main()
