//! Write-back mode: reads of a file whose upload is still pending see the spooled data at once.

use std::sync::mpsc;
use std::time::Duration;

use super::writeback::{mount_writeback, spool_dir};
use super::*;

/// Open `path` read-only and read it whole on another thread; the content, or a panic when
/// that takes longer than a few seconds (it would be waiting for the held upload).
fn read_without_waiting(fs: &Arc<FsCore>, path: &str) -> Vec<u8> {
    let (fs, ino) = (Arc::clone(fs), ino(fs, path));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let read = fs.open(ino, libc::O_RDONLY).and_then(|fh| {
            let data = fs.read(fh, 0, 1 << 16).map(|d| d.as_ref().to_vec());
            fs.release(fh)?;
            data
        });
        let _ = tx.send(read);
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("the read waited for the upload")
        .unwrap()
}

#[test]
fn reads_of_a_pending_file_see_the_spooled_data_without_waiting() {
    let (remote, dir) = (MemoryRemote::new(), spool_dir("reads"));
    remote.add_file("/old", b"server version".to_vec());
    let fs = mount_writeback(&remote, &dir);
    let gate = remote.hold_uploads();

    let fh = fs
        .open(ino(&fs, "/old"), libc::O_WRONLY | libc::O_TRUNC)
        .unwrap();
    fs.write(fh, 0, b"pending version").unwrap();
    fs.release(fh).unwrap();
    let (_, fh) = fs
        .create(ROOT_INO, name("new"), libc::O_WRONLY | libc::O_CREAT)
        .unwrap();
    fs.write(fh, 0, b"fresh").unwrap();
    fs.release(fh).unwrap();

    assert_eq!(read_without_waiting(&fs, "/old"), b"pending version");
    assert_eq!(read_without_waiting(&fs, "/new"), b"fresh");
    assert_eq!(
        remote.file("/old").unwrap(),
        b"server version",
        "the upload is still held back"
    );
    assert!(!remote.exists("/new"));

    drop(gate);
    fs.shutdown().unwrap();
    assert_eq!(remote.file("/old").unwrap(), b"pending version");
    assert_eq!(
        read_without_waiting(&fs, "/new"),
        b"fresh",
        "after the upload"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
