//! Files that running programs were started from, so an `O_TRUNC` open of one fails with
//! ETXTBSY before the kernel truncates it.
//!
//! The kernel refuses write access to a file a process executes (ETXTBSY). For `O_WRONLY` and
//! `O_RDWR` it does so before FUSE sees the open. But we ask for `FUSE_ATOMIC_O_TRUNC` (one STOR
//! instead of an open plus a truncate), and with it an `O_RDONLY|O_TRUNC` open reaches us
//! FIRST: once we answer it, the kernel sets the file's size to 0 and drops its page cache,
//! unmapping the running program's code, and only then checks for ETXTBSY. The program dies of
//! SIGBUS/SIGSEGV at its next page fault, and when it dies before that check, the open even
//! succeeds (pjdfstest `open::etxtbsy` failed that way now and then).
//!
//! The kernel marks the open of an exec with `__FMODE_EXEC` in the flags it sends, and that
//! handle lives until the last process running the file is gone. So the fs counts such handles
//! per inode, and an `O_TRUNC` open without write access of a counted inode gets ETXTBSY from us,
//! the answer the kernel would give anyway, before anything was truncated.
//!
//! Locking: one leaf mutex, held for a map operation only.

use std::collections::HashMap;

use parking_lot::Mutex;

/// The open(2) flag bit the kernel sets on the open of a file being executed (`__FMODE_EXEC`,
/// FMODE_EXEC in include/linux/fs.h; libc has no name for it).
pub(super) const FMODE_EXEC: i32 = 0x20;

/// Protects: the number of exec handles open per inode.
#[derive(Default)]
pub(super) struct Executing {
    handles: Mutex<HashMap<u64, usize>>,
}

impl Executing {
    /// A handle of `ino` was opened for an exec.
    pub(super) fn opened(&self, ino: u64) {
        *self.handles.lock().entry(ino).or_default() += 1;
    }

    /// An exec handle of `ino` was released.
    pub(super) fn released(&self, ino: u64) {
        let mut handles = self.handles.lock();
        if let Some(count) = handles.get_mut(&ino) {
            *count -= 1;
            if *count == 0 {
                handles.remove(&ino);
            }
        }
    }

    /// Whether a program runs from `ino`.
    pub(super) fn is_executing(&self, ino: u64) -> bool {
        self.handles.lock().contains_key(&ino)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inode_is_executing_until_its_last_exec_handle_is_released() {
        let executing = Executing::default();
        assert!(!executing.is_executing(7));
        executing.opened(7);
        executing.opened(7);
        executing.opened(8);
        executing.released(7);
        assert!(executing.is_executing(7));
        executing.released(7);
        assert!(!executing.is_executing(7));
        assert!(executing.is_executing(8));
        executing.released(9); // never opened: ignored
        assert!(!executing.is_executing(9));
    }
}
