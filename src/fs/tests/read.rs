use super::*;
use crate::cache::CHUNK_SIZE;

const KIB: u32 = 1024;

/// Every read must come from the stream: nothing is served from the chunk LRU.
fn mount_without_chunk_cache(remote: &MemoryRemote) -> Arc<FsCore> {
    mount_with(
        remote,
        FsConfig {
            cache_size: 0,
            ..config()
        },
    )
}

#[test]
fn sequential_reads_ride_one_download() {
    let remote = MemoryRemote::new();
    let content = pattern(3 * 1024 * 1024 + 17);
    remote.add_file("/big", content.clone());
    remote.set_read_piece(10_000);
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/big"), libc::O_RDONLY).unwrap();
    assert_eq!(read_all(&fs, fh, 128 * KIB), content);
    assert_eq!(remote.open_read_calls(), 1);
    fs.release(fh).unwrap();
}

#[test]
fn short_skips_and_slightly_reordered_reads_keep_the_stream() {
    let remote = MemoryRemote::new();
    let content = pattern(1024 * 1024);
    remote.add_file("/f", content.clone());
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/f"), libc::O_RDONLY).unwrap();
    let piece = 128 * KIB as usize;
    let at = |i: usize| &content[i * piece..(i + 1) * piece];
    assert_eq!(fs.read(fh, 0, 128 * KIB).unwrap(), at(0));
    // readahead on another thread came first: skip forward...
    assert_eq!(fs.read(fh, 2 * piece as u64, 128 * KIB).unwrap(), at(2));
    // ...then the read in between is served from the recent window.
    assert_eq!(fs.read(fh, piece as u64, 128 * KIB).unwrap(), at(1));
    assert_eq!(fs.read(fh, 3 * piece as u64, 128 * KIB).unwrap(), at(3));
    assert_eq!(remote.open_read_calls(), 1);
}

#[test]
fn far_and_backward_seeks_reopen_at_the_offset() {
    let remote = MemoryRemote::new();
    let content = pattern(8 * 1024 * 1024);
    remote.add_file("/f", content.clone());
    let fs = mount_without_chunk_cache(&remote);
    let fh = fs.open(ino(&fs, "/f"), libc::O_RDONLY).unwrap();
    assert_eq!(fs.read(fh, 0, 4096).unwrap(), &content[..4096]);
    let far = 6 * 1024 * 1024;
    assert_eq!(
        fs.read(fh, far, 4096).unwrap(),
        &content[far as usize..far as usize + 4096]
    );
    assert_eq!(remote.open_read_calls(), 2);
    // Back to the start: outside the 2 MiB window, so a new download.
    assert_eq!(fs.read(fh, 100, 10).unwrap(), &content[100..110]);
    assert_eq!(remote.open_read_calls(), 3);
}

#[test]
fn end_of_file_is_where_the_download_ends_not_the_listed_size() {
    let remote = MemoryRemote::new();
    remote.add_file("/virtual", b"".to_vec());
    let fs = mount(&remote);
    let f = ino(&fs, "/virtual");
    assert_eq!(fs.getattr(f).unwrap().size, 0, "listing says empty");
    remote.add_file("/virtual", b"generated content".to_vec());
    let fh = fs.open(f, libc::O_RDONLY).unwrap();
    assert_eq!(read_all(&fs, fh, 4), b"generated content");
}

#[test]
fn rereads_are_served_from_the_chunk_cache() {
    let remote = MemoryRemote::new();
    let content = pattern(CHUNK_SIZE as usize * 2 + 100);
    remote.add_file("/f", content.clone());
    let fs = mount(&remote);
    let f = ino(&fs, "/f");
    let fh = fs.open(f, libc::O_RDONLY).unwrap();
    assert_eq!(read_all(&fs, fh, 64 * KIB), content);
    fs.release(fh).unwrap();
    assert_eq!(remote.open_read_calls(), 1);

    let fh = fs.open(f, libc::O_RDONLY).unwrap();
    let (hits_before, _) = fs.chunk_cache_stats();
    assert_eq!(fs.read(fh, 10, 100).unwrap(), &content[10..110]);
    assert_eq!(read_all(&fs, fh, 64 * KIB), content);
    assert_eq!(remote.open_read_calls(), 1, "no new download");
    assert!(fs.chunk_cache_stats().0 > hits_before);
}

#[test]
fn a_changed_file_is_not_served_stale_chunks() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"version one".to_vec());
    let fs = mount_with(
        &remote,
        FsConfig {
            dir_cache_ttl: Duration::ZERO,
            ..config()
        },
    );
    let f = ino(&fs, "/f");
    let fh = fs.open(f, libc::O_RDONLY).unwrap();
    assert_eq!(read_all(&fs, fh, 4096), b"version one");
    fs.release(fh).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    remote.add_file("/f", b"version two!".to_vec());
    let fh = fs.open(f, libc::O_RDONLY).unwrap();
    assert_eq!(read_all(&fs, fh, 4096), b"version two!");
}

#[test]
fn read_errors_carry_the_errno() {
    let remote = MemoryRemote::new();
    remote.add_file("/f", b"x".to_vec());
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/f"), libc::O_RDONLY).unwrap();
    remote.fail_path("/f", crate::remote::RemoteErrorKind::PermissionDenied);
    assert_eq!(fs.read(fh, 0, 10).unwrap_err().errno, libc::EACCES);
    assert_eq!(fs.read(999, 0, 10).unwrap_err().errno, libc::EBADF);
}

#[test]
fn a_download_broken_midway_resumes_where_it_stopped() {
    let remote = MemoryRemote::new();
    let content = pattern(700 * 1024);
    remote.add_file("/f", content.clone());
    remote.break_next_download_after(300 * 1024 + 5);
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/f"), libc::O_RDONLY).unwrap();
    assert_eq!(read_all(&fs, fh, 128 * KIB), content);
    assert_eq!(remote.open_read_calls(), 2, "one resume at the break");
}

#[test]
fn a_read_inside_one_received_block_shares_it_instead_of_copying() {
    let remote = MemoryRemote::new();
    let block = CHUNK_SIZE as usize;
    let content = pattern(4 * block);
    remote.add_file("/f", content.clone());
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/f"), libc::O_RDONLY).unwrap();
    // cp and cat read st_blksize (1 MiB = one chunk) at a time.
    for i in 0..4 {
        let data = fs.read(fh, (i * block) as u64, block as u32).unwrap();
        assert_eq!(data, &content[i * block..(i + 1) * block]);
        assert!(
            matches!(data, crate::cache::ReadData::Shared { .. }),
            "read {i} was copied"
        );
    }
}

/// Reads at scattered offsets and sizes, with and without the chunk cache, against a download
/// delivered in odd-sized pieces: every answer must match the content byte for byte.
#[test]
fn scattered_reads_always_return_the_right_bytes() {
    let content = pattern(3 * CHUNK_SIZE as usize + 12_345);
    for cache_size in [0, 64 * CHUNK_SIZE] {
        let remote = MemoryRemote::new();
        remote.add_file("/f", content.clone());
        remote.set_read_piece(7_777);
        let fs = mount_with(
            &remote,
            FsConfig {
                cache_size,
                ..config()
            },
        );
        let fh = fs.open(ino(&fs, "/f"), libc::O_RDONLY).unwrap();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let len = content.len() as u64;
        for _ in 0..400 {
            let offset = next() % (len + 1000);
            let size = (next() % (600 * 1024)) as u32 + 1;
            let data = fs.read(fh, offset, size).unwrap();
            let from = offset.min(len) as usize;
            let to = (offset + u64::from(size)).min(len) as usize;
            assert_eq!(data, &content[from..to], "offset {offset} size {size}");
        }
        fs.release(fh).unwrap();
    }
}

#[test]
fn a_failed_download_fails_the_next_reads_at_once_then_is_retried() {
    let remote = MemoryRemote::new();
    let content = pattern(4 * CHUNK_SIZE as usize);
    remote.add_file("/f", content.clone());
    let fs = mount_without_chunk_cache(&remote);
    let fh = fs.open(ino(&fs, "/f"), libc::O_RDONLY).unwrap();
    assert_eq!(fs.read(fh, 0, 4096).unwrap(), &content[..4096]);
    remote.fail_path("/f", crate::remote::RemoteErrorKind::TimedOut);
    let far = 3 * CHUNK_SIZE; // beyond the skip limit: needs a new download
    assert_eq!(fs.read(fh, far, 10).unwrap_err().errno, libc::ETIMEDOUT);
    let calls = remote.open_read_calls();
    assert_eq!(fs.read(fh, far, 10).unwrap_err().errno, libc::ETIMEDOUT);
    assert_eq!(
        remote.open_read_calls(),
        calls,
        "failed fast, no new attempt"
    );
    // Once the failure is old, the next read tries again.
    remote.heal_path("/f");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let far = far as usize;
    assert_eq!(
        fs.read(fh, far as u64, 10).unwrap(),
        &content[far..far + 10]
    );
}

#[test]
fn an_idle_download_can_be_suspended_and_resumes_where_it_was() {
    let remote = MemoryRemote::new();
    let content = pattern(3 * CHUNK_SIZE as usize);
    remote.add_file("/f", content.clone());
    let fs = mount_without_chunk_cache(&remote);
    let fh = fs.open(ino(&fs, "/f"), libc::O_RDONLY).unwrap();
    let block = 64 * KIB as usize;
    assert_eq!(fs.read(fh, 0, 64 * KIB).unwrap(), &content[..block]);
    assert_eq!(
        fs.relieve_transfer_pressure(Duration::from_secs(60)),
        0,
        "recently used"
    );
    assert_eq!(fs.relieve_transfer_pressure(Duration::ZERO), 1);
    assert_eq!(
        fs.relieve_transfer_pressure(Duration::ZERO),
        0,
        "nothing left to give"
    );
    let calls = remote.open_read_calls();
    // Behind the position: still in the window, no download needed.
    assert_eq!(fs.read(fh, 10, 100).unwrap(), &content[10..110]);
    assert_eq!(remote.open_read_calls(), calls);
    // Onward: one new download from where the old one stopped, then it streams on.
    let mut offset = block;
    while offset < content.len() {
        let data = fs.read(fh, offset as u64, 256 * KIB).unwrap();
        assert_eq!(data, &content[offset..offset + data.len()]);
        offset += data.len();
    }
    assert_eq!(remote.open_read_calls(), calls + 1);
    fs.release(fh).unwrap();
}

/// A short answer is end of file to the kernel (with the page cache it even shrinks the file),
/// so after a failed download a read reaching past what arrived must fail or be complete.
#[test]
fn after_a_failed_download_reads_past_the_received_bytes_are_never_short() {
    let remote = MemoryRemote::new();
    let content = pattern(4 * CHUNK_SIZE as usize);
    remote.add_file("/f", content.clone());
    remote.set_read_piece(64 * 1024);
    remote.break_next_download_after(300 * 1024);
    let fs = mount_without_chunk_cache(&remote);
    let fh = fs.open(ino(&fs, "/f"), libc::O_RDONLY).unwrap();
    assert_eq!(fs.read(fh, 0, 128 * KIB).unwrap(), &content[..128 * 1024]);
    remote.fail_path("/f", crate::remote::RemoteErrorKind::Connection);
    // The download breaks at 300 KiB and cannot be reopened.
    assert!(fs.read(fh, 128 * 1024, 256 * KIB).is_err());
    remote.heal_path("/f");
    let (offset, size) = (200 * 1024, 256 * 1024);
    let expected = &content[offset..offset + size];
    match fs.read(fh, offset as u64, size as u32) {
        Ok(data) => {
            assert_eq!(data.len(), size, "a short read would mean end of file");
            assert!(data == expected);
        }
        Err(err) => assert_ne!(err.errno, 0, "an error, not a short read: fine"),
    }
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let again = fs.read(fh, offset as u64, size as u32).unwrap();
    assert_eq!(again.len(), size);
    assert!(again == expected);
    fs.release(fh).unwrap();
}

/// One long read may fill only a share of the chunk cache (plus its last chunk), so a big copy
/// does not evict everything else and its buffers are recycled instead.
#[test]
fn a_long_sequential_read_fills_only_its_share_of_the_chunk_cache() {
    let remote = MemoryRemote::new();
    let chunk = CHUNK_SIZE as usize;
    let content = pattern(6 * chunk + 100);
    remote.add_file("/big", content.clone());
    let fs = mount_with(
        &remote,
        FsConfig {
            cache_size: 8 * (CHUNK_SIZE + 1024),
            ..config()
        },
    );
    let fh = fs.open(ino(&fs, "/big"), libc::O_RDONLY).unwrap();
    assert_eq!(read_all(&fs, fh, chunk as u32), content);
    fs.release(fh).unwrap();
    let cached = fs.namespace.chunks().bytes();
    assert!(
        cached <= 3 * CHUNK_SIZE + 100 + 3 * 1024,
        "{cached} bytes cached: more than a quarter of the budget plus the last chunk"
    );
    let downloads = remote.open_read_calls();
    let fh = fs.open(ino(&fs, "/big"), libc::O_RDONLY).unwrap();
    // The head and the tail come from the cache, the middle needs a download.
    assert_eq!(fs.read(fh, 0, 100).unwrap(), &content[..100]);
    let tail = 6 * chunk;
    assert_eq!(fs.read(fh, tail as u64, 100).unwrap(), &content[tail..]);
    assert_eq!(remote.open_read_calls(), downloads);
    let middle = 4 * chunk;
    assert_eq!(
        fs.read(fh, middle as u64, 100).unwrap(),
        &content[middle..middle + 100]
    );
    assert_eq!(remote.open_read_calls(), downloads + 1);
    fs.release(fh).unwrap();
}

/// A chunk assembled from two downloads (a resume after a cut or a suspension) could mix two
/// versions of a file changed in between: it is served but never cached.
#[test]
fn a_chunk_spanning_a_resumed_download_is_not_cached() {
    let remote = MemoryRemote::new();
    let chunk = CHUNK_SIZE as usize;
    let content = pattern(2 * chunk + 10);
    remote.add_file("/f", content.clone());
    remote.break_next_download_after(chunk / 3);
    let fs = mount(&remote);
    let fh = fs.open(ino(&fs, "/f"), libc::O_RDONLY).unwrap();
    assert_eq!(read_all(&fs, fh, chunk as u32), content);
    fs.release(fh).unwrap();
    let downloads = remote.open_read_calls();
    assert_eq!(downloads, 2, "one resume");
    let fh = fs.open(ino(&fs, "/f"), libc::O_RDONLY).unwrap();
    let second = chunk + 5;
    assert_eq!(
        fs.read(fh, second as u64, 5).unwrap(),
        &content[second..second + 5]
    );
    assert_eq!(
        remote.open_read_calls(),
        downloads,
        "chunk 1 came whole from one download"
    );
    assert_eq!(fs.read(fh, 5, 5).unwrap(), &content[5..10]);
    assert_eq!(
        remote.open_read_calls(),
        downloads + 1,
        "chunk 0 was not cached"
    );
    fs.release(fh).unwrap();
}
