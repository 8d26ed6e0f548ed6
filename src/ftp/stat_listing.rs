//! Listings by `STAT dir` over the control connection (issue 10: cheaper listings at WAN).
//!
//! vsftpd, proftpd and pure-ftpd answer `STAT dir` with the `ls -l` lines inside the reply:
//! one round trip and no data connection, where `LIST` needs EPSV, a connect, `150`, the data
//! and `226`. Used only where the trade is safe (decided here, measured in
//! docs/round-trips.md):
//! - only for listings ahead of small directories (`Remote::list_ahead` with `small`): a reply
//!   travels over the control connection and may be at most 256 KiB (`reply::MAX_REPLY_BYTES`;
//!   a bigger one costs the connection, and turns `STAT` listings off for the session, since
//!   "small" comes from the directory's size, which on ZFS or btrfs is its entry count and
//!   says nothing), and the directory the kernel waits for may be any size;
//! - only on servers listed with `LIST`: where MLSD works it is used (exact UTC times to the
//!   second; `STAT` gives `ls -l` times, minutes or only the day for older files);
//! - never a wrong listing: the parser is strict (`listing::parse_stat_listing`), and the
//!   first `STAT` listings of a session are compared with `LIST` (see
//!   [`FtpRemote::list_small_once`]). Anything odd turns `STAT` listings off for the session
//!   (`Quirks::stat_list_refused`).
//! - never out of step: the reply travels on the control connection, so a name with CR LF
//!   (vsftpd and proftpd send names raw) can forge the reply's end line; the true end then
//!   arrives later and would be read as the reply to the next command (a refused DELE would
//!   look done). So `STAT dir` goes out with a `NOOP` in the same write (no extra round trip),
//!   and the next reply must be exactly the NOOP's `200`, with no line ending in a bare LF and
//!   no bytes after it; else the connection is dropped and `STAT` listings end for the
//!   session.
//!
//! Residual risk, documented: a name that forges both the end of the `STAT` reply and a
//! `200` line after it, on a link slow enough that the true end has not arrived when the
//! forged `200` is read, still leaves the connection one reply out of step (the rest of the
//! real replies are read as the answers to later commands). Closing it would take a reply
//! with content no name can hold (a second round trip, or a per-request token the server
//! echoes, which FTP has not). Unlike `LIST`, whose forged lines stay on the data connection,
//! a `STAT` listing shares its stream with the commands.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::SystemTime;

use super::client::{FtpRemote, path_arg, show};
use super::command::Command;
use super::listing::parse_stat_listing;
use super::pool::PooledControl;
use super::reply_code as code;
use super::reply_errors::{Op, is_not_implemented};
use crate::remote::{Entry, RemoteError, RemoteErrorKind, RemoteResult};

impl FtpRemote {
    /// Whether listings of this server may come from `STAT dir` (see [`Self::stat_listing`]).
    fn stat_listings_usable(&self, conn: &PooledControl) -> bool {
        !self.lists_with_mlsd(conn) && !self.pool().quirks().stat_list_refused()
    }

    /// The listing of `dir` from a `STAT dir` reply: one round trip on the control connection,
    /// no data connection. `Ok(None)`: not a listing we trust for this directory (missing, a
    /// file, refused, or a server whose replies we cannot read: then never again this
    /// session); the caller lists the usual way, which also finds the right error.
    fn stat_listing(
        &self,
        conn: &mut PooledControl,
        dir: &Path,
    ) -> RemoteResult<Option<Vec<Entry>>> {
        let quirks = self.pool().quirks();
        conn.take_bare_line_feed();
        // `NOOP` in the same write (no extra round trip): its `200` must be the very next
        // reply, with nothing after it. A name with CR LF can forge the end of the `STAT`
        // reply; the true end then arrives later (over a slow link often in a later segment,
        // so "bytes left over" alone cannot tell), and would be read as the next reply.
        let sent = conn.pipeline_noting_cut(&[&Command::Stat(path_arg(dir)?), &Command::Noop]);
        let replies = match sent {
            // The NOOP's reply lost to a cut or a silent server: a network fault, tried
            // again elsewhere like any (not a reason to stop using STAT).
            Ok((_, Some(cut))) if cut.kind != RemoteErrorKind::Protocol => return Err(cut),
            Ok((replies, _)) => replies,
            Err(err) => {
                if err.kind == RemoteErrorKind::Protocol {
                    // A reply we cannot read: most often longer than a reply may be (a
                    // directory taken for small, as any is on ZFS or btrfs, where a
                    // directory's size is its entry count). Once is enough.
                    log::info!(
                        "STAT reply for {} unreadable ({err}); listing with LIST from now on",
                        show(dir)
                    );
                    quirks.set_stat_list_refused();
                }
                return Err(err);
            }
        };
        let mut replies = replies.into_iter();
        let Some(reply) = replies.next() else {
            return Err(conn.lost_reply("STAT"));
        };
        if reply.closes_connection() {
            return Err(RemoteError::new(
                RemoteErrorKind::Connection,
                format!("STAT listing of {}: {reply}", show(dir)),
            ));
        }
        let in_step = replies.next().is_some_and(|noop| noop.code == code::OK)
            && replies.next().is_none()
            && !conn.take_bare_line_feed()
            && !conn.has_unread_reply_bytes();
        if !in_step {
            // A name with a line feed split a line or forged the end of the reply: the rest
            // of it is still to come, so this connection is out of step for good.
            conn.mark_broken();
            log::info!(
                "STAT reply for {} is not followed by the NOOP's reply alone (a name with a \
                 line feed?); listing with LIST from now on",
                show(dir)
            );
            quirks.set_stat_list_refused();
            return Err(RemoteError::new(
                RemoteErrorKind::Protocol,
                format!("STAT listing of {}: reply out of step", show(dir)),
            ));
        }
        let listing = matches!(
            reply.code,
            code::SYSTEM_STATUS | code::DIRECTORY_STATUS | code::FILE_STATUS
        );
        if !listing {
            if is_not_implemented(Op::List, &reply) {
                log::info!("server refused STAT ({reply}); listing with LIST from now on");
                quirks.set_stat_list_refused();
            }
            return Ok(None);
        }
        let inner = reply.inner_lines();
        if inner.is_empty() {
            return Ok(None); // vsftpd, pure-ftpd: no such directory
        }
        let parsed = parse_stat_listing(inner, SystemTime::now());
        if parsed.is_none() {
            log::info!(
                "STAT reply for {} is not a listing we can read ({reply}); \
                 listing with LIST from now on",
                show(dir)
            );
            quirks.set_stat_list_refused();
        }
        Ok(parsed)
    }

    /// A listing ahead of a small directory: by `STAT dir` where the server allows it. The
    /// first `STAT` listing of a session, and the first one showing a dotfile, are checked
    /// against `LIST` of the same directory (vsftpd's `STAT` shows dotfiles that its `LIST`
    /// hides without `force_dot_files`): a difference means `LIST` for the rest of the
    /// session, so every listing of a session shows the same kind of picture.
    pub(super) fn list_small_once(
        &self,
        conn: &mut PooledControl,
        dir: &Path,
    ) -> RemoteResult<Vec<Entry>> {
        if !self.stat_listings_usable(conn) {
            return self.list_once(conn, dir);
        }
        let Some(mut by_stat) = self.stat_listing(conn, dir)? else {
            return self.list_once(conn, dir);
        };
        let quirks = self.pool().quirks();
        let dotfile = by_stat.iter().any(|e| e.name.as_bytes().starts_with(b"."));
        if quirks.stat_list_checked() && (!dotfile || quirks.stat_list_dotfiles_checked()) {
            return Ok(by_stat);
        }
        let mut by_list = self.list_once(conn, dir)?;
        by_stat.sort_by(|a, b| a.name.cmp(&b.name));
        by_list.sort_by(|a, b| a.name.cmp(&b.name));
        if by_stat == by_list {
            quirks.set_stat_list_checked();
            if dotfile {
                quirks.set_stat_list_dotfiles_checked();
            }
        } else {
            log::info!(
                "STAT and LIST show {} differently; listing with LIST from now on",
                show(dir)
            );
            quirks.set_stat_list_refused();
        }
        Ok(by_list)
    }
}
