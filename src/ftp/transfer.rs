//! A running download (RETR) or upload (STOR/APPE): a data connection plus the control
//! connection that owns it, checked out of the pool until the transfer ends.
//!
//! End of a download is where the server closes the data connection (never the listed size),
//! confirmed by the final 226/250 on the control connection: only then does `read` return 0.
//! Ending a transfer early closes the data socket, reads the server's 426/226 with a short
//! timeout and resynchronises with NOOP; a connection that misbehaves there is dropped, not
//! reused.
//!
//! An upload may start before the server said 150 (`Upload::unconfirmed`, issue 10): the
//! reply to STOR/APPE is then still due, and it is the first one read, when a write would
//! block or go past `KEEP_MAX`, when sending fails, or at `finish` right after the data and
//! its end went out. A
//! refusal there fails that call with the server's reason. A STOR whose connection is lost
//! before that reply (a connection that went stale in the pool, or a cut) starts over on
//! another connection (`start_over`): the bytes sent before the 150 are kept for that (at most
//! `KEEP_MAX`; the 150 is read before sending more), and a second STOR replaces whatever the
//! first one stored. A SIZE check would not do here: the first STOR may never have run, and
//! an old file of the same size would pass for ours. An APPE is not replayed (it could append
//! twice).

use std::io::{self, Read, Write};
use std::time::Duration;

use super::client::open_transfer;
use super::command::{Arg, Command};
use super::control::Control;
use super::pool::{Lane, PooledControl};
use super::reply_code as code;
use super::reply_errors::{Op, reply_error};
use super::transport::Transport;
use crate::remote::{RemoteError, RemoteErrorKind, RemoteResult, RemoteWriter};

/// How long we wait for the server's reply after aborting a transfer.
const ABORT_REPLY_TIMEOUT: Duration = Duration::from_secs(3);

/// Most bytes an upload sends before the server's 150 (kept to start over with).
const KEEP_MAX: usize = 1024 * 1024;

/// How the reply to an upload command turned out (`Upload::confirm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Confirmed {
    /// The 125/150 came (or came earlier).
    Here,
    /// The connection was lost before it: the upload started over on another connection,
    /// which now carries every byte sent so far.
    StartedOver,
}

fn data_error(control: &mut Control, e: io::Error, what: &str) -> RemoteError {
    control.mark_broken();
    RemoteError::io(format_args!("data connection for {what}"), &e)
}

/// After the data connection was closed early: read whatever final reply the transfer gets
/// (426 or 226), then make sure the next reply we read belongs to the next command, using NOOP
/// as a marker. Anything unexpected marks the connection broken.
fn resync_after_abort(control: &mut Control) {
    if control.is_broken() {
        return;
    }
    control.set_reply_timeout(ABORT_REPLY_TIMEOUT);
    let mut settled = false;
    for _ in 0..3 {
        match control.read_reply() {
            Ok(reply) if reply.is_preliminary() => continue,
            Ok(_) => {
                settled = true;
                break;
            }
            Err(_) => break,
        }
    }
    if settled && control.send(&Command::Noop).is_ok() {
        settled = false;
        for _ in 0..3 {
            match control.read_reply() {
                Ok(reply) if reply.code == code::OK => {
                    settled = true;
                    break;
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    }
    if settled {
        let timeout = control.io_timeout();
        control.set_reply_timeout(timeout);
    } else {
        control.mark_broken();
    }
}

/// A download in progress.
pub(crate) struct Download {
    control: PooledControl,
    data: Option<Transport>,
    what: String,
    done: bool,
}

impl Download {
    pub(crate) fn new(control: PooledControl, data: Transport, what: String) -> Download {
        Download {
            control,
            data: Some(data),
            what,
            done: false,
        }
    }

    fn finish(&mut self) -> io::Result<usize> {
        self.data = None;
        let reply = self.control.read_reply().map_err(RemoteError::into_io)?;
        self.done = true;
        if reply.is_success() {
            Ok(0)
        } else {
            Err(reply_error(Op::Retr, &reply, &self.what).into_io())
        }
    }
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let Some(data) = self.data.as_mut() else {
            return self.finish();
        };
        loop {
            match data.read(buf) {
                Ok(0) => return self.finish(),
                Ok(n) => {
                    self.control.note_progress();
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Err(data_error(&mut self.control, e, &self.what).into_io());
                }
            }
        }
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(data) = self.data.take() {
            data.abort();
        }
        resync_after_abort(&mut self.control);
    }
}

/// An upload in progress.
pub(crate) struct Upload {
    control: PooledControl,
    data: Option<Transport>,
    what: String,
    /// The remote path as a command argument, for the SIZE check after a lost final reply.
    path: Arg,
    /// Bytes accepted by the data connection so far.
    sent: u64,
    /// STOR (the file is exactly what we sent) as opposed to APPE.
    replaces: bool,
    /// The transfer's final reply was read (or the connection is broken): nothing to resync.
    finished: bool,
    /// Why the data connection failed, kept for `finish` (which the caller calls after a
    /// failed write, and which must report the same cause).
    failure: Option<RemoteError>,
    /// The server's 125/150 was read. False for an upload command sent without waiting for
    /// it (`unconfirmed`): the first reply on the control connection is then that 150 or the
    /// refusal of the command, read when a write would block or go past `KEEP_MAX`, when
    /// sending fails, or at `finish`.
    confirmed: bool,
    /// The bytes sent while the 150 is still due, to start over with.
    kept: Vec<u8>,
}

impl Upload {
    pub(crate) fn new(
        control: PooledControl,
        data: Transport,
        path: Arg,
        replaces: bool,
        what: String,
    ) -> Upload {
        Upload {
            control,
            data: Some(data),
            what,
            path,
            sent: 0,
            replaces,
            finished: false,
            failure: None,
            confirmed: true,
            kept: Vec::new(),
        }
    }

    /// The same upload, its command sent without waiting for its 125/150
    /// (`data_channel::send_upload_unconfirmed`): `confirm` reads that reply later.
    pub(crate) fn unconfirmed(mut self) -> Upload {
        self.confirmed = false;
        self
    }

    /// Read the reply to the upload command when it is still due: Ok on 125/150; the server's
    /// refusal otherwise (the transfer is over: nothing to resync, the data connection goes).
    /// A STOR whose connection was lost before the reply starts over on another one.
    fn confirm(&mut self) -> RemoteResult<Confirmed> {
        if self.confirmed {
            return Ok(Confirmed::Here);
        }
        self.confirmed = true;
        let kept = std::mem::take(&mut self.kept);
        let refusal = match self.control.read_reply() {
            Ok(reply) if reply.is_preliminary() => return Ok(Confirmed::Here),
            Ok(reply) => {
                if reply.closes_connection() {
                    self.control.mark_broken();
                }
                reply_error(Op::Store, &reply, &self.what)
            }
            Err(err) => err,
        };
        if let Some(data) = self.data.take() {
            data.abort();
        }
        let outcome = if self.replaces && refusal.kind == RemoteErrorKind::Connection {
            self.start_over(&kept, refusal)
        } else {
            Err(refusal)
        };
        outcome.inspect_err(|error| {
            self.finished = true;
            self.failure = Some(error.clone());
        })
    }

    /// The connection of an unconfirmed STOR was lost before the server's 150: send the STOR
    /// again on another connection (waiting for its 150 this time, retried like any transfer
    /// start) and the bytes sent so far on the new data connection.
    fn start_over(&mut self, kept: &[u8], lost: RemoteError) -> RemoteResult<Confirmed> {
        log::warn!(
            "connection lost before the server took the upload of {}: {lost}; starting over",
            self.what
        );
        // Its slot first: with a cap of two, the one for transfers is this one.
        self.control.give_back_slot();
        let pool = self.control.pool();
        let command = Command::Stor(self.path.clone());
        let (control, mut data) = open_transfer(&pool, &self.what, None, &command, Op::Store)?;
        // The broken connection goes (closed, not pooled).
        self.control = control;
        let resent = data.write_all(kept);
        self.data = Some(data);
        match resent {
            Ok(()) => Ok(Confirmed::StartedOver),
            Err(e) => Err(self.data_failed(e)),
        }
    }

    /// Write without blocking while the 150 is still due: bytes the server has not asked for
    /// yet wait in the socket buffers, and when those are full the reply says whether it ever
    /// will (a refused upload must not block until the timeout).
    /// `None`: nothing written, the 150 came (or the upload started over), write the
    /// blocking way.
    fn write_unconfirmed(&mut self, buf: &[u8]) -> io::Result<Option<usize>> {
        let room = KEEP_MAX.saturating_sub(self.kept.len());
        if room == 0 {
            self.confirm().map_err(RemoteError::into_io)?;
            return Ok(None);
        }
        let buf = &buf[..buf.len().min(room)];
        let Some(data) = self.data.as_mut() else {
            return Err(self.ended().into_io());
        };
        let attempt = data
            .tcp()
            .set_nonblocking(true)
            .and_then(|()| data.write(buf))
            .and_then(|n| data.tcp().set_nonblocking(false).map(|()| n));
        match attempt {
            Ok(n) => {
                self.kept.extend_from_slice(&buf[..n]);
                Ok(Some(n))
            }
            Err(e) => {
                let _ = data.tcp().set_nonblocking(false);
                let confirmed = self.confirm().map_err(RemoteError::into_io)?;
                if e.kind() == io::ErrorKind::WouldBlock || confirmed == Confirmed::StartedOver {
                    return Ok(None);
                }
                Err(self.data_failed(e).into_io())
            }
        }
    }

    fn ended(&self) -> RemoteError {
        self.failure.clone().unwrap_or_else(|| {
            RemoteError::new(RemoteErrorKind::Connection, "upload already ended")
        })
    }

    /// The data connection failed while we were sending. A server that cannot store the data
    /// (disk full, quota) usually closes it and says why on the control connection: vsftpd
    /// "451 Failure writing to local file.", proftpd "... No space left on device". Read that
    /// reply (briefly), so the caller gets the server's reason, which the reply table maps
    /// (ENOSPC, EDQUOT, EACCES...), instead of a bare "broken pipe".
    fn data_failed(&mut self, e: io::Error) -> RemoteError {
        self.data = None;
        self.finished = true;
        let cut = RemoteError::io(format_args!("data connection for {}", self.what), &e);
        self.control.set_reply_timeout(ABORT_REPLY_TIMEOUT);
        let error = match self.control.read_reply() {
            Ok(reply) if reply.is_transient_failure() || reply.is_permanent_failure() => {
                let timeout = self.control.io_timeout();
                self.control.set_reply_timeout(timeout);
                let refused = reply_error(Op::Store, &reply, &self.what);
                RemoteError::new(refused.kind, format!("{} ({cut})", refused.message))
            }
            // No reply, or one that does not explain the cut: the reply stream cannot be
            // trusted any more.
            _ => {
                self.control.mark_broken();
                cut
            }
        };
        self.failure = Some(error.clone());
        error
    }

    /// All data went out but the server's final reply never came: the file may well be
    /// complete. Ask SIZE on another connection rather than failing (and never delete it):
    /// a STOR whose size matches what we sent is a success.
    fn verify_after_lost_reply(&self, lost: RemoteError) -> RemoteResult<()> {
        if !self.replaces {
            return Err(lost);
        }
        let checked = self
            .control
            .pool()
            .get(Lane::Meta)
            .and_then(|mut conn| Ok(conn.cmd(&Command::Size(self.path.clone()))?.size_value()));
        match checked {
            Ok(Some(size)) if size == self.sent => {
                log::warn!(
                    "final reply for {} was lost, but SIZE shows all {} bytes arrived",
                    self.what,
                    self.sent
                );
                Ok(())
            }
            Ok(size) => Err(RemoteError::new(
                lost.kind,
                format!(
                    "{} (server has {size:?} bytes of {} sent)",
                    lost.message, self.sent
                ),
            )),
            Err(_) => Err(lost),
        }
    }
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let early = if self.confirmed {
            None
        } else {
            self.write_unconfirmed(buf)?
        };
        let Some(data) = self.data.as_mut() else {
            return Err(self.ended().into_io());
        };
        match early.map_or_else(|| data.write(buf), Ok) {
            Ok(n) => {
                self.control.note_progress();
                self.sent += n as u64;
                Ok(n)
            }
            Err(e) => Err(self.data_failed(e).into_io()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.data.as_mut() {
            Some(data) => data.flush(),
            None => Ok(()),
        }
    }
}

impl RemoteWriter for Upload {
    fn finish(mut self: Box<Self>) -> RemoteResult<()> {
        if let Some(failure) = self.failure.take() {
            return Err(failure);
        }
        loop {
            let Some(mut data) = self.data.take() else {
                self.finished = true;
                return Err(RemoteError::new(
                    RemoteErrorKind::Connection,
                    format!("upload of {} was interrupted", self.what),
                ));
            };
            let sent = data.finish_sending();
            drop(data);
            // Data and end of data are on their way: now the 150 still due (or the refusal),
            // then the final reply, arrive back to back. A refusal of the command explains a
            // failed send better than the cut; an upload that started over on another
            // connection is finished there.
            if self.confirm()? == Confirmed::StartedOver {
                continue;
            }
            if let Err(e) = sent {
                return Err(self.data_failed(e));
            }
            break;
        }
        self.finished = true;
        let reply = match self.control.read_reply() {
            Ok(reply) => reply,
            Err(lost) if lost.is_transient() => return self.verify_after_lost_reply(lost),
            Err(other) => return Err(other),
        };
        if reply.is_success() {
            Ok(())
        } else {
            Err(reply_error(Op::Store, &reply, &self.what))
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(data) = self.data.take() {
            data.abort();
        }
        resync_after_abort(&mut self.control);
    }
}
