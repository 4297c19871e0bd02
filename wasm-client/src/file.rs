//! [`SocketFile`]: what `makefile()` returns.

use crate::error::{Error, Result};
use crate::socket::Socket;
use bridge_protocol::OsError;

/// The buffer size, as Python's `io.DEFAULT_BUFFER_SIZE`.
const BUFFER_SIZE: usize = 8192;

/// A buffered file over a socket, as Python's `sock.makefile('rwb')`.
///
/// Reads take whole `recv`s into a buffer, so bytes read ahead belong to the file: mixing
/// `file.readline()` with `sock.recv()` loses data, as it does in Python. Writes are buffered until
/// [`SocketFile::flush`] (or until the buffer fills). After a read times out, the file refuses
/// further reads, as Python's does. The socket stays open while a file is open, even after
/// `close()`.
pub struct SocketFile {
    sock: Socket,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    closed: bool,
    timed_out: bool,
}

impl std::fmt::Debug for SocketFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketFile").field("socket", &self.sock).field("closed", &self.closed).finish()
    }
}

impl SocketFile {
    pub(crate) fn new(sock: Socket) -> Self {
        SocketFile { sock, rbuf: Vec::new(), wbuf: Vec::new(), closed: false, timed_out: false }
    }

    /// `ValueError` for an operation on a closed file, worded as Python's buffered files word it
    /// (`read of closed file`, `peek of closed file`, ...).
    fn check_open(&self, operation: &str) -> Result<()> {
        if self.closed { Err(Error::Value(format!("{operation} closed file"))) } else { Ok(()) }
    }

    /// Receives one more chunk into the buffer; false at end of file.
    async fn fill(&mut self) -> Result<bool> {
        if self.timed_out {
            return Err(Error::Os(OsError {
                exception: "OSError".to_owned(),
                errno: None,
                errname: None,
                strerror: Some("cannot read from timed out object".to_owned()),
                reason: None,
            }));
        }
        match self.sock.recv(BUFFER_SIZE).await {
            Ok(data) if data.is_empty() => Ok(false),
            Ok(data) => {
                self.rbuf.extend_from_slice(&data);
                Ok(true)
            }
            Err(e) => {
                self.timed_out = e.is_timeout();
                Err(e)
            }
        }
    }

    /// `read(n)`: `n` bytes, or fewer only at end of file.
    pub async fn read(&mut self, n: usize) -> Result<Vec<u8>> {
        self.check_open("read of")?;
        while self.rbuf.len() < n && self.fill().await? {}
        let take = n.min(self.rbuf.len());
        Ok(self.rbuf.drain(..take).collect())
    }

    /// `read()`: everything up to end of file.
    pub async fn read_all(&mut self) -> Result<Vec<u8>> {
        self.check_open("read of")?;
        while self.fill().await? {}
        Ok(std::mem::take(&mut self.rbuf))
    }

    /// `readline()`: up to and including the next `b'\n'`; at end of file, what is left (empty when
    /// nothing is).
    pub async fn readline(&mut self) -> Result<Vec<u8>> {
        self.check_open("peek of")?;
        let mut scanned = 0;
        loop {
            if let Some(i) = self.rbuf[scanned..].iter().position(|&b| b == b'\n') {
                return Ok(self.rbuf.drain(..scanned + i + 1).collect());
            }
            scanned = self.rbuf.len();
            if !self.fill().await? {
                return Ok(std::mem::take(&mut self.rbuf));
            }
        }
    }

    /// `write(data)`: buffers the bytes (sending when the buffer is full); returns their count.
    pub async fn write(&mut self, data: &[u8]) -> Result<usize> {
        self.check_open("write to")?;
        self.wbuf.extend_from_slice(data);
        if self.wbuf.len() >= BUFFER_SIZE {
            self.flush().await?;
        }
        Ok(data.len())
    }

    /// `flush()`: sends what is buffered.
    pub async fn flush(&mut self) -> Result<()> {
        self.check_open("flush of")?;
        if !self.wbuf.is_empty() {
            self.sock.sendall(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// `close()`: flushes, and closes the socket too if `close()` was called on it.
    pub async fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let flushed = self.flush().await;
        self.closed = true;
        if self.sock.file_closed() {
            self.sock.release().await?;
        }
        flushed
    }
}

impl Drop for SocketFile {
    /// A file dropped unclosed counts as closed, as CPython's does when it is collected: if the
    /// socket's `close()` was called and this was its last file, the socket closes now. (Buffered
    /// writes are not flushed: a drop cannot wait. Call `close` or `flush` to send them.)
    fn drop(&mut self) {
        if !self.closed {
            self.closed = true;
            if self.sock.file_closed() {
                self.sock.release_now();
            }
        }
    }
}
