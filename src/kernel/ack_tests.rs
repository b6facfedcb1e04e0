//! Tests of end-to-end acknowledgements: outcomes, watermarks, resume points and dead-letter reasons.

use super::*;

fn pos(seq: u64) -> InputPosition {
    InputPosition { stream: 0, seq }
}

#[test]
fn outcome_is_decided_when_last_copy_drops() {
    let tracker = AckTracker::new();
    let a = tracker.track(pos(0));
    let copy = a.clone();
    copy.filtered();
    drop(copy);
    assert_eq!(tracker.summary().in_flight(), 1, "one copy still alive");
    a.delivered();
    drop(a);
    let s = tracker.summary();
    assert_eq!((s.received, s.delivered, s.filtered), (1, 1, 0));
}

#[test]
fn dead_letter_wins_and_unmarked_drop_is_unacknowledged() {
    let tracker = AckTracker::new();
    let a = tracker.track(pos(0));
    a.delivered();
    a.dead_lettered("rejected");
    drop(a);
    drop(tracker.track(pos(1)));
    let s = tracker.summary();
    assert_eq!((s.dead_lettered, s.unacknowledged), (1, 1));
}

#[test]
fn a_copy_dropped_without_outcome_wins_over_a_delivered_one() {
    let tracker = AckTracker::new();
    let a = tracker.track(pos(0));
    let copy = a.clone();
    a.delivered();
    drop(a);
    copy.unacknowledged();
    drop(copy);
    assert_eq!(tracker.summary().unacknowledged, 1);
    assert_eq!(tracker.acknowledged_prefix(0), 0);
}

#[test]
fn watermark_advances_over_contiguous_acks_only() {
    let tracker = AckTracker::new();
    let refs: Vec<_> = (0..4).map(|i| tracker.track(pos(i))).collect();
    let mut refs = refs.into_iter();
    let (r0, r1, r2, r3) = (refs.next(), refs.next(), refs.next(), refs.next());
    for r in [&r1, &r2, &r3, &r0].into_iter().flatten() {
        r.delivered();
    }
    drop(r2);
    drop(r3);
    assert_eq!(tracker.acknowledged_prefix(0), 0);
    drop(r0);
    assert_eq!(tracker.acknowledged_prefix(0), 1);
    drop(r1);
    assert_eq!(tracker.acknowledged_prefix(0), 4);
}

#[test]
fn inputs_before_an_unacknowledged_one_still_count_when_they_complete_after_it() {
    // Writes in flight: the write of input 1 failed first; the write of input 0 succeeds after.
    let tracker = AckTracker::new();
    let (r0, r1, r2) = (tracker.track(pos(0)), tracker.track(pos(1)), tracker.track(pos(2)));
    drop(r1);
    r2.delivered();
    drop(r2);
    assert_eq!(tracker.acknowledged_prefix(0), 0);
    r0.delivered();
    drop(r0);
    assert_eq!(tracker.acknowledged_prefix(0), 1, "up to the unacknowledged input, not past it");
}

#[test]
fn unacknowledged_input_blocks_the_watermark() {
    let tracker = AckTracker::new();
    let r0 = tracker.track(pos(0));
    let r1 = tracker.track(pos(1));
    drop(r0);
    r1.delivered();
    drop(r1);
    assert_eq!(tracker.acknowledged_prefix(0), 0);
}

#[test]
fn resume_point_is_the_end_of_the_last_contiguous_input() {
    let tracker = AckTracker::recording();
    let end = |i: u64| InputEnd { offset: (i + 1) * 10, lines: i + 1 };
    let lines: Vec<AckRef> = (0..3).map(|i| tracker.track_until(pos(i), end(i))).collect();
    let mut lines = lines.into_iter();
    let (first, second, third) = (lines.next().unwrap_or_else(|| unreachable!()), lines.next(), lines.next());
    third.iter().for_each(AckRef::delivered);
    drop(third);
    assert_eq!(tracker.resume_point(0), (0, InputEnd::default()), "an input ahead of the watermark does not count");
    first.filtered();
    drop(first);
    assert_eq!(tracker.resume_point(0), (1, end(0)));
    second.iter().for_each(AckRef::delivered);
    drop(second);
    assert_eq!(tracker.resume_point(0), (3, end(2)), "the gap closed: resume after the third line");
    let outcomes: Vec<_> = tracker.outcomes().into_iter().map(|(p, o)| (p.seq, o)).collect();
    assert_eq!(outcomes, vec![(2, Outcome::Delivered), (0, Outcome::Filtered), (1, Outcome::Delivered)]);
}

/// Every outcome heard, with its reason, by input number.
#[derive(Default)]
struct Heard(Mutex<Vec<(u64, Outcome, Option<String>)>>);

impl AckListener for Heard {
    fn completed(&self, position: InputPosition, outcome: Outcome, reason: Option<&str>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push((position.seq, outcome, reason.map(str::to_string)));
    }
}

#[test]
fn a_listener_hears_why_an_input_was_dead_lettered() {
    let heard = Arc::new(Heard::default());
    let tracker = AckTracker::notifying(Arc::clone(&heard) as Arc<dyn AckListener>);
    // Two children of one input dead-lettered: the first entry's error is the reason.
    let parent = tracker.track(pos(0));
    let child = parent.clone();
    parent.dead_lettered("postcode 60000 is not served");
    child.dead_lettered("a later error");
    drop((parent, child));
    let delivered = tracker.track(pos(1));
    delivered.delivered();
    drop(delivered);
    // Dead-lettered, then a copy dropped without an outcome: read again, so no reason.
    let lost = tracker.track(pos(2));
    lost.dead_lettered("rejected");
    lost.unacknowledged();
    drop(lost);
    let heard = heard.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(
        heard,
        vec![
            (0, Outcome::DeadLettered, Some("postcode 60000 is not served".to_string())),
            (1, Outcome::Delivered, None),
            (2, Outcome::Unacknowledged, None),
        ]
    );
    assert!(tracker.reasons.lock().unwrap_or_else(|e| e.into_inner()).is_empty(), "no reason is kept after its input");
}
