//! Checking a run's dead letters against a test's list: each expected entry (component, reason
//! pattern, key) matches a different dead letter, and none is left over.

use super::prepare::DeadLetterCheck;
use crate::state::StoredDeadLetter;

fn matches(check: &DeadLetterCheck, got: &StoredDeadLetter) -> bool {
    check.step == got.entry.step
        && check.reason.as_ref().is_none_or(|r| r.is_match(&got.entry.error))
        && check.key.as_ref().is_none_or(|k| got.entry.key.as_deref() == Some(k.as_str()))
}

fn shown(check: &DeadLetterCheck) -> String {
    let mut s = format!("at `{}`", check.step);
    if let Some(r) = &check.reason {
        s.push_str(&format!(" with a reason matching /{r}/"));
    }
    if let Some(k) = &check.key {
        s.push_str(&format!(" for key `{k}`"));
    }
    s
}

fn shown_letter(got: &StoredDeadLetter) -> String {
    let key = got.entry.key.as_deref().map_or(String::new(), |k| format!(" (key `{k}`)"));
    format!("at `{}`{key}: {}", got.entry.step, got.entry.error)
}

/// What does not hold.
pub(crate) fn check(want: &[DeadLetterCheck], got: &[StoredDeadLetter]) -> Vec<String> {
    let mut used = vec![false; got.len()];
    let mut lines = Vec::new();
    for check in want {
        match (0..got.len()).find(|&i| !used[i] && matches(check, &got[i])) {
            Some(i) => used[i] = true,
            None => {
                let near: Vec<String> = got
                    .iter()
                    .filter(|g| g.entry.step == check.step)
                    .map(|g| format!("\n      got {}", shown_letter(g)))
                    .collect();
                lines.push(format!("expected a dead letter {}, none{}", shown(check), near.concat()));
            }
        }
    }
    for (_, g) in got.iter().enumerate().filter(|(i, _)| !used[*i]) {
        lines.push(format!("unexpected dead letter {}", shown_letter(g)));
    }
    if lines.is_empty() {
        return Vec::new();
    }
    vec![format!("dead letters:\n    {}", lines.join("\n    "))]
}
