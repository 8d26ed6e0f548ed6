//! The filesystem core (being built).

pub mod config;
pub use config::FsConfig;
