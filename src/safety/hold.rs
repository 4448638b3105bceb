//! One reason to hold a run back, and the message that tells the operator
//! (counts, categories and limits only).

use serde::Serialize;

/// One reason to hold a run back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hold {
    /// `threshold`, `empty_category`, `smaller_than_directory` or
    /// `school_vanished`.
    pub rule: &'static str,
    /// Category (AAF name), or `all`.
    pub category: String,
    /// What the run would do (departures, entries in the Complet…).
    pub count: u64,
    /// What the directory holds (active entries of the category).
    pub base: u64,
    /// The limit crossed, for the message.
    pub limit: String,
    /// The extraction it is about.
    pub extraction: String,
}

impl Hold {
    /// The holds of one extraction, made from (rule, category, count,
    /// base, limit): every guard builds its holds through this.
    pub(super) fn of(
        extraction: &str,
    ) -> impl Fn(&'static str, &str, u64, u64, String) -> Hold + '_ {
        move |rule, category, count, base, limit| Hold {
            rule,
            category: category.to_string(),
            count,
            base,
            limit,
            extraction: extraction.to_string(),
        }
    }
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rule {
            "threshold" => write!(
                f,
                "{}: {} {} would leave out of {} active (limit {})",
                self.extraction, self.count, self.category, self.base, self.limit
            ),
            "empty_category" => write!(
                f,
                "{}: no {} at all in this Complet while the directory holds {}: an empty or missing file?",
                self.extraction, self.category, self.base
            ),
            "smaller_than_directory" => write!(
                f,
                "{}: the Complet holds {} {} where the directory holds {} (limit {}): a truncated extraction?",
                self.extraction, self.count, self.category, self.base, self.limit
            ),
            "school_vanished" => write!(
                f,
                "{}: perimeter school {} is in the directory but not in this Complet",
                self.extraction, self.category
            ),
            "renames" => write!(
                f,
                "{}: {} {} would be renamed out of {} active (limit {}): a file read in the wrong encoding?",
                self.extraction, self.count, self.category, self.base, self.limit
            ),
            "modifications" => write!(
                f,
                "{}: {} {} would be modified out of {} active (limit {})",
                self.extraction, self.count, self.category, self.base, self.limit
            ),
            "group_deletions" => write!(
                f,
                "{}: {} classes and groups would be deleted out of {} (limit {}; the school-year Complet is not limited)",
                self.extraction, self.count, self.base, self.limit
            ),
            "group_additions" => write!(
                f,
                "{}: {} classes and groups would be added to {} (limit {}; the school-year Complet and a first load are not limited)",
                self.extraction, self.count, self.base, self.limit
            ),
            "additions" => write!(
                f,
                "{}: {} {} would be added to {} active (limit {})",
                self.extraction, self.count, self.category, self.base, self.limit
            ),
            "rejected" => write!(
                f,
                "{}: {} {} records rejected, out of {} (limit {}): a damaged extraction? (rejected people are kept as they are)",
                self.extraction, self.count, self.category, self.base, self.limit
            ),
            "unproven_departures" => write!(
                f,
                "{}: {} {} would leave, but {}",
                self.extraction, self.count, self.category, self.limit
            ),
            other => write!(f, "{}: {other}", self.extraction),
        }
    }
}
