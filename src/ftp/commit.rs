//! The end of an atomic upload in one round trip (issue 10): SITE CHMOD and the time of the
//! temporary file, then RNFR and RNTO, sent in one write; the replies are read in order.
//!
//! RFC 959 servers take commands one after the other, so each reply belongs to the command in
//! its place, and the mode and time reach the file before the rename moves it (a rename keeps
//! both). Only the rename decides the commit; a refused chmod is a warning, a refused time is
//! tried again on the real name by the caller (that path learns MFMT/MDTM-set).
//!
//! libunftp runs pipelined commands concurrently and may answer in any order. Each step's
//! success code is distinct (200 SITE CHMOD, 213 MFMT/MDTM, 350 RNFR, 250 RNTO), so a reply
//! that fits no failure and not its own step's success shows the order was lost (`in_order`,
//! pure, table-tested). Then the client stops pipelining (the quirk `rename` uses too) and
//! asks the server what happened: the temporary file still there means nothing was renamed,
//! and the commit is done again step by step; gone, with the real name a file, means the
//! rename happened, and mode and time are given to the real name. The same check settles a
//! commit whose replies were cut off by a broken connection: whether the rename happened is
//! never guessed (a commit that thought its rename failed would go on to delete-then-rename,
//! deleting the new file).

use std::path::Path;
use std::time::SystemTime;

use super::client::{FtpRemote, path_arg, rnto_result, show};
use super::command::{Arg, Command};
use super::ftp_time::format_ftp_time;
use super::pool::{Lane, PooledControl};
use super::rename_replies::{PipelinedRename, is_bad_sequence, pipelined_rename_outcome};
use super::reply::Reply;
use super::reply_code as code;
use super::reply_errors::{Op, is_not_implemented, reply_error};
use crate::remote::{
    CommitAttrs, CommitOutcome, EntryKind, Remote, RemoteError, RemoteErrorKind, RemoteResult,
    commit_step_by_step,
};

/// How often, and how far apart, the real name is checked when the temporary file is gone
/// after a commit whose replies went astray.
const RENAME_SETTLE_CHECKS: u32 = 4;
const RENAME_SETTLE_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// One command of a pipelined commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Chmod,
    Mtime,
    Rnfr,
    Rnto,
}

impl Step {
    /// The code this step's command answers when it worked.
    fn success(self) -> u16 {
        match self {
            Step::Chmod => code::OK,
            Step::Mtime => code::FILE_STATUS,
            Step::Rnfr => code::PENDING,
            Step::Rnto => code::FILE_ACTION_OK,
        }
    }
}

/// Whether every reply can be the answer to the step in its place: a failure, or that step's
/// own success code; and "bad sequence" (RNTO's complaint when it overtook RNFR) only in RNTO's
/// place. False means the server answered out of order (pure).
///
/// A success code fits one step only, so a success is never read as another step's failure;
/// in particular RNTO's 250 read anywhere but in its place shows the loss of order, and a
/// rename that worked is never taken for one that failed. Two failures that swapped places
/// cannot be told apart, and need not: each step failed either way.
pub(super) fn in_order(steps: &[Step], replies: &[Reply]) -> bool {
    steps.len() == replies.len()
        && steps.iter().zip(replies).all(|(&step, reply)| {
            let failed = reply.is_transient_failure() || reply.is_permanent_failure();
            reply.code == step.success()
                || (failed && (step == Step::Rnto || !is_bad_sequence(reply)))
        })
}

impl FtpRemote {
    /// `Remote::commit_upload` in one round trip where the server takes commands in order.
    pub(super) fn commit_pipelined(
        &self,
        temp: &Path,
        to: &Path,
        attrs: CommitAttrs,
    ) -> CommitOutcome {
        let quirks = self.pool().quirks();
        let args = (path_arg(temp), path_arg(to));
        let (Ok(temp_arg), Ok(to_arg)) = args else {
            return commit_step_by_step(self, temp, to, attrs);
        };
        if quirks.rename_pipelining_refused() {
            return commit_step_by_step(self, temp, to, attrs);
        }
        let Ok(mut conn) = self.pool().get(Lane::Meta) else {
            return commit_step_by_step(self, temp, to, attrs);
        };
        let chmod = attrs
            .mode
            .filter(|_| !quirks.chmod_refused())
            .map(|mode| Command::SiteChmod(mode, temp_arg.clone()));
        let mtime = attrs
            .mtime
            .and_then(|mtime| self.mtime_command(&conn, mtime, &temp_arg));
        let mut steps = Vec::with_capacity(4);
        let mut commands = Vec::with_capacity(4);
        if let Some(command) = &chmod {
            steps.push(Step::Chmod);
            commands.push(command);
        }
        if let Some(command) = &mtime {
            steps.push(Step::Mtime);
            commands.push(command);
        }
        let rnfr = Command::Rnfr(temp_arg);
        let rnto = Command::Rnto(to_arg);
        steps.extend([Step::Rnfr, Step::Rnto]);
        commands.extend([&rnfr, &rnto]);

        let replies = match conn.pipeline(&commands) {
            Ok(replies) if replies.len() == commands.len() => replies,
            Ok(_) | Err(_) => {
                drop(conn);
                log::debug!("replies to the commit of {} cut off", show(to));
                return self.commit_settled_by_asking(temp, to, attrs);
            }
        };
        let rename_outcome = match &replies[replies.len() - 2..] {
            [rnfr, rnto] => pipelined_rename_outcome(rnfr.clone(), rnto.clone()),
            _ => PipelinedRename::OutOfOrder(None),
        };
        let ordered =
            in_order(&steps, &replies) && !matches!(rename_outcome, PipelinedRename::OutOfOrder(_));
        if !ordered {
            // Which reply answers what is unknown, and one may still be on its way: this
            // connection's replies cannot be trusted any more.
            conn.mark_broken();
            drop(conn);
            return self.order_lost(temp, to, attrs);
        }
        drop(conn);
        let mut replies = replies.into_iter();
        let mut next = || replies.next().ok_or_else(|| lost(to));
        let chmod_result = chmod
            .as_ref()
            .map(|_| next().and_then(|r| chmod_result(self, &r, temp)));
        let mtime_result = mtime
            .as_ref()
            .map(|_| next().and_then(|r| mtime_result(&r, temp)));
        let rename = match rename_outcome {
            PipelinedRename::Done(reply) => rnto_result(&reply, to),
            PipelinedRename::FromRefused(reply) | PipelinedRename::OutOfOrder(Some(reply)) => {
                Err(reply_error(Op::Rename, &reply, &show(temp)))
            }
            PipelinedRename::OutOfOrder(None) => Err(lost(to)),
        };
        CommitOutcome {
            chmod: attrs
                .mode
                .map(|_| chmod_result.unwrap_or_else(|| Err(chmod_unsupported()))),
            mtime: attrs
                .mtime
                .map(|_| mtime_result.unwrap_or_else(|| Err(mtime_unsupported()))),
            rename,
        }
    }

    /// The command that sets `mtime`, when this server is not known to lack one.
    fn mtime_command(&self, conn: &PooledControl, mtime: SystemTime, arg: &Arg) -> Option<Command> {
        let quirks = self.pool().quirks();
        let stamp = format_ftp_time(mtime);
        if conn.features.mfmt && !quirks.mfmt_refused() {
            Some(Command::Mfmt(stamp, arg.clone()))
        } else if !quirks.mdtm_set_refused() {
            Some(Command::MdtmSet(stamp, arg.clone()))
        } else {
            None
        }
    }

    fn order_lost(&self, temp: &Path, to: &Path, attrs: CommitAttrs) -> CommitOutcome {
        log::info!("server answers pipelined commands out of order; renaming step by step");
        self.pool().quirks().set_rename_pipelining_refused();
        self.commit_settled_by_asking(temp, to, attrs)
    }

    /// Whether the rename happened is unknown: ask the server (see the module doc).
    fn commit_settled_by_asking(
        &self,
        temp: &Path,
        to: &Path,
        attrs: CommitAttrs,
    ) -> CommitOutcome {
        match self.stat(temp) {
            Ok(_) => commit_step_by_step(self, temp, to, attrs),
            Err(err) if err.kind == RemoteErrorKind::NotFound => {
                // A server running commands concurrently (libunftp) may still be renaming.
                let renamed = (0..RENAME_SETTLE_CHECKS).any(|attempt| {
                    if attempt > 0 {
                        std::thread::sleep(RENAME_SETTLE_PAUSE);
                    }
                    matches!(self.stat(to), Ok(entry) if entry.kind == EntryKind::File)
                });
                let rename = if renamed { Ok(()) } else { Err(err) };
                CommitOutcome {
                    chmod: attrs.mode.map(|mode| self.chmod(to, mode)),
                    mtime: attrs.mtime.map(|mtime| self.set_mtime(to, mtime)),
                    rename,
                }
            }
            Err(err) => CommitOutcome {
                chmod: attrs.mode.map(|_| Err(err.clone())),
                mtime: attrs.mtime.map(|_| Err(err.clone())),
                rename: Err(err),
            },
        }
    }
}

fn chmod_result(remote: &FtpRemote, reply: &Reply, temp: &Path) -> RemoteResult<()> {
    if reply.code == code::OK {
        return Ok(());
    }
    if is_not_implemented(Op::Chmod, reply) {
        remote.pool().quirks().set_chmod_refused();
    }
    Err(reply_error(Op::Chmod, reply, &show(temp)))
}

/// A 213 that carries a time answered a query: the server read `MDTM stamp path` as "the
/// time of the file named 'stamp path'" and set nothing (the caller's retry learns that).
fn mtime_result(reply: &Reply, temp: &Path) -> RemoteResult<()> {
    if reply.code == code::FILE_STATUS && reply.time_value().is_none() {
        Ok(())
    } else {
        Err(reply_error(Op::SetMtime, reply, &show(temp)))
    }
}

fn chmod_unsupported() -> RemoteError {
    RemoteError::new(
        RemoteErrorKind::Unsupported,
        "server does not support SITE CHMOD",
    )
}

fn mtime_unsupported() -> RemoteError {
    RemoteError::new(
        RemoteErrorKind::Unsupported,
        "server cannot set modification times",
    )
}

fn lost(to: &Path) -> RemoteError {
    RemoteError::new(
        RemoteErrorKind::Connection,
        format!("no reply to the rename of {}", show(to)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use Step::*;

    fn r(code: u16) -> Reply {
        let text = if code == 450 {
            "Please tell me what file you want to rename first"
        } else {
            "text"
        };
        Reply {
            code,
            lines: vec![format!("{code} {text}").into_bytes()],
        }
    }

    #[test]
    fn in_order_table() {
        let all = [Chmod, Mtime, Rnfr, Rnto];
        let cases: &[(&[Step], &[u16], bool)] = &[
            // vsftpd and friends: every step in its place, worked or refused.
            (&all, &[200, 213, 350, 250], true),
            (&all, &[550, 213, 350, 250], true),
            (&all, &[502, 550, 350, 250], true),
            (&all, &[200, 213, 550, 503], true),
            (&all, &[200, 213, 350, 553], true),
            (&[Rnfr, Rnto], &[350, 250], true),
            (&[Mtime, Rnfr, Rnto], &[213, 350, 250], true),
            (&[Chmod, Rnfr, Rnto], &[421, 350, 250], true),
            // Answers that belong to another step: the order was lost.
            (&all, &[213, 200, 350, 250], false),
            (&all, &[350, 213, 200, 250], false),
            (&all, &[250, 213, 350, 550], false),
            (&all, &[200, 250, 350, 213], false),
            (&[Chmod, Rnfr, Rnto], &[350, 550, 250], false),
            // A success code no step of ours answers (a server saying 250 to SITE CHMOD):
            // unknown, so handled as lost order (safe, only slower).
            (&[Chmod, Rnfr, Rnto], &[250, 350, 250], false),
            // libunftp runs them at once: RNTO came before RNFR ("450 ... rename first",
            // seen in place of MDTM's reply, whose 550 came last), or 503 out of place.
            (&all, &[502, 450, 350, 550], false),
            (&all, &[200, 503, 350, 250], false),
            (&[Rnfr, Rnto], &[503, 350], false),
            // RNTO's own complaint in its place: the rename outcome sorts it out.
            (&[Rnfr, Rnto], &[350, 450], true),
            // Fewer replies than commands.
            (&all, &[200, 213, 350], false),
        ];
        for (steps, codes, expected) in cases {
            let replies: Vec<Reply> = codes.iter().map(|&c| r(c)).collect();
            assert_eq!(in_order(steps, &replies), *expected, "{steps:?} {codes:?}");
        }
    }

    #[test]
    fn a_213_with_a_time_did_not_set_it() {
        let set = Reply {
            code: 213,
            lines: vec![b"213 File modification time set.".to_vec()],
        };
        assert!(mtime_result(&set, Path::new("/t")).is_ok());
        let query = Reply {
            code: 213,
            lines: vec![b"213 20201010101010".to_vec()],
        };
        assert!(mtime_result(&query, Path::new("/t")).is_err());
        assert!(mtime_result(&r(550), Path::new("/t")).is_err());
    }
}
