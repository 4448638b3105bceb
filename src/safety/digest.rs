//! The digest of a run's plans: what an approval names, so that an operator
//! approves one reviewed plan and no other.

use crate::model::plan::Plan;
use sha2::{Digest, Sha256};

/// The digest of the plans of a run (label and changes of each, in order):
/// what an approval names. Any change in what would be written changes it.
pub fn digest<'a>(plans: impl IntoIterator<Item = (&'a str, &'a Plan)>) -> String {
    let mut h = Sha256::new();
    for (label, plan) in plans {
        h.update(label.as_bytes());
        h.update([0u8]);
        // streamed into the hash: at académie scale the JSON of a first
        // sync's plan is gigabytes. Serialising plain data into a hasher
        // cannot fail; if it did, the digest would still be stable.
        let mut w = std::io::BufWriter::with_capacity(1 << 16, HashWriter(&mut h));
        let _ = serde_json::to_writer(&mut w, &plan.changes);
        let _ = std::io::Write::flush(&mut w);
        drop(w);
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `io::Write` into a SHA-256 state.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
