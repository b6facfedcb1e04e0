use chrono::TimeZone as _;

use super::*;

fn schedule(yaml: &str) -> Result<Schedule, Vec<ScheduleError>> {
    let config: ScheduleConfig = serde_yaml::from_str(yaml).expect("a schedule");
    config.build()
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("RFC 3339").with_timezone(&Utc)
}

#[test]
fn every_runs_one_period_after_the_last_start() {
    let s = schedule("every: 5m").expect("valid");
    assert_eq!(s.next_after(utc("2026-12-03T10:00:00Z")), Some(utc("2026-12-03T10:05:00Z")));
    assert_eq!(s.describe(), "every 5m");
}

#[test]
fn cron_is_read_in_its_time_zone_across_daylight_saving() {
    let s = schedule("{ cron: '30 2 * * *', timezone: Europe/Berlin }").expect("valid");
    // 02:30 Berlin is 01:30 UTC in winter.
    assert_eq!(s.next_after(utc("2026-12-03T00:00:00Z")), Some(utc("2026-12-03T01:30:00Z")));
    // On 2027-03-28 Berlin skips 02:00–03:00: the run still happens that day, after the change.
    let spring = s.next_after(utc("2027-03-27T23:00:00Z")).expect("a next run");
    let local = spring.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(local.date_naive(), chrono::NaiveDate::from_ymd_opt(2027, 3, 28).expect("a date"), "{local}");
    // In summer, 02:30 Berlin is 00:30 UTC.
    assert_eq!(s.next_after(utc("2027-07-01T00:00:00Z")), Some(utc("2027-07-01T00:30:00Z")));
    assert_eq!(s.describe(), "cron 30 2 * * * (Europe/Berlin)");
}

#[test]
fn cron_accepts_seconds_names_and_macros() {
    let s = schedule("cron: '*/10 * * * * *'").expect("six fields");
    assert_eq!(s.next_after(utc("2026-12-03T10:00:01Z")), Some(utc("2026-12-03T10:00:10Z")));
    let s = schedule("cron: '0 9 * * MON-FRI'").expect("names");
    // 2026-12-05 is a Saturday: the next run is Monday the 7th.
    assert_eq!(s.next_after(utc("2026-12-04T10:00:00Z")), Some(utc("2026-12-07T09:00:00Z")));
    let s = schedule("cron: '@daily'").expect("a macro");
    assert_eq!(s.next_after(utc("2026-12-04T10:00:00Z")), Some(utc("2026-12-05T00:00:00Z")));
}

#[test]
fn bad_schedules_say_what_to_write() {
    let e = serde_yaml::from_str::<ScheduleConfig>("cron: '61 * * * *'").expect_err("minute 61");
    assert!(e.to_string().contains("invalid cron expression `61 * * * *`"), "{e}");
    let e = serde_yaml::from_str::<ScheduleConfig>("{ cron: '0 * * * *', timezone: Mars/Olympus }").expect_err("zone");
    assert!(e.to_string().contains("unknown time zone `Mars/Olympus`"), "{e}");
    let e = serde_yaml::from_str::<ScheduleConfig>("{ every: 5m, hourly: true }").expect_err("unknown key");
    assert!(e.to_string().contains("unknown field `hourly`"), "{e}");
    assert_eq!(schedule("{ every: 5m, cron: '* * * * *' }").expect_err("both")[0].key, "cron");
    assert_eq!(schedule("missed: skip").expect_err("neither")[0].key, "every");
    assert_eq!(schedule("every: 0s").expect_err("zero")[0].key, "every");
    assert_eq!(schedule("{ every: 5m, timezone: UTC }").expect_err("zone for every")[0].key, "timezone");
    assert_eq!(
        schedule("{ every: 5m, catch_up_limit: 3 }").expect_err("limit without catch_up")[0].key,
        "catch_up_limit"
    );
    let both: Vec<&str> = schedule("{ every: 5m, timezone: UTC, catch_up_limit: 3 }")
        .expect_err("two problems")
        .iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(both, ["timezone", "catch_up_limit"], "every problem reported");
    let huge = schedule("{ every: 1s, missed: catch_up, catch_up_limit: 4000000000 }").expect_err("too many");
    assert_eq!(huge[0].key, "catch_up_limit");
}

#[test]
fn missed_runs_follow_the_policy() {
    let last = Some(utc("2026-12-03T10:00:00Z"));
    let now = utc("2026-12-03T10:17:00Z");
    let once = schedule("every: 5m").expect("valid");
    assert_eq!(once.missed_runs(last, now), [utc("2026-12-03T10:15:00Z")]);
    assert_eq!(once.missed_runs(None, now), Vec::<DateTime<Utc>>::new(), "nothing ran before: nothing missed");
    assert_eq!(once.missed_runs(Some(utc("2026-12-03T10:14:00Z")), now), Vec::<DateTime<Utc>>::new());
    let skip = schedule("{ every: 5m, missed: skip }").expect("valid");
    assert_eq!(skip.missed_runs(last, now), Vec::<DateTime<Utc>>::new());
    let all = schedule("{ every: 5m, missed: catch_up }").expect("valid");
    let expected: Vec<_> = ["10:05", "10:10", "10:15"].iter().map(|t| utc(&format!("2026-12-03T{t}:00Z"))).collect();
    assert_eq!(all.missed_runs(last, now), expected);
    let two = schedule("{ every: 5m, missed: catch_up, catch_up_limit: 2 }").expect("valid");
    assert_eq!(two.missed_runs(last, now), expected[1..], "the newest two");
    let nightly = schedule("{ cron: '0 2 * * *', missed: catch_up }").expect("valid");
    let days = nightly.missed_runs(Some(utc("2026-12-01T03:00:00Z")), utc("2026-12-03T12:00:00Z"));
    assert_eq!(days, [utc("2026-12-02T02:00:00Z"), utc("2026-12-03T02:00:00Z")]);
}

#[test]
fn a_long_downtime_with_a_short_cadence_costs_only_the_limit() {
    // A year down with a run every second: 31 million missed, the newest 24 kept, found without
    // walking them all (a cron every second would take minutes that way).
    let last = Some(chrono::Utc.with_ymd_and_hms(2025, 12, 3, 0, 0, 0).single().expect("a time"));
    let now = utc("2026-12-03T00:00:00Z");
    let every = schedule("{ every: 1s, missed: catch_up }").expect("valid");
    let runs = every.missed_runs(last, now);
    assert_eq!((runs.len(), runs.last().copied()), (24, Some(now)));
    let cron = schedule("{ cron: '* * * * * *', missed: catch_up }").expect("valid");
    let runs = cron.missed_runs(last, now);
    assert_eq!(
        (runs.len(), runs.first().copied(), runs.last().copied()),
        (24, Some(utc("2026-12-02T23:59:37Z")), Some(now))
    );
}
