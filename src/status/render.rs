//! `ftpfs status` output: a human view (fits a terminal, no colours, works in a pipe) and JSON
//! for scripts. Pure functions of a `Snapshot`, so they are table-tested here.
//!
//! The JSON is written by hand (no serde): a fixed, flat shape with strings escaped per RFC 8259.
//! Keys: `mountpoint`, `server`, `pid`, `uptime_secs`, `connections` {`busy`, `idle`, `limit`,
//! `configured`} (null when unknown), `transfers` [{`path`, `direction`, `bytes_done`,
//! `bytes_total` (null when unknown), `rate_bytes_per_sec`, `elapsed_secs`}], `cache` {`hits`,
//! `misses`}, `errors` {`count`, `last`, `last_at_unix`} (null when none), `writeback` (null
//! when off; see `queue_view`).

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use super::queue_view;
use super::registry::{Snapshot, TransferSnapshot};

/// Which mount the snapshot belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MountInfo {
    pub mountpoint: String,
    /// `ftp://host[:port][/root]`, never the user or password.
    pub server: String,
    pub pid: u32,
    pub uptime: Duration,
}

/// Width of the progress bar, between the brackets.
const BAR_WIDTH: usize = 20;

/// The human view, one fact per line.
pub(crate) fn text(info: &MountInfo, snapshot: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} on {}", info.server, info.mountpoint);
    let _ = writeln!(out, "  pid {}, up {}", info.pid, duration_text(info.uptime));
    match snapshot.connections {
        Some(c) if c.limit < c.configured => {
            let _ = writeln!(
                out,
                "connections: {} busy, {} idle, limit {} (server allows fewer than the {} asked)",
                c.busy, c.idle, c.limit, c.configured
            );
        }
        Some(c) => {
            let _ = writeln!(
                out,
                "connections: {} busy, {} idle, limit {}",
                c.busy, c.idle, c.limit
            );
        }
        None => out.push_str("connections: unknown\n"),
    }
    if snapshot.transfers.is_empty() {
        out.push_str("transfers: none\n");
    } else {
        let _ = writeln!(out, "transfers: {}", snapshot.transfers.len());
        for transfer in &snapshot.transfers {
            out.push_str(&transfer_line(transfer));
            out.push('\n');
        }
    }
    let lookups = snapshot.cache_hits + snapshot.cache_misses;
    let _ = write!(
        out,
        "cache: {} hits, {} misses",
        snapshot.cache_hits, snapshot.cache_misses
    );
    if let Some(percent) = (snapshot.cache_hits * 100).checked_div(lookups) {
        let _ = write!(out, " ({percent}% hits)");
    }
    out.push('\n');
    let _ = write!(out, "errors since mount: {}", snapshot.errors);
    if let Some((at, message)) = &snapshot.last_error {
        let ago = SystemTime::now().duration_since(*at).unwrap_or_default();
        let _ = write!(out, "\n  last, {} ago: {message}", duration_text(ago));
    }
    out.push('\n');
    if let Some(writeback) = &snapshot.writeback {
        out.push_str(&queue_view::text(writeback));
    }
    out
}

/// `  download /path  1.0 MiB / 8.0 MiB [####----] 12%  3.4 MiB/s`
fn transfer_line(transfer: &TransferSnapshot) -> String {
    let mut line = format!(
        "  {:<8} {}  {}",
        transfer.direction.name(),
        transfer.path,
        size_text(transfer.done)
    );
    if let Some(total) = transfer.total {
        let _ = write!(line, " / {}", size_text(total));
        if let Some(percent) = percent(transfer.done, total) {
            let _ = write!(line, " {} {percent:>3}%", bar(percent));
        }
    }
    let _ = write!(line, "  {}/s", size_text(transfer.rate as u64));
    line
}

fn percent(done: u64, total: u64) -> Option<u64> {
    (total > 0).then(|| (u128::from(done.min(total)) * 100 / u128::from(total)) as u64)
}

fn bar(percent: u64) -> String {
    let filled = (percent as usize * BAR_WIDTH / 100).min(BAR_WIDTH);
    format!("[{}{}]", "#".repeat(filled), "-".repeat(BAR_WIDTH - filled))
}

/// Bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `3.0 GiB`.
pub(crate) fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `45s`, `3m 05s`, `2h 07m`, `3d 04h`.
pub(crate) fn duration_text(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {:02}h", secs / 86400, secs % 86400 / 3600),
    }
}

/// The JSON view (one object, one line).
pub(crate) fn json(info: &MountInfo, snapshot: &Snapshot) -> String {
    let mut out = String::from("{");
    let _ = write!(
        out,
        "\"mountpoint\":{},\"server\":{},\"pid\":{},\"uptime_secs\":{},",
        json_string(&info.mountpoint),
        json_string(&info.server),
        info.pid,
        info.uptime.as_secs()
    );
    out.push_str("\"connections\":");
    match snapshot.connections {
        Some(c) => {
            let _ = write!(
                out,
                "{{\"busy\":{},\"idle\":{},\"limit\":{},\"configured\":{}}}",
                c.busy, c.idle, c.limit, c.configured
            );
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"transfers\":[");
    for (i, t) in snapshot.transfers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let total = t.total.map_or("null".to_string(), |n| n.to_string());
        let _ = write!(
            out,
            "{{\"path\":{},\"direction\":\"{}\",\"bytes_done\":{},\"bytes_total\":{total},\
             \"rate_bytes_per_sec\":{},\"elapsed_secs\":{:.3}}}",
            json_string(&t.path),
            t.direction.name(),
            t.done,
            t.rate.round() as u64,
            t.elapsed.as_secs_f64()
        );
    }
    let _ = write!(
        out,
        "],\"cache\":{{\"hits\":{},\"misses\":{}}},\"errors\":{{\"count\":{},\"last\":",
        snapshot.cache_hits, snapshot.cache_misses, snapshot.errors
    );
    match &snapshot.last_error {
        Some((at, message)) => {
            let unix = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let _ = write!(out, "{},\"last_at_unix\":{unix}", json_string(message));
        }
        None => out.push_str("null,\"last_at_unix\":null"),
    }
    let writeback = queue_view::json(snapshot.writeback.as_ref());
    let _ = writeln!(out, "}},\"writeback\":{writeback}}}");
    out
}

/// A JSON string literal.
pub(crate) fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::super::registry::{Connections, Direction};
    use super::*;

    fn info() -> MountInfo {
        MountInfo {
            mountpoint: "/mnt/ftp".into(),
            server: "ftp://h:2121".into(),
            pid: 42,
            uptime: Duration::from_secs(65),
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            connections: Some(Connections {
                busy: 1,
                idle: 2,
                limit: 3,
                configured: 4,
            }),
            transfers: vec![TransferSnapshot {
                path: "/big \"file\"".into(),
                direction: Direction::Download,
                done: 3 << 20,
                total: Some(12 << 20),
                rate: 1536.0,
                elapsed: Duration::from_millis(2500),
            }],
            cache_hits: 1,
            cache_misses: 3,
            errors: 0,
            last_error: None,
            writeback: None,
        }
    }

    #[test]
    fn sizes_and_durations() {
        for (bytes, text) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (5 << 30, "5.0 GiB"),
            (u64::MAX, "16384.0 PiB"),
        ] {
            assert_eq!(size_text(bytes), text, "{bytes}");
        }
        for (secs, text) in [
            (0, "0s"),
            (59, "59s"),
            (65, "1m 05s"),
            (7260, "2h 01m"),
            (90000, "1d 01h"),
        ] {
            assert_eq!(duration_text(Duration::from_secs(secs)), text);
        }
    }

    #[test]
    fn progress_bar_and_percent() {
        assert_eq!(percent(0, 0), None);
        assert_eq!(percent(50, 200), Some(25));
        assert_eq!(percent(300, 200), Some(100));
        assert_eq!(percent(u64::MAX, u64::MAX), Some(100));
        assert_eq!(bar(0), format!("[{}]", "-".repeat(20)));
        assert_eq!(bar(25), format!("[#####{}]", "-".repeat(15)));
        assert_eq!(bar(100), format!("[{}]", "#".repeat(20)));
    }

    #[test]
    fn text_view_shows_every_part() {
        let text = text(&info(), &snapshot());
        assert!(text.starts_with("ftp://h:2121 on /mnt/ftp\n  pid 42, up 1m 05s\n"));
        assert!(text.contains("connections: 1 busy, 2 idle, limit 3 (server allows fewer"));
        assert!(text.contains(
            "  download /big \"file\"  3.0 MiB / 12.0 MiB [#####---------------]  25%  1.5 KiB/s"
        ));
        assert!(text.contains("cache: 1 hits, 3 misses (25% hits)\n"));
        assert!(text.ends_with("errors since mount: 0\n"));
    }

    #[test]
    fn json_escapes_and_nulls() {
        assert_eq!(json_string("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
        let mut empty = snapshot();
        empty.connections = None;
        empty.transfers.clear();
        assert_eq!(
            json(&info(), &empty),
            "{\"mountpoint\":\"/mnt/ftp\",\"server\":\"ftp://h:2121\",\"pid\":42,\
             \"uptime_secs\":65,\"connections\":null,\"transfers\":[],\
             \"cache\":{\"hits\":1,\"misses\":3},\
             \"errors\":{\"count\":0,\"last\":null,\"last_at_unix\":null},\
             \"writeback\":null}\n"
        );
        let full = json(&info(), &snapshot());
        assert!(full.contains(
            "\"transfers\":[{\"path\":\"/big \\\"file\\\"\",\"direction\":\"download\",\
             \"bytes_done\":3145728,\"bytes_total\":12582912,\"rate_bytes_per_sec\":1536,\
             \"elapsed_secs\":2.500}]"
        ));
    }
}
