//! pjdfstest (the `pjdfstest` crate: the Rust port of the POSIX filesystem suite that fuser and
//! FreeBSD run) on real mounts of vsftpd, proftpd and pure-ftpd.
//!
//! The suite runs as root (the harness is root anyway: the servers need it) in a directory of
//! the mount. Tests that cannot pass over FTP are listed, each with its reason, in
//! tests/pjdfstest_expected_failures.txt; they are handed to pjdfstest as `expected_failures`,
//! so pjdfstest itself fails the run on any other failure AND on an expected failure that
//! passes (the list must shrink when ftpfs learns something). Every listed name must exist in
//! the suite, so a typo cannot hide a failure.
//!
//! The list's format, one test per line (`#` starts a comment):
//!
//! ```text
//! TEST_NAME   SERVERS   REASON...
//! ```
//!
//! SERVERS is `all` or a comma-separated list of server kinds (`vsftpd,proftpd`); REASON is
//! mandatory.

mod common;
mod posix_tools;

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;
use std::time::Duration;

use common::mount::Mount;
use common::{ServerKind, TestServer, temp_dir};
use posix_tools::{find_tool, run_bounded};

/// The checked-in list of tests that cannot pass over FTP, with their reasons.
const EXPECTED_FAILURES_FILE: &str = "tests/pjdfstest_expected_failures.txt";
/// A whole pjdfstest run taking longer than this is a hang.
const RUN_LIMIT: Duration = Duration::from_secs(900);

/// pjdfstest's configuration (the parts that do not depend on the server).
///
/// - features: `utimensat` and `utime_now` are what Linux has and ftpfs supports through
///   MFMT/MDTM; not posix_fallocate (FUSE fallocate: FTP cannot reserve space), not the BSD
///   chflags/ACL/birthtime ones, not rename_ctime (optional in POSIX).
/// - naptime: the tests sleep this long between two changes whose times they compare; ftpfs
///   shows its own changes at full clock precision, so a short nap is enough.
/// - dummy_auth: the users some tests switch to; Debian has nobody:nogroup, and install.sh
///   makes ftpfs-test.
const CONFIG_HEAD: &str = "\
# Written by tests/pjdfstest.rs; see its module doc.
[features]
utimensat = {}
utime_now = {}

[dummy_auth]
entries = [[\"nobody\", \"nogroup\"], [\"ftpfs-test\", \"ftpfs-test\"]]

[settings]
naptime = 0.05
allow_remount = false
";

#[test]
fn pjdfstest_vsftpd() {
    pjdfstest_on(ServerKind::Vsftpd);
}

#[test]
fn pjdfstest_proftpd() {
    pjdfstest_on(ServerKind::Proftpd);
}

#[test]
fn pjdfstest_pureftpd() {
    pjdfstest_on(ServerKind::PureFtpd);
}

/// One line of the expected-failures list.
#[derive(Debug)]
struct ExpectedFailure {
    name: String,
    servers: Option<Vec<ServerKind>>,
    reason: String,
}

impl ExpectedFailure {
    fn applies_to(&self, kind: ServerKind) -> bool {
        self.servers
            .as_ref()
            .is_none_or(|servers| servers.contains(&kind))
    }
}

fn parse_expected_failures(text: &str) -> Vec<ExpectedFailure> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                return None;
            }
            let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim_start();
            let (servers, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let (name, reason) = (name.to_string(), reason.trim().to_string());
            let number = index + 1;
            assert!(
                !servers.is_empty() && !reason.is_empty(),
                "{EXPECTED_FAILURES_FILE}:{number}: want `NAME SERVERS REASON`, got {line:?}"
            );
            let servers = (servers != "all").then(|| {
                servers
                    .split(',')
                    .map(|server| {
                        ServerKind::from_name(server).unwrap_or_else(|| {
                            panic!("{EXPECTED_FAILURES_FILE}:{number}: unknown server {server:?}")
                        })
                    })
                    .collect()
            });
            Some(ExpectedFailure {
                name,
                servers,
                reason,
            })
        })
        .collect()
}

/// The test-name lines pjdfstest printed, as (name, outcome).
fn outcomes(stdout: &str) -> Vec<(String, String)> {
    const OUTCOMES: [&str; 5] = [
        "ok",
        "FAILED",
        "skipped",
        "failed as expected",
        "PASSED UNEXPECTEDLY",
    ];
    stdout
        .lines()
        .filter(|line| !line.starts_with(char::is_whitespace))
        .filter_map(|line| {
            let (name, rest) = line.split_once(' ')?;
            let outcome = rest.trim();
            OUTCOMES
                .contains(&outcome)
                .then(|| (name.to_string(), outcome.to_string()))
        })
        .collect()
}

fn pjdfstest_on(kind: ServerKind) {
    let Some(pjdfstest) = find_tool("pjdfstest") else {
        return;
    };
    if !common::kinds_for_tests().contains(&kind) {
        return;
    }
    let list_path = common::repo_root().join(EXPECTED_FAILURES_FILE);
    let list = fs::read_to_string(&list_path)
        .unwrap_or_else(|error| panic!("read {}: {error}", list_path.display()));
    let expected: Vec<ExpectedFailure> = parse_expected_failures(&list)
        .into_iter()
        .filter(|failure| failure.applies_to(kind))
        .collect();
    let work = temp_dir("ftpfs-pjdfstest");
    let config = work.path().join("pjdfstest.toml");
    fs::write(&config, config_for(&expected)).expect("write pjdfstest.toml");

    let Some(server) = TestServer::try_start(kind) else {
        return;
    };
    let mount = Mount::new(&server);
    let finished = run_bounded(
        Command::new(&pjdfstest)
            .arg("-c")
            .arg(&config)
            .arg("-p")
            .arg(mount.dir())
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "0"),
        RUN_LIMIT,
    );
    let results = outcomes(&finished.stdout);
    let count = |outcome: &str| results.iter().filter(|(_, o)| o == outcome).count();
    eprintln!(
        "pjdfstest on {kind}: {} passed, {} failed, {} skipped, {} expected failures \
         ({} listed for {kind}), {} passed unexpectedly, in {:.1?}",
        count("ok"),
        count("FAILED"),
        count("skipped"),
        count("failed as expected"),
        expected.len(),
        count("PASSED UNEXPECTEDLY"),
        finished.elapsed
    );
    assert_listed_names_exist(&expected, &results, kind);
    let failures: Vec<String> = failure_reports(&finished.stdout);
    assert!(
        finished.status.success(),
        "pjdfstest failed on {kind} ({}): tests not in {EXPECTED_FAILURES_FILE} failed, or \
         listed ones passed (then remove them from the list):\n{}\n{}\n--- server logs ---\n{}",
        finished.status,
        failures.join("\n"),
        finished.tail(3),
        server.logs()
    );
    assert!(
        count("ok") > 0,
        "pjdfstest on {kind} passed no test at all:\n{}",
        finished.tail(40)
    );
    mount.unmount();
}

fn config_for(expected: &[ExpectedFailure]) -> String {
    let names: BTreeSet<&str> = expected
        .iter()
        .map(|failure| failure.name.as_str())
        .collect();
    let mut config = String::from(CONFIG_HEAD);
    config.push_str("expected_failures = [\n");
    for name in names {
        config.push_str(&format!("    {name:?},\n"));
    }
    config.push_str("]\n");
    config
}

/// Every listed name is a test pjdfstest ran (or skipped): a typo must not hide a failure.
fn assert_listed_names_exist(
    expected: &[ExpectedFailure],
    results: &[(String, String)],
    kind: ServerKind,
) {
    let known: BTreeSet<&str> = results.iter().map(|(name, _)| name.as_str()).collect();
    let unknown: Vec<String> = expected
        .iter()
        .filter(|failure| !known.contains(failure.name.as_str()))
        .map(|failure| format!("{} ({})", failure.name, failure.reason))
        .collect();
    assert!(
        unknown.is_empty(),
        "{EXPECTED_FAILURES_FILE} lists tests pjdfstest did not report on {kind}: {unknown:?}"
    );
}

/// Each unexpected result with the indented detail lines pjdfstest printed under it.
fn failure_reports(stdout: &str) -> Vec<String> {
    let mut reports = Vec::new();
    let mut current: Option<String> = None;
    for line in stdout.lines() {
        if line.starts_with(char::is_whitespace) {
            if let Some(report) = current.as_mut() {
                report.push('\n');
                report.push_str(line);
            }
            continue;
        }
        if let Some(report) = current.take() {
            reports.push(report);
        }
        if line.ends_with("FAILED") || line.ends_with("PASSED UNEXPECTEDLY") {
            current = Some(line.to_string());
        }
    }
    reports.extend(current);
    reports
}

#[test]
fn expected_failures_list_parses_and_gives_every_entry_a_reason() {
    let path = common::repo_root().join(EXPECTED_FAILURES_FILE);
    let list = parse_expected_failures(&fs::read_to_string(path).expect("read the list"));
    assert!(!list.is_empty());
    let mut seen = BTreeSet::new();
    for failure in &list {
        assert!(
            failure.name.contains("::"),
            "{failure:?}: not a pjdfstest name"
        );
        assert!(
            failure.reason.len() >= 10,
            "{failure:?}: the reason says nothing"
        );
        for kind in [
            ServerKind::Vsftpd,
            ServerKind::Proftpd,
            ServerKind::PureFtpd,
        ] {
            if failure.applies_to(kind) {
                assert!(
                    seen.insert((failure.name.clone(), kind.name())),
                    "{} is listed twice for {kind}",
                    failure.name
                );
            }
        }
    }
}
