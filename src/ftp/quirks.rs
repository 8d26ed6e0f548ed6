//! What we learned about the server at run time and share across all pooled connections: a
//! command it advertised (or that we tried) but refused with 500/502 is not tried again, and a
//! shortcut it mishandled (pipelined RNFR+RNTO, listings by `STAT`) is not taken again, and a
//! shortcut checked once (a `STAT` listing against `LIST`) is not checked again.

use std::sync::atomic::{AtomicBool, Ordering};

macro_rules! quirk_flags {
    ($($get:ident / $set:ident),* $(,)?) => {
        /// Flags set once a server refuses an optional command (or a check passed); never cleared.
        #[derive(Debug, Default)]
        pub struct Quirks {
            $($get: AtomicBool,)*
        }

        impl Quirks {
            $(
                pub fn $get(&self) -> bool {
                    self.$get.load(Ordering::Relaxed)
                }
                pub fn $set(&self) {
                    self.$get.store(true, Ordering::Relaxed)
                }
            )*
        }
    };
}

quirk_flags!(
    epsv_refused / set_epsv_refused,
    eprt_refused / set_eprt_refused,
    mlsd_refused / set_mlsd_refused,
    mlst_refused / set_mlst_refused,
    mfmt_refused / set_mfmt_refused,
    mdtm_set_refused / set_mdtm_set_refused,
    chmod_refused / set_chmod_refused,
    // RNTO sent before RNFR's 350 arrived was answered "bad sequence" (libunftp handles the
    // two out of order): renames wait for the 350 from then on.
    rename_pipelining_refused / set_rename_pipelining_refused,
    // `STAT dir` gave a reply that is not a listing we can read, or one that differs from
    // LIST's: listings ahead use LIST from then on.
    stat_list_refused / set_stat_list_refused,
    // A `STAT dir` listing matched LIST's (the first of a session), and one with a dotfile
    // in it did (vsftpd's STAT shows dotfiles its LIST may hide): no more comparing.
    stat_list_checked / set_stat_list_checked,
    stat_list_dotfiles_checked / set_stat_list_dotfiles_checked,
);
