//! Tests of the write-back engine (a separate file to keep `engine.rs` small).

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;

use super::*;

type Server = Arc<Mutex<HashMap<PathBuf, Vec<u8>>>>;

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ftpfs-wbe-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// An uploader into `server`; the first `fail` calls fail (transient or not).
fn uploader(server: &Server, fail: usize, transient: bool) -> Box<Uploader> {
    let server = Arc::clone(server);
    let calls = AtomicUsize::new(0);
    Box::new(move |record: &Record, data: &Location| {
        if calls.fetch_add(1, Ordering::SeqCst) < fail {
            return Err(UploadFailure {
                transient,
                message: "451 try later".into(),
            });
        }
        let bytes = data.read().map_err(|e| UploadFailure {
            transient: false,
            message: e.to_string(),
        })?;
        server.lock().insert(record.path.clone(), bytes);
        Ok(())
    })
}

const LONG: Duration = Duration::from_secs(30);

/// What a next mount of spool `d` would resume.
fn spooled(d: &Path) -> Vec<Record> {
    Store::open(d).unwrap().recover().unwrap().records
}

/// A write-back close of `data` to `path` with no recorded attributes, waiting up to `LONG`.
fn close(engine: &Engine, path: &str, data: &[u8]) -> Option<usize> {
    engine
        .close(
            Path::new(path),
            data.len() as u64,
            &mut &data[..],
            (None, None),
            false,
            LONG,
        )
        .unwrap()
}

/// An engine on `d` whose retries wait `LONG` (none happen unless a test makes them), and the
/// unreadable records its recovery reported.
fn start_reporting(
    d: &Path,
    size: u64,
    workers: usize,
    upload: Box<Uploader>,
) -> (Engine, Vec<(PathBuf, String)>) {
    Engine::start(d, size, workers, upload, |_| LONG, &|_| {}).unwrap()
}

/// `start_reporting` without the report.
fn start(d: &Path, size: u64, workers: usize, upload: Box<Uploader>) -> Engine {
    start_reporting(d, size, workers, upload).0
}

#[test]
fn close_returns_then_fsync_waits_for_the_upload() {
    let (server, d) = (Server::default(), dir("fsync"));
    let (engine, _) = Engine::start(
        &d,
        1 << 20,
        2,
        uploader(&server, 2, true),
        |_| Duration::ZERO,
        &|_| {},
    )
    .unwrap();
    assert_eq!(close(&engine, "/a", b"abc"), Some(0));
    engine.wait(Path::new("/a"), LONG).unwrap();
    assert_eq!(
        server.lock()[Path::new("/a")],
        b"abc",
        "retried after transient failures"
    );
    assert!(engine.drain(LONG).is_empty());
    assert!(spooled(&d).is_empty());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_permanent_failure_is_returned_and_the_data_kept() {
    let (server, d) = (Server::default(), dir("perm"));
    let engine = start(&d, 1 << 20, 1, uploader(&server, 1, false));
    close(&engine, "/a", b"x");
    let err = engine.wait(Path::new("/a"), LONG).unwrap_err();
    assert!(err.message.contains("451 try later"), "{err:?}");
    assert_eq!(engine.drain(LONG), vec![PathBuf::from("/a")]);
    let left = spooled(&d);
    assert_eq!(left.len(), 1, "the data stays in the spool");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_next_mount_resumes_what_a_dropped_one_left() {
    let (server, d) = (Server::default(), dir("resume"));
    let engine = start(&d, 1 << 20, 0, uploader(&server, 0, true));
    close(&engine, "/a", b"aa");
    close(&engine, "/b", b"b");
    assert_eq!(
        engine.with_queue(|q| q.rename(Path::new("/b"), Path::new("/c"))),
        super::super::queue::Outcome::Changed {
            rewrite: vec![Record {
                seq: 2,
                path: "/c".into(),
                size: 1,
                mtime: None,
                mode: None
            }],
            cancelled: vec![]
        }
    );
    // The hook makes the rename durable (what the fs will do on Outcome::Changed).
    Store::open(&d)
        .unwrap()
        .write_record(&Record {
            seq: 2,
            path: "/c".into(),
            size: 1,
            mtime: None,
            mode: None,
        })
        .unwrap();
    drop(engine); // like kill -9: no drain, no upload (no workers)
    assert!(server.lock().is_empty());
    let (engine, unreadable) = start_reporting(&d, 1 << 20, 1, uploader(&server, 0, true));
    assert!(unreadable.is_empty());
    assert!(engine.drain(LONG).is_empty());
    let server = server.lock();
    assert_eq!(
        (&server[Path::new("/a")][..], &server[Path::new("/c")][..]),
        (&b"aa"[..], &b"b"[..])
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_spool_serves_one_engine_at_a_time() {
    let (server, d) = (Server::default(), dir("lock"));
    let first = start(&d, 1 << 20, 1, uploader(&server, 0, true));
    let second = Engine::start(
        &d,
        1 << 20,
        1,
        uploader(&server, 0, true),
        |_| LONG,
        &|_| {},
    );
    let err = second.err().expect("the spool is taken");
    assert!(err.to_string().contains("in use by another mount"), "{err}");
    drop(first);
    drop(start(&d, 1 << 20, 1, uploader(&server, 0, true)));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_full_spool_makes_close_wait_and_large_files_bypass_it() {
    let (server, d) = (Server::default(), dir("full"));
    let (engine, _) =
        Engine::start(&d, 4, 0, uploader(&server, 0, true), |_| LONG, &|_| {}).unwrap();
    assert_eq!(close(&engine, "/big", b"12345"), None);
    assert_eq!(close(&engine, "/a", b"1234"), Some(0));
    let err = engine.close(
        Path::new("/b"),
        1,
        &mut &b"1"[..],
        (None, None),
        false,
        Duration::from_millis(10),
    );
    assert!(err.unwrap_err().message.contains("spool stayed full"));
    drop(engine);
    // With an uploader running, the waiting close gets the room /a's upload frees.
    let (engine, _) =
        Engine::start(&d, 4, 1, uploader(&server, 0, true), |_| LONG, &|_| {}).unwrap();
    assert_eq!(close(&engine, "/b", b"1"), Some(0));
    assert_eq!(server.lock()[Path::new("/a")], b"1234");
    assert!(engine.drain(LONG).is_empty());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_new_close_never_takes_the_number_of_an_unreadable_record() {
    let (server, d) = (Server::default(), dir("unreadable"));
    std::fs::create_dir_all(&d).unwrap();
    // Left by a newer ftpfs: a record this version cannot read, and its data.
    let kept_record = d.join(format!("{:020}.rec", 1));
    let kept_data = d.join(format!("{:020}.data", 1));
    std::fs::write(&kept_record, b"ftpfs-writeback 99\n").unwrap();
    std::fs::write(&kept_data, b"precious").unwrap();
    let (engine, unreadable) = start_reporting(&d, 1 << 20, 1, uploader(&server, 0, true));
    assert_eq!(unreadable.len(), 1);
    close(&engine, "/new", b"new");
    engine.wait(Path::new("/new"), LONG).unwrap();
    assert_eq!(server.lock()[Path::new("/new")], b"new");
    assert_eq!(std::fs::read(&kept_data).unwrap(), b"precious");
    assert_eq!(
        std::fs::read(&kept_record).unwrap(),
        b"ftpfs-writeback 99\n"
    );
    assert!(engine.drain(LONG).is_empty());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn unmount_does_not_wait_for_a_retry_backoff_to_end() {
    let (server, d) = (Server::default(), dir("backoff"));
    // Every attempt fails transiently; the backoff is LONG (30 s).
    let engine = start(&d, 1 << 20, 1, uploader(&server, usize::MAX, true));
    close(&engine, "/a", b"a");
    let began = Instant::now();
    // The worker is in (or about to start) its first backoff: the drain gives up after 0.3 s
    // and the worker must stop without sleeping out the rest of its 30 s.
    let left = engine.drain(Duration::from_millis(300));
    assert_eq!(left, vec![PathBuf::from("/a")], "left in the spool");
    assert!(
        began.elapsed() < LONG / 2,
        "unmount waited {:?} for a backoff",
        began.elapsed()
    );
    let kept = spooled(&d);
    assert_eq!(kept.len(), 1, "kept for the next mount");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_spool_of_format_1_is_resumed_and_left_empty() {
    let (server, d) = (Server::default(), dir("format1"));
    std::fs::create_dir_all(&d).unwrap();
    // Left by an ftpfs before the journal: one record and one data file per upload.
    for (seq, path, data) in [(1u64, "/one", &b"first"[..]), (2, "/two", b"second")] {
        let record = Record {
            seq,
            path: path.into(),
            size: data.len() as u64,
            mtime: None,
            mode: None,
        };
        std::fs::write(d.join(format!("{seq:020}.data")), data).unwrap();
        std::fs::write(d.join(format!("{seq:020}.rec")), record.encode()).unwrap();
    }
    let (engine, unreadable) = start_reporting(&d, 1 << 20, 1, uploader(&server, 0, true));
    assert!(unreadable.is_empty());
    close(&engine, "/three", b"third"); // a new close goes to the journal
    assert!(engine.drain(LONG).is_empty());
    let server = server.lock();
    assert_eq!(server[Path::new("/one")], b"first");
    assert_eq!(server[Path::new("/two")], b"second");
    assert_eq!(server[Path::new("/three")], b"third");
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name != "lock")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    std::fs::remove_dir_all(&d).unwrap();
}
