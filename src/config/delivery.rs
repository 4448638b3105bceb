//! The settings of how delivered inputs are checked (`[delivery]`): the
//! bordereau's name and the limits of one archive. They are configuration,
//! so they live here; `delivery` applies them.

/// How inputs are checked.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Exact bordereau file name; default: any name containing `bordereau`.
    pub bordereau_name: Option<String>,
    pub limits: Limits,
}

/// Limits of one archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries (files, skipped ones included).
    pub max_files: usize,
    /// Bytes once unpacked, skipped entries included: the absolute cap.
    pub max_bytes: u64,
    /// Bytes once unpacked, as a multiple of the archive's size.
    pub max_ratio: u64,
    /// Free space the staging file system must keep after each entry.
    pub min_free_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_files: 1000,
            // twice the largest académie measured (1.9 GB of XML for 1.5
            // million entries)
            max_bytes: 4 << 30,
            // real extractions compress 20-25 times with gzip
            max_ratio: 100,
            min_free_bytes: 512 << 20,
        }
    }
}
