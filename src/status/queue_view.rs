//! The write-back queue in `ftpfs status`: a few lines for people (failures first, then the
//! oldest pending files, at most `LIST_MAX` of them) and a JSON object for scripts.
//!
//! JSON: `null` when write-back is off, else {`spool`, `pending_count`, `pending_bytes`,
//! `failed_count`, `files` [{`path`, `bytes`, `state` (queued, uploading, failed),
//! `failed_attempts`, `last_error` (null when none)}], `files_omitted`}. `files` lists failures
//! first, then the rest oldest first, at most `JSON_MAX` entries.

use std::fmt::Write;

use super::registry::{PendingUpload, UploadState, Writeback};
use super::render::{json_string, size_text};

/// Files listed in the text view (a queue may hold thousands).
const LIST_MAX: usize = 20;
/// Files listed in the JSON view (each a few hundred bytes at most; the answer limit is 1 MiB).
const JSON_MAX: usize = 1000;

/// Failures first (they need someone), then the queue oldest first.
fn ordered(writeback: &Writeback) -> impl Iterator<Item = &PendingUpload> {
    let failed = |p: &&PendingUpload| p.state == UploadState::Failed;
    let queue = &writeback.pending;
    queue
        .iter()
        .filter(failed)
        .chain(queue.iter().filter(move |p| !failed(p)))
}

fn failed_count(writeback: &Writeback) -> usize {
    let failed = writeback.pending.iter();
    failed.filter(|p| p.state == UploadState::Failed).count()
}

fn bytes(writeback: &Writeback) -> u64 {
    writeback.pending.iter().map(|p| p.bytes).sum()
}

/// The text lines (each ending in a newline).
pub(crate) fn text(writeback: &Writeback) -> String {
    let mut out = String::new();
    let count = writeback.pending.len();
    if count == 0 {
        let _ = writeln!(
            out,
            "write-back: nothing pending (spool {})",
            writeback.spool
        );
        return out;
    }
    let _ = write!(
        out,
        "write-back: {count} file(s) not on the server yet, {}",
        size_text(bytes(writeback))
    );
    match failed_count(writeback) {
        0 => {}
        failed => {
            let _ = write!(out, ", {failed} FAILED for good (data kept in the spool)");
        }
    }
    let _ = writeln!(out, " (spool {})", writeback.spool);
    for upload in ordered(writeback).take(LIST_MAX) {
        let _ = write!(
            out,
            "  {:<9} {}  {}",
            upload.state.name(),
            upload.path,
            size_text(upload.bytes)
        );
        if upload.failed_attempts > 0 {
            let _ = write!(out, "  {} failed attempt(s)", upload.failed_attempts);
        }
        if let Some(error) = &upload.last_error {
            let _ = write!(out, ", last: {error}");
        }
        out.push('\n');
    }
    if count > LIST_MAX {
        let _ = writeln!(out, "  ... and {} more", count - LIST_MAX);
    }
    out
}

/// The JSON value (`null` when write-back mode is off).
pub(crate) fn json(writeback: Option<&Writeback>) -> String {
    let Some(writeback) = writeback else {
        return "null".into();
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "{{\"spool\":{},\"pending_count\":{},\"pending_bytes\":{},\"failed_count\":{},\"files\":[",
        json_string(&writeback.spool),
        writeback.pending.len(),
        bytes(writeback),
        failed_count(writeback)
    );
    for (i, upload) in ordered(writeback).take(JSON_MAX).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let error = upload
            .last_error
            .as_deref()
            .map_or("null".to_string(), json_string);
        let _ = write!(
            out,
            "{{\"path\":{},\"bytes\":{},\"state\":\"{}\",\"failed_attempts\":{},\
             \"last_error\":{error}}}",
            json_string(&upload.path),
            upload.bytes,
            upload.state.name().to_ascii_lowercase(),
            upload.failed_attempts
        );
    }
    let omitted = writeback.pending.len().saturating_sub(JSON_MAX);
    let _ = write!(out, "],\"files_omitted\":{omitted}}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(path: &str, state: UploadState, attempts: u32, error: Option<&str>) -> PendingUpload {
        PendingUpload {
            path: path.into(),
            bytes: 2048,
            state,
            failed_attempts: attempts,
            last_error: error.map(str::to_string),
        }
    }

    fn queue() -> Writeback {
        Writeback {
            spool: "/var/cache/ftpfs/x".into(),
            pending: vec![
                upload("/a", UploadState::Uploading, 2, Some("421 busy")),
                upload("/b", UploadState::Queued, 0, None),
                upload("/c \"x\"", UploadState::Failed, 0, Some("553 denied")),
            ],
        }
    }

    #[test]
    fn text_lists_failures_first_then_the_queue() {
        assert_eq!(
            text(&queue()),
            "write-back: 3 file(s) not on the server yet, 6.0 KiB, 1 FAILED for good (data kept \
             in the spool) (spool /var/cache/ftpfs/x)\n\
             \x20 FAILED    /c \"x\"  2.0 KiB, last: 553 denied\n\
             \x20 uploading /a  2.0 KiB  2 failed attempt(s), last: 421 busy\n\
             \x20 queued    /b  2.0 KiB\n"
        );
        let empty = Writeback {
            spool: "/s".into(),
            pending: Vec::new(),
        };
        assert_eq!(text(&empty), "write-back: nothing pending (spool /s)\n");
    }

    #[test]
    fn a_long_queue_is_cut_short() {
        let pending = (0..LIST_MAX + 5)
            .map(|i| upload(&format!("/f{i}"), UploadState::Queued, 0, None))
            .collect();
        let long = text(&Writeback {
            spool: "/s".into(),
            pending,
        });
        assert_eq!(long.lines().count(), 1 + LIST_MAX + 1);
        assert!(long.ends_with("  ... and 5 more\n"), "{long}");
    }

    #[test]
    fn json_shape() {
        assert_eq!(json(None), "null");
        assert_eq!(
            json(Some(&queue())),
            "{\"spool\":\"/var/cache/ftpfs/x\",\"pending_count\":3,\"pending_bytes\":6144,\
             \"failed_count\":1,\"files\":[\
             {\"path\":\"/c \\\"x\\\"\",\"bytes\":2048,\"state\":\"failed\",\"failed_attempts\":0,\
             \"last_error\":\"553 denied\"},\
             {\"path\":\"/a\",\"bytes\":2048,\"state\":\"uploading\",\"failed_attempts\":2,\
             \"last_error\":\"421 busy\"},\
             {\"path\":\"/b\",\"bytes\":2048,\"state\":\"queued\",\"failed_attempts\":0,\
             \"last_error\":null}],\"files_omitted\":0}"
        );
    }
}
