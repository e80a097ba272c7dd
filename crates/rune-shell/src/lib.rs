//! The sandboxed `shell_exec` tool.
