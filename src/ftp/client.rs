//! `FtpRemote`: the `Remote` trait over a pool of FTP connections.
//!
//! Every command uses an absolute path (pooled connections carry no CWD state). Operations that
//! are idempotent (listing, stat, delete, mkdir, rmdir, set_mtime, chmod, starting a transfer
//! before any byte moved) are retried on a fresh connection with backoff when the connection
//! broke or timed out; a running upload and a rename are never replayed blindly. Where a reply
//! code is ambiguous (550 on MKD or RMD) the client probes the tree for the right error.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use log::debug;

use super::FtpConfig;
use super::command::{Arg, Command};
use super::data_channel::{TransferStart, send_upload_unconfirmed, start_transfer};
use super::ftp_time::format_ftp_time;
use super::listing::{parse_list, parse_mlsd, parse_mlst_line};
use super::pool::{Lane, Pool, PooledControl};
use super::rename_replies::{PipelinedRename, pipelined_rename_outcome};
use super::reply::Reply;
use super::reply_code as code;
use super::reply_errors::{
    Op, after_mkd_probe, after_rmd_probe, after_rnto_refused, is_not_implemented, reply_error,
};
use super::transfer::{Download, Upload};
use super::transport::Transport;
use crate::remote::{
    CommitAttrs, CommitOutcome, Entry, EntryKind, Remote, RemoteError, RemoteErrorKind,
    RemoteReader, RemoteResult, RemoteWriter,
};

/// Attempts for an idempotent operation (first try included).
const ATTEMPTS: u32 = 3;

/// A remote FTP tree reached through a pool of logged-in control connections.
pub struct FtpRemote {
    pool: Pool,
}

pub(super) fn path_arg(path: &Path) -> RemoteResult<Arg> {
    Arg::new(path.as_os_str().as_bytes()).map_err(|e| {
        RemoteError::new(
            RemoteErrorKind::InvalidName,
            format!("{}: {e}", path.display()),
        )
    })
}

/// RNTO's reply after RNFR's 350.
pub(super) fn rnto_result(reply: &Reply, to: &Path) -> RemoteResult<()> {
    if reply.is_success() {
        Ok(())
    } else {
        Err(after_rnto_refused(reply_error(
            Op::Rename,
            reply,
            &show(to),
        )))
    }
}

/// A broken connection is worth another try on a fresh one; a server that stayed silent for the
/// whole timeout is not (retrying would multiply the wait the user sees).
fn worth_retrying(error: &RemoteError) -> bool {
    error.kind == RemoteErrorKind::Connection
}

/// `FtpRemote::retrying` on any pool (also used by `transfer::Upload` to start over).
fn retrying<T>(
    pool: &Pool,
    lane: Lane,
    mut op: impl FnMut(PooledControl, u32) -> RemoteResult<T>,
) -> RemoteResult<T> {
    let mut attempt = 0;
    loop {
        let result = pool.get(lane).and_then(|conn| op(conn, attempt));
        match result {
            Err(e) if worth_retrying(&e) && attempt + 1 < ATTEMPTS => {
                debug!("retrying after transient failure: {e}");
                std::thread::sleep(Duration::from_millis(100 * 4u64.pow(attempt)));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Check out a transfer connection of `pool` and start `cmd` (waiting for its 125/150);
/// retried while nothing was transferred.
pub(super) fn open_transfer(
    pool: &Pool,
    what: &str,
    rest: Option<u64>,
    cmd: &Command,
    op: Op,
) -> RemoteResult<(PooledControl, Transport)> {
    let mode = pool.config().data_mode;
    retrying(pool, Lane::Transfer, |mut conn, _| {
        match start_transfer(&mut conn, mode, pool.quirks(), rest, cmd)? {
            TransferStart::Started(data) => Ok((conn, data)),
            TransferStart::Refused(reply) => Err(reply_error(op, &reply, what)),
        }
    })
}

pub(super) fn show(path: &Path) -> String {
    path.display().to_string()
}

fn is_root(path: &Path) -> bool {
    path.as_os_str().as_bytes() == b"/"
}

impl FtpRemote {
    /// Connect and log in once (so a bad host or password fails here, with a clear message),
    /// keeping that connection in the pool.
    pub fn connect(config: FtpConfig) -> RemoteResult<FtpRemote> {
        let pool = Pool::new(config);
        let first = pool.get(Lane::Meta)?;
        debug!("server features: {:?}", first.features.lines);
        drop(first);
        Ok(FtpRemote { pool })
    }

    /// The pool (for tests and diagnostics).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Say QUIT on every idle pooled connection.
    pub fn shutdown(&self) {
        self.pool.shutdown();
    }

    /// Run `op` on a pooled connection, retrying on a fresh one when the connection failed.
    /// `op` receives the attempt number (0-based) so it can treat the aftermath of a cut first
    /// attempt (e.g. DELE of a file that is then gone) as success.
    fn retrying<T>(
        &self,
        lane: Lane,
        op: impl FnMut(PooledControl, u32) -> RemoteResult<T>,
    ) -> RemoteResult<T> {
        retrying(&self.pool, lane, op)
    }

    /// Send a simple command and expect a 2xx reply.
    fn simple(conn: &mut PooledControl, cmd: &Command, op: Op, what: &Path) -> RemoteResult<()> {
        let reply = conn.cmd(cmd)?;
        if reply.is_success() {
            Ok(())
        } else {
            Err(reply_error(op, &reply, &show(what)))
        }
    }

    fn start(
        &self,
        conn: &mut PooledControl,
        rest: Option<u64>,
        cmd: &Command,
    ) -> RemoteResult<TransferStart> {
        let mode = self.pool.config().data_mode;
        start_transfer(conn, mode, self.pool.quirks(), rest, cmd)
    }

    /// Run a listing command over a data connection and collect the whole body; `Ok(Err)`
    /// carries the server's refusal of the command itself.
    fn fetch_listing(
        &self,
        conn: &mut PooledControl,
        cmd: &Command,
        dir: &Path,
    ) -> RemoteResult<Result<Vec<u8>, Reply>> {
        let mut data = match self.start(conn, None, cmd)? {
            TransferStart::Started(data) => data,
            TransferStart::Refused(reply) => return Ok(Err(reply)),
        };
        let limit = self.pool.config().max_listing_bytes;
        let mut body = Vec::new();
        let read = (&mut data)
            .take(limit.saturating_add(1))
            .read_to_end(&mut body);
        if body.len() as u64 > limit {
            // The server is still sending: this connection cannot be resynchronised.
            conn.mark_broken();
            return Err(RemoteError::new(
                RemoteErrorKind::Protocol,
                format!("listing {} is larger than {limit} bytes", show(dir)),
            ));
        }
        if let Err(e) = read {
            conn.mark_broken();
            return Err(RemoteError::io(format_args!("listing {}", show(dir)), &e));
        }
        drop(data);
        let reply = conn.read_reply()?;
        if reply.is_success() {
            Ok(Ok(body))
        } else {
            Err(reply_error(Op::List, &reply, &show(dir)))
        }
    }

    /// Whether listings on this server use MLSD (offered and not refused), not LIST.
    pub(super) fn lists_with_mlsd(&self, conn: &PooledControl) -> bool {
        conn.features.mlst && !self.pool.quirks().mlsd_refused()
    }

    pub(super) fn list_once(
        &self,
        conn: &mut PooledControl,
        dir: &Path,
    ) -> RemoteResult<Vec<Entry>> {
        let arg = path_arg(dir)?;
        let quirks = self.pool.quirks();
        if self.lists_with_mlsd(conn) {
            match self.fetch_listing(conn, &Command::Mlsd(arg.clone()), dir)? {
                Ok(body) => return Ok(parse_mlsd(&body)),
                Err(reply) if is_not_implemented(Op::List, &reply) => {
                    log::info!("server refused MLSD ({reply}); using LIST from now on");
                    quirks.set_mlsd_refused();
                }
                Err(reply) => return Err(reply_error(Op::List, &reply, &show(dir))),
            }
        }
        match self.fetch_listing(conn, &Command::List(arg), dir)? {
            Ok(body) => Ok(parse_list(&body, SystemTime::now())),
            Err(reply) => Err(reply_error(Op::List, &reply, &show(dir))),
        }
    }

    fn stat_once(&self, conn: &mut PooledControl, path: &Path) -> RemoteResult<Entry> {
        if is_root(path) {
            return Ok(Entry::new("/", EntryKind::Dir));
        }
        let quirks = self.pool.quirks();
        if conn.features.mlst && !quirks.mlst_refused() {
            let reply = conn.cmd(&Command::Mlst(path_arg(path)?))?;
            if reply.is_success() {
                let parsed = reply
                    .inner_lines()
                    .iter()
                    .find_map(|line| parse_mlst_line(line));
                if let Some(mut entry) = parsed {
                    if let Some(name) = path.file_name() {
                        entry.name = name.to_os_string();
                    }
                    return Ok(entry);
                }
                debug!("MLST reply without facts for {}: {reply}", show(path));
            } else if is_not_implemented(Op::Stat, &reply) {
                quirks.set_mlst_refused();
            } else {
                return Err(reply_error(Op::Stat, &reply, &show(path)));
            }
        }
        // No MLST: find the entry in its parent's listing.
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(Entry::new("/", EntryKind::Dir));
        };
        let mut entry = self
            .list_once(conn, parent)?
            .into_iter()
            .find(|e| e.name == name)
            .ok_or_else(|| {
                RemoteError::new(
                    RemoteErrorKind::NotFound,
                    format!("{}: not found", show(path)),
                )
            })?;
        // LIST shows only the day for older files; MDTM has the exact time.
        if entry.kind == EntryKind::File && conn.features.mdtm {
            let exact = conn.cmd(&Command::Mdtm(path_arg(path)?))?.time_value();
            if exact.is_some() {
                entry.mtime = exact;
            }
        }
        Ok(entry)
    }

    /// Check out a transfer connection and start `cmd`; retried while nothing was transferred.
    fn open_transfer(
        &self,
        path: &Path,
        rest: Option<u64>,
        cmd: &Command,
        op: Op,
    ) -> RemoteResult<(PooledControl, Transport)> {
        open_transfer(&self.pool, &show(path), rest, cmd, op)
    }

    fn upload(&self, path: &Path, replaces: bool) -> RemoteResult<Box<dyn RemoteWriter>> {
        let arg = path_arg(path)?;
        let cmd = if replaces {
            Command::Stor(arg.clone())
        } else {
            Command::Appe(arg.clone())
        };
        // Without waiting for the 150 where the data connection allows (issue 10): a refusal
        // fails the first write that would block or go past 1 MiB, or the finish. Sending STOR proves nothing
        // about a pooled connection (no round trip when its data connection was opened
        // ahead), so `retrying` here covers only what fails before: a connection lost before
        // the 150 is found when the reply is read, and the STOR then starts over on another
        // connection with the bytes kept so far (`transfer::Upload`), as a retried start would.
        let mode = self.pool.config().data_mode;
        let unconfirmed =
            self.retrying(Lane::Transfer, |mut conn, _| match send_upload_unconfirmed(
                &mut conn,
                mode,
                self.pool.quirks(),
                &cmd,
            )? {
                Some(data) => Ok(Some((conn, data))),
                None => Ok(None),
            })?;
        if let Some((conn, data)) = unconfirmed {
            let upload = Upload::new(conn, data, arg, replaces, show(path));
            return Ok(Box::new(upload.unconfirmed()));
        }
        let (conn, data) = self.open_transfer(path, None, &cmd, Op::Store)?;
        Ok(Box::new(Upload::new(conn, data, arg, replaces, show(path))))
    }

    /// The size of a file by SIZE (RFC 3659), in binary mode.
    pub fn size(&self, path: &Path) -> RemoteResult<u64> {
        let cmd = Command::Size(path_arg(path)?);
        self.retrying(Lane::Meta, |mut conn, _| {
            let reply = conn.cmd(&cmd)?;
            if reply.code != code::FILE_STATUS {
                return Err(reply_error(Op::Stat, &reply, &show(path)));
            }
            reply.size_value().ok_or_else(|| {
                RemoteError::new(
                    RemoteErrorKind::Protocol,
                    format!("bad SIZE reply: {reply}"),
                )
            })
        })
    }

    /// The modification time of a file by MDTM (RFC 3659, UTC).
    pub fn modified(&self, path: &Path) -> RemoteResult<SystemTime> {
        let cmd = Command::Mdtm(path_arg(path)?);
        self.retrying(Lane::Meta, |mut conn, _| {
            let reply = conn.cmd(&cmd)?;
            if reply.code != code::FILE_STATUS {
                return Err(reply_error(Op::Stat, &reply, &show(path)));
            }
            reply.time_value().ok_or_else(|| {
                RemoteError::new(
                    RemoteErrorKind::Protocol,
                    format!("bad MDTM reply: {reply}"),
                )
            })
        })
    }

    /// Run `op` on a connection that is spare right now, once `starting` says it is still
    /// wanted (see `Remote::list_ahead`); `None` when nothing is spare or it is not wanted.
    fn on_spare<T>(
        &self,
        starting: &mut dyn FnMut() -> bool,
        op: impl FnOnce(&mut PooledControl) -> RemoteResult<T>,
    ) -> Option<RemoteResult<T>> {
        let mut conn = match self.pool.try_get_spare()? {
            Ok(conn) => conn,
            Err(err) => return Some(Err(err)),
        };
        if !starting() {
            return None;
        }
        Some(op(&mut conn))
    }

    /// Whether `path` exists (for disambiguating 550 replies); errors count as "unknown".
    fn probe(&self, path: &Path) -> Option<Entry> {
        self.retrying(Lane::Meta, |mut conn, _| self.stat_once(&mut conn, path))
            .ok()
    }
}

impl Remote for FtpRemote {
    fn list(&self, dir: &Path) -> RemoteResult<Vec<Entry>> {
        self.retrying(Lane::Meta, |mut conn, _| self.list_once(&mut conn, dir))
    }

    fn list_ahead(
        &self,
        dir: &Path,
        small: bool,
        starting: &mut dyn FnMut() -> bool,
    ) -> Option<RemoteResult<Vec<Entry>>> {
        self.on_spare(starting, |conn| {
            if small {
                self.list_small_once(conn, dir)
            } else {
                self.list_once(conn, dir)
            }
        })
    }

    fn stat(&self, path: &Path) -> RemoteResult<Entry> {
        self.retrying(Lane::Meta, |mut conn, _| self.stat_once(&mut conn, path))
    }

    fn open_read(&self, path: &Path, offset: u64) -> RemoteResult<Box<dyn RemoteReader>> {
        let cmd = Command::Retr(path_arg(path)?);
        let rest = (offset > 0).then_some(offset);
        let (conn, data) = self.open_transfer(path, rest, &cmd, Op::Retr)?;
        Ok(Box::new(Download::new(conn, data, show(path))))
    }

    fn create(&self, path: &Path) -> RemoteResult<Box<dyn RemoteWriter>> {
        self.upload(path, true)
    }

    fn append(&self, path: &Path) -> RemoteResult<Box<dyn RemoteWriter>> {
        self.upload(path, false)
    }

    fn delete(&self, path: &Path) -> RemoteResult<()> {
        let cmd = Command::Dele(path_arg(path)?);
        self.retrying(Lane::Meta, |mut conn, attempt| {
            match Self::simple(&mut conn, &cmd, Op::Dele, path) {
                // The first attempt may have deleted it before the connection broke.
                Err(e) if attempt > 0 && e.kind == RemoteErrorKind::NotFound => Ok(()),
                other => other,
            }
        })
    }

    fn mkdir(&self, path: &Path) -> RemoteResult<()> {
        let cmd = Command::Mkd(path_arg(path)?);
        let result = self.retrying(Lane::Meta, |mut conn, attempt| {
            match Self::simple(&mut conn, &cmd, Op::Mkd, path) {
                Err(e) if attempt > 0 && e.kind == RemoteErrorKind::AlreadyExists => Ok(()),
                other => other,
            }
        });
        match result {
            // 550 is ambiguous: exists, missing parent, or no permission.
            Err(e) if e.kind == RemoteErrorKind::AlreadyExists => {
                if self.probe(path).is_some() {
                    return Err(e);
                }
                let parent_exists = path.parent().is_none_or(|p| self.probe(p).is_some());
                Err(after_mkd_probe(e, false, parent_exists))
            }
            other => other,
        }
    }

    fn rmdir(&self, path: &Path) -> RemoteResult<()> {
        let cmd = Command::Rmd(path_arg(path)?);
        let result = self.retrying(Lane::Meta, |mut conn, attempt| {
            match Self::simple(&mut conn, &cmd, Op::Rmd, path) {
                Err(e) if attempt > 0 && e.kind == RemoteErrorKind::NotFound => Ok(()),
                other => other,
            }
        });
        match result {
            // 550 is ambiguous: not empty, missing, not a directory, or no permission.
            Err(e) if e.kind == RemoteErrorKind::NotEmpty => {
                let target = self.probe(path).map(|entry| entry.kind);
                let empty = match target {
                    Some(EntryKind::Dir) => self.list(path).ok().map(|c| c.is_empty()),
                    _ => None,
                };
                Err(after_rmd_probe(e, target, empty))
            }
            other => other,
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> RemoteResult<()> {
        let rnfr = Command::Rnfr(path_arg(from)?);
        let rnto = Command::Rnto(path_arg(to)?);
        let quirks = self.pool.quirks();
        let mut conn = self.pool.get(Lane::Meta)?;
        if !quirks.rename_pipelining_refused() {
            // One round trip: RNTO goes out without waiting for RNFR's 350 (issue 10).
            let replies = conn.pipeline(&[&rnfr, &rnto])?;
            let [first, second] =
                <[Reply; 2]>::try_from(replies).map_err(|_| conn.lost_reply("RNFR/RNTO"))?;
            match pipelined_rename_outcome(first, second) {
                PipelinedRename::Done(reply) => return rnto_result(&reply, to),
                PipelinedRename::FromRefused(reply) => {
                    return Err(reply_error(Op::Rename, &reply, &show(from)));
                }
                PipelinedRename::OutOfOrder(reply) => {
                    // libunftp runs pipelined commands concurrently: RNTO may overtake RNFR and
                    // replies may come in either order. Step by step from now on.
                    log::info!(
                        "server mishandles RNFR and RNTO sent together; renaming step by step"
                    );
                    quirks.set_rename_pipelining_refused();
                    if let Some(reply) = reply {
                        return rnto_result(&reply, to);
                    }
                    // Nothing was renamed: ask again below.
                }
            }
        }
        let reply = conn.cmd(&rnfr)?;
        if reply.code != code::PENDING {
            return Err(reply_error(Op::Rename, &reply, &show(from)));
        }
        rnto_result(&conn.cmd(&rnto)?, to)
    }

    fn set_mtime(&self, path: &Path, mtime: SystemTime) -> RemoteResult<()> {
        let stamp = format_ftp_time(mtime);
        let arg = path_arg(path)?;
        let quirks = self.pool.quirks();
        self.retrying(Lane::Meta, |mut conn, _| {
            let use_mfmt = conn.features.mfmt && !quirks.mfmt_refused();
            if use_mfmt {
                let reply = conn.cmd(&Command::Mfmt(stamp.clone(), arg.clone()))?;
                if reply.is_success() {
                    return Ok(());
                }
                if !is_not_implemented(Op::SetMtime, &reply) {
                    return Err(reply_error(Op::SetMtime, &reply, &show(path)));
                }
                quirks.set_mfmt_refused();
            }
            if quirks.mdtm_set_refused() {
                return Err(RemoteError::new(
                    RemoteErrorKind::Unsupported,
                    "server cannot set modification times",
                ));
            }
            // vsftpd (mdtm_write) sets the time with `MDTM stamp path`. Other servers read that
            // as a query for a file named "stamp path" and answer 550, or 213 with a time.
            let reply = conn.cmd(&Command::MdtmSet(stamp.clone(), arg.clone()))?;
            let was_a_query = reply.time_value().is_some();
            if reply.is_success() && !was_a_query {
                return Ok(());
            }
            if is_not_implemented(Op::SetMtime, &reply) || was_a_query {
                // The server does not know this form at all: stop trying it.
                quirks.set_mdtm_set_refused();
                return Err(RemoteError::new(
                    RemoteErrorKind::Unsupported,
                    format!("server cannot set modification times: {reply}"),
                ));
            }
            // vsftpd refuses this path only (550 on a directory). A server that read the
            // command as a query for a file named "stamp path" (libunftp) also says 550, but
            // then the path is a file that exists: that server cannot set times at all.
            if reply.code == 550 && conn.cmd(&Command::Size(arg.clone()))?.is_success() {
                quirks.set_mdtm_set_refused();
                return Err(RemoteError::new(
                    RemoteErrorKind::Unsupported,
                    format!("server cannot set modification times: {reply}"),
                ));
            }
            Err(reply_error(Op::SetMtime, &reply, &show(path)))
        })
    }

    fn chmod(&self, path: &Path, mode: u32) -> RemoteResult<()> {
        let quirks = self.pool.quirks();
        if quirks.chmod_refused() {
            return Err(RemoteError::new(
                RemoteErrorKind::Unsupported,
                "server does not support SITE CHMOD",
            ));
        }
        let cmd = Command::SiteChmod(mode, path_arg(path)?);
        self.retrying(Lane::Meta, |mut conn, _| {
            let reply = conn.cmd(&cmd)?;
            if reply.is_success() {
                return Ok(());
            }
            if is_not_implemented(Op::Chmod, &reply) {
                quirks.set_chmod_refused();
            }
            Err(reply_error(Op::Chmod, &reply, &show(path)))
        })
    }

    fn set_transfer_pressure_hook(&self, hook: crate::remote::PressureHook) {
        self.pool.set_pressure_hook(hook);
    }

    fn commit_upload(&self, temp: &Path, to: &Path, attrs: CommitAttrs) -> CommitOutcome {
        self.commit_pipelined(temp, to, attrs)
    }
}
