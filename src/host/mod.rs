//! The machine a run is on: whether a process that left something behind
//! is alive ([`process`]), SIGTERM/SIGINT at a safe point ([`interrupt`]),
//! progress bars and log lines ([`progress`]).

pub mod fs;
pub mod interrupt;
pub mod process;
pub mod progress;
