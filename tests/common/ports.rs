//! Port slots for test servers: one control port plus a passive range, never shared.
//!
//! Why not just `bind(127.0.0.1:0)`: a port found free that way is released before the server
//! binds it, and passive ports are only bound when a transfer starts, so probing cannot see
//! another server's range at all. Instead every server gets a whole slot of `SLOT_SIZE` ports
//! (control = first port, passive = the rest) from a region BELOW the kernel's ephemeral range,
//! so the kernel never hands those ports to `bind(0)` or outgoing connections. Slots are
//! reserved in a directory shared by all test processes on the machine (one file per slot,
//! holding the owner's pid; files of dead processes are reclaimed), under an `flock` plus a
//! process-wide mutex, and every port of a slot is probed with a bind before it is handed out
//! (something unrelated may be listening there).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::tempdir::random_u64;

/// Ports per slot: 1 control port + 49 passive ports. pure-ftpd clamps its client limit to
/// half the passive range, so this allows 24 simultaneous clients there.
const SLOT_SIZE: u16 = 50;
/// Lowest port used for slots.
const REGION_START: u16 = 10_000;

static PROBE_LOCK: Mutex<()> = Mutex::new(());

/// A reserved control port and passive range; the reservation ends on drop.
#[derive(Debug)]
pub struct PortSlot {
    pub control: u16,
    pub passive_low: u16,
    pub passive_high: u16,
    reservation: PathBuf,
}

impl Drop for PortSlot {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.reservation);
    }
}

fn reservations_dir() -> PathBuf {
    std::env::temp_dir().join("ftpfs-test-ports")
}

/// The region for slots: from REGION_START up to the start of the ephemeral range, or above
/// the ephemeral range when it starts too low.
fn slot_region() -> (u16, u16) {
    let range = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut numbers = range
        .split_whitespace()
        .filter_map(|n| n.parse::<u32>().ok());
    let ephemeral_low = numbers.next().unwrap_or(32_768);
    let ephemeral_high = numbers.next().unwrap_or(60_999);
    if ephemeral_low >= u32::from(REGION_START) + 20 * u32::from(SLOT_SIZE) {
        (REGION_START, ephemeral_low as u16)
    } else {
        ((ephemeral_high + 1).min(64_000) as u16, 65_535)
    }
}

fn process_alive(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
}

/// Tries to create the reservation file `path`: true when it is ours.
fn try_reserve(path: &Path) -> bool {
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(mut file) => {
            let _ = write!(file, "{}", std::process::id());
            true
        }
        Err(_) => {
            let owner = fs::read_to_string(path)
                .ok()
                .and_then(|text| text.trim().parse::<u32>().ok());
            match owner {
                Some(pid) if process_alive(pid) => false,
                // Left behind by a dead process (or half written): reclaim. Safe because all
                // reservations happen under the same flock.
                _ => {
                    let _ = fs::remove_file(path);
                    OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(path)
                        .and_then(|mut file| write!(file, "{}", std::process::id()))
                        .is_ok()
                }
            }
        }
    }
}

fn all_ports_free(first: u16, last: u16) -> bool {
    (first..=last).all(|port| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok())
}

/// Holds an exclusive flock on the shared lock file while alive.
struct CrossProcessLock {
    _file: File,
}

fn lock_across_processes(dir: &Path) -> CrossProcessLock {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))
        .unwrap_or_else(|error| panic!("cannot open port lock in {}: {error}", dir.display()));
    // SAFETY: flock on a valid, open file descriptor owned by `file`.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(result, 0, "flock on the port lock failed");
    // The lock is released when `file` is closed.
    CrossProcessLock { _file: file }
}

/// Reserves a free slot. Panics when the whole region is taken.
pub fn reserve_slot() -> PortSlot {
    let _in_process = PROBE_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = reservations_dir();
    fs::create_dir_all(&dir)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
    let _across_processes = lock_across_processes(&dir);
    let (region_low, region_high) = slot_region();
    let slot_count = (region_high - region_low) / SLOT_SIZE;
    let first_slot = (random_u64() % u64::from(slot_count)) as u16;
    for step in 0..slot_count {
        let base = region_low + ((first_slot + step) % slot_count) * SLOT_SIZE;
        let last = base + SLOT_SIZE - 1;
        let reservation = dir.join(format!("slot-{base}"));
        if !try_reserve(&reservation) {
            continue;
        }
        let slot = PortSlot {
            control: base,
            passive_low: base + 1,
            passive_high: last,
            reservation,
        };
        if all_ports_free(base, last) {
            return slot;
        }
        // Dropping `slot` releases the reservation of the busy slot.
    }
    panic!("no free port slot of {SLOT_SIZE} ports between {region_low} and {region_high}");
}
