//! The stdio transport: newline-delimited JSON on stdin and stdout.
//!
//! When stdin and stdout are pipes or sockets (how every MCP client starts a server), they are
//! put in non-blocking mode and driven by the runtime's event loop directly: a read or a
//! write is one system call, with no hop through a blocking thread pool. Other kinds (a file,
//! a terminal) fall back to tokio's blocking stdio. Nothing else may write to stdout: logs go
//! to stderr.
//!
//! Non-blocking mode belongs to the open file, so a process sharing the same pipe sees it too
//! (for example when stderr is redirected into stdout's pipe with `2>&1`).

use std::io;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// A boxed reader half.
pub type Reader = Pin<Box<dyn AsyncRead + Send>>;
/// A boxed writer half.
pub type Writer = Pin<Box<dyn AsyncWrite + Send>>;

/// Opens stdin and stdout for the runtime (which must have I/O enabled).
pub fn open() -> io::Result<(Reader, Writer)> {
    #[cfg(unix)]
    {
        Ok((unix::reader()?, unix::writer()?))
    }
    #[cfg(not(unix))]
    {
        Ok((Box::pin(tokio::io::stdin()), Box::pin(tokio::io::stdout())))
    }
}

#[cfg(unix)]
mod unix {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;

    use super::{Reader, Writer};

    enum Kind {
        Pipe,
        Socket,
        Other,
    }

    fn dup(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<(File, Kind)> {
        let file = File::from(fd.try_clone_to_owned()?);
        let ft = file.metadata()?.file_type();
        let kind = if ft.is_fifo() {
            Kind::Pipe
        } else if ft.is_socket() {
            Kind::Socket
        } else {
            Kind::Other
        };
        Ok((file, kind))
    }

    fn socket(file: File) -> io::Result<tokio::net::UnixStream> {
        let s = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(file));
        s.set_nonblocking(true)?;
        tokio::net::UnixStream::from_std(s)
    }

    pub(super) fn reader() -> io::Result<Reader> {
        let stdin = io::stdin();
        let (file, kind) = dup(stdin.as_fd())?;
        Ok(match kind {
            Kind::Pipe => Box::pin(tokio::net::unix::pipe::Receiver::from_file(file)?),
            Kind::Socket => Box::pin(socket(file)?),
            Kind::Other => Box::pin(tokio::io::stdin()),
        })
    }

    pub(super) fn writer() -> io::Result<Writer> {
        let stdout = io::stdout();
        let (file, kind) = dup(stdout.as_fd())?;
        Ok(match kind {
            Kind::Pipe => Box::pin(tokio::net::unix::pipe::Sender::from_file(file)?),
            Kind::Socket => Box::pin(socket(file)?),
            Kind::Other => Box::pin(tokio::io::stdout()),
        })
    }
}
