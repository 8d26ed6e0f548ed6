//! Listing parsers (being built).
