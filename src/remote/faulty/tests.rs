//! Tests of the fault switches and counters.

use super::*;
use std::io::{Read, Write};

#[test]
fn finish_can_fail_after_the_data_arrived() {
    let remote = TestRemote::new();
    let mut writer = remote.create(Path::new("/f")).unwrap();
    writer.write_all(b"hello").unwrap();
    assert_eq!(remote.file("/f").unwrap(), b"hello");
    remote.fail_next_finishes(1, RemoteErrorKind::NoSpace);
    assert_eq!(writer.finish().unwrap_err().kind, RemoteErrorKind::NoSpace);
    let writer = remote.append(Path::new("/f")).unwrap();
    writer.finish().unwrap();
    assert_eq!((remote.create_calls(), remote.append_calls()), (1, 1));
}

#[test]
fn failing_paths_refuse_everything_until_healed() {
    let remote = TestRemote::new();
    remote.add_file("/f", b"x".to_vec());
    remote.fail_path("/f", RemoteErrorKind::PermissionDenied);
    assert_eq!(
        remote.stat(Path::new("/f")).unwrap_err().kind,
        RemoteErrorKind::PermissionDenied
    );
    assert!(remote.open_read(Path::new("/f"), 0).is_err());
    remote.heal_path("/f");
    assert!(remote.stat(Path::new("/f")).is_ok());
}

#[test]
fn downloads_break_and_arrive_in_pieces() {
    let remote = TestRemote::new();
    remote.add_file("/f", b"0123456789".to_vec());
    remote.set_read_piece(3);
    remote.break_next_download_after(5);
    let mut reader = remote.open_read(Path::new("/f"), 2).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(reader.read(&mut buf).unwrap(), 3);
    assert_eq!(reader.read(&mut buf).unwrap(), 2);
    assert_eq!(&buf[..2], b"56");
    let err = RemoteError::from_io(reader.read(&mut buf).unwrap_err());
    assert_eq!(err.kind, RemoteErrorKind::Connection);
    // Only the next download breaks.
    let mut all = Vec::new();
    let mut reader = remote.open_read(Path::new("/f"), 0).unwrap();
    reader.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"0123456789");
}

#[test]
fn uploads_break_after_the_given_bytes() {
    let remote = TestRemote::new();
    remote.break_next_upload_after(4);
    let mut writer = remote.create(Path::new("/f")).unwrap();
    assert!(writer.write_all(b"abcdefgh").is_err());
    assert_eq!(remote.file("/f").unwrap(), b"abcd");
}

#[test]
fn rename_can_refuse_existing_targets() {
    let remote = TestRemote::new();
    remote.add_file("/x", b"2".to_vec());
    remote.add_file("/y", b"1".to_vec());
    remote.set_rename_refuses_existing_target(true);
    assert!(remote.rename(Path::new("/x"), Path::new("/y")).is_err());
    remote.rename(Path::new("/x"), Path::new("/z")).unwrap();
    assert_eq!(remote.rename_calls(), 2);
}

#[test]
fn rmdir_non_empty_can_be_vague() {
    let remote = TestRemote::new();
    remote.add_file("/d/a", b"1".to_vec());
    let err = remote.rmdir(Path::new("/d")).unwrap_err();
    assert_eq!(err.kind, RemoteErrorKind::NotEmpty);
    remote.set_rmdir_vague(true);
    let err = remote.rmdir(Path::new("/d")).unwrap_err();
    assert_eq!(err.kind, RemoteErrorKind::Other);
}

#[test]
fn listings_ahead_run_only_in_the_slots_given_and_count_as_listings() {
    let remote = TestRemote::new();
    remote.add_file("/d/f", b"1".to_vec());
    let ahead = |wanted: bool| remote.list_ahead(Path::new("/d"), false, &mut || wanted);
    assert!(ahead(true).is_none(), "no slots unless a test asks");
    remote.set_list_ahead_slots(1);
    assert!(ahead(false).is_none(), "not wanted once started");
    assert_eq!(remote.list_calls(), 0);
    assert_eq!(ahead(true).unwrap().unwrap().len(), 1);
    remote.fail_path("/d", RemoteErrorKind::PermissionDenied);
    let err = ahead(true).unwrap().unwrap_err();
    assert_eq!(err.kind, RemoteErrorKind::PermissionDenied);
    assert_eq!(remote.list_calls(), 2);
}

#[test]
fn missing_features_are_refused() {
    let remote = TestRemote::new();
    remote.add_file("/d/f", b"1".to_vec());
    remote.set_dir_mtime_refused(true);
    let now = SystemTime::now();
    assert!(remote.set_mtime(Path::new("/d/f"), now).is_ok());
    assert!(remote.set_mtime(Path::new("/d"), now).is_err());
    remote.set_mtime_unsupported(true);
    assert_eq!(
        remote.set_mtime(Path::new("/d/f"), now).unwrap_err().kind,
        RemoteErrorKind::Unsupported
    );
    remote.set_chmod_unsupported(true);
    assert!(remote.chmod(Path::new("/d/f"), 0o600).is_err());
}
