//! The lists `GET /form` wrote, kept by the forms' version: while no form changes, the
//! next list of the same forms is the text written before, not read and written again.
//!
//! A list is kept under the version read with the caller's token, before its rows were
//! read, so its rows are that version's or newer, never older. Every change to a form
//! raises the version in its own transaction (`store::forms::count_change`), so the first
//! list asked for after the change commits is read afresh, whichever instance asks.
//!
//! Changes made by hand in SQL raise nothing, unless whoever makes them raises it too:
//! a kept list is read again once it is [`KEPT_FOR`] old, so they show within that.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::domain::form::FormsVersion;
use crate::domain::user::UserId;

/// How long a kept list may answer: the most a change made by hand in SQL stays unseen.
pub const KEPT_FOR: Duration = Duration::from_secs(1);
/// The largest list kept, some 1,300 forms. A longer one is written afresh every time:
/// kept, 10,000 forms (~2 MiB) would stay in every instance's memory.
pub const LARGEST_KEPT: usize = 256 * 1024;
/// Every kept list together: four of the largest.
pub const MOST_KEPT: usize = 4 * LARGEST_KEPT;

/// Which forms a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListScope {
    /// An admin's list.
    Every,
    /// Anyone else's: the forms they submitted.
    SubmittedBy(UserId),
}

/// The lists kept by one instance, all of one version.
#[derive(Debug, Default)]
pub struct KeptLists(Mutex<Kept>);

#[derive(Debug, Default)]
struct Kept {
    version: Option<FormsVersion>,
    lists: HashMap<ListScope, KeptList>,
    bytes: usize,
}

#[derive(Debug)]
struct KeptList {
    text: Arc<str>,
    /// When the version it is kept under was read.
    read_at: Instant,
}

impl KeptLists {
    /// The list of `scope` kept under `version`, unless it is [`KEPT_FOR`] old at `now`.
    pub fn get(&self, scope: ListScope, version: FormsVersion, now: Instant) -> Option<Arc<str>> {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.version != Some(version) {
            return None;
        }
        let list = kept.lists.get(&scope)?;
        (now.saturating_duration_since(list.read_at) < KEPT_FOR).then(|| list.text.clone())
    }

    /// Keeps `text`, the list of `scope` read after `version` was read at `read_at`. Lists
    /// of another version go: a reader of an older version only makes the next reader of
    /// the newer one read again, and a version that went back (a database restored from a
    /// backup) is never taken for the one kept.
    pub fn keep(&self, scope: ListScope, version: FormsVersion, text: &str, read_at: Instant) {
        if text.len() > LARGEST_KEPT {
            return;
        }
        let text: Arc<str> = Arc::from(text);
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.version != Some(version) {
            kept.lists.clear();
            kept.bytes = 0;
            kept.version = Some(version);
        }
        if let Some(old) = kept.lists.remove(&scope) {
            kept.bytes -= old.text.len();
        }
        if kept.bytes + text.len() > MOST_KEPT {
            kept.lists.clear();
            kept.bytes = 0;
        }
        kept.bytes += text.len();
        kept.lists.insert(scope, KeptList { text, read_at });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: FormsVersion = FormsVersion(1);
    const V2: FormsVersion = FormsVersion(2);
    const ADA: ListScope = ListScope::SubmittedBy(UserId(7));

    fn text(kept: &KeptLists, scope: ListScope, version: FormsVersion, now: Instant) -> String {
        kept.get(scope, version, now)
            .map(|text| text.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn a_list_answers_for_its_scope_and_version_until_it_is_kept_for_old() {
        let kept = KeptLists::default();
        let t0 = Instant::now();
        assert_eq!(kept.get(ListScope::Every, V1, t0), None);
        kept.keep(ListScope::Every, V1, "[every]", t0);
        kept.keep(ADA, V1, "[ada]", t0);
        assert_eq!(text(&kept, ListScope::Every, V1, t0), "[every]");
        assert_eq!(text(&kept, ADA, V1, t0 + KEPT_FOR / 2), "[ada]");
        assert_eq!(kept.get(ListScope::SubmittedBy(UserId(8)), V1, t0), None);
        assert_eq!(kept.get(ListScope::Every, V2, t0), None, "a newer version");
        assert_eq!(kept.get(ListScope::Every, FormsVersion(0), t0), None);
        assert_eq!(
            kept.get(ListScope::Every, V1, t0 + KEPT_FOR),
            None,
            "too old"
        );
    }

    #[test]
    fn keeping_another_version_drops_every_list_of_the_one_kept() {
        let kept = KeptLists::default();
        let t0 = Instant::now();
        kept.keep(ListScope::Every, V2, "[every 2]", t0);
        kept.keep(ADA, V2, "[ada 2]", t0);
        // A reader that read the version before the last change: its list may be newer than
        // V1 but is kept as V1's, and V2's readers read again.
        kept.keep(ListScope::Every, V1, "[every 1]", t0);
        assert_eq!(kept.get(ListScope::Every, V2, t0), None);
        assert_eq!(kept.get(ADA, V2, t0), None);
        assert_eq!(text(&kept, ListScope::Every, V1, t0), "[every 1]");
        kept.keep(ADA, V2, "[ada 2 again]", t0);
        assert_eq!(kept.get(ListScope::Every, V1, t0), None);
        assert_eq!(text(&kept, ADA, V2, t0), "[ada 2 again]");
    }

    #[test]
    fn long_lists_are_not_kept_and_all_kept_lists_stay_under_most_kept() {
        let kept = KeptLists::default();
        let t0 = Instant::now();
        kept.keep(ListScope::Every, V1, &"x".repeat(LARGEST_KEPT + 1), t0);
        assert_eq!(kept.get(ListScope::Every, V1, t0), None);
        let largest = "y".repeat(LARGEST_KEPT);
        for user in 0..(MOST_KEPT / LARGEST_KEPT) as i64 {
            kept.keep(ListScope::SubmittedBy(UserId(user)), V1, &largest, t0);
        }
        let all = |kept: &KeptLists| {
            (0..8)
                .filter(|&user| {
                    kept.get(ListScope::SubmittedBy(UserId(user)), V1, t0)
                        .is_some()
                })
                .count()
        };
        assert_eq!(all(&kept), MOST_KEPT / LARGEST_KEPT, "as many as fit");
        // Kept again, one replaces itself; one more empties the rest first.
        kept.keep(ListScope::SubmittedBy(UserId(0)), V1, &largest, t0);
        assert_eq!(all(&kept), MOST_KEPT / LARGEST_KEPT);
        kept.keep(ListScope::Every, V1, "[]", t0);
        assert_eq!(all(&kept), 0);
        assert_eq!(text(&kept, ListScope::Every, V1, t0), "[]");
        let bytes = kept.0.lock().unwrap().bytes;
        assert_eq!(bytes, 2);
    }
}
