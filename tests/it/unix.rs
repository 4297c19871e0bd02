//! unix
