//! A pipeline's `schedule:` — every N, or a cron expression in a time zone, with the policy for runs
//! missed while the engine was down — parsed once at load (the cron string into a `croner::Cron`, the
//! zone into a `chrono_tz::Tz`), and the arithmetic `weir serve` needs: the next run after an instant
//! and the runs missed between two.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};

use super::duration::Duration;

/// When `weir serve` runs the pipeline. Write `every` or `cron`, not both. Without a schedule, a
/// pipeline runs when an event arrives (a `webhook` source) or when asked (`weir run`, the API).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleConfig {
    /// Run this long after the previous run started (`30s`, `5m`, `1h`); the first run starts at once.
    /// A run that takes longer than this is followed at once by the next, never overlapped.
    #[serde(default)]
    pub(crate) every: Option<Duration>,
    /// A cron expression: five fields (minute hour day-of-month month day-of-week) or six with seconds
    /// first; names (`MON`, `JAN`), ranges, steps, `L`, `#`, `W` and `@hourly`/`@daily`/… accepted.
    #[serde(default)]
    pub(crate) cron: Option<CronExpr>,
    /// The IANA time zone `cron` is read in (`Europe/Berlin`, `America/New_York`); default `UTC`.
    /// Daylight-saving changes follow the zone: a skipped local time fires after the change, a
    /// repeated one fires once.
    #[serde(default)]
    pub(crate) timezone: Option<TimeZone>,
    /// What to do about runs that fell due while the engine was down (judged from the run history):
    /// `once` (default) runs once at start-up however many were missed; `skip` waits for the next one;
    /// `catch_up` runs each missed one in turn, at most `catch_up_limit`.
    #[serde(default)]
    pub(crate) missed: MissedRuns,
    /// The most missed runs `missed: catch_up` makes up for (the oldest are dropped). Default 24,
    /// at most 1000.
    #[serde(default)]
    pub(crate) catch_up_limit: Option<u32>,
}

/// The policy for runs missed while the engine was down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MissedRuns {
    /// Run once at start-up if any run was missed.
    #[default]
    Once,
    /// Forget missed runs; wait for the next one due.
    Skip,
    /// Run every missed one, oldest first, up to `catch_up_limit`.
    CatchUp,
}

/// Default of `catch_up_limit`.
const CATCH_UP_LIMIT: u32 = 24;
/// The largest `catch_up_limit`: the missed runs are listed at start-up, then made one by one.
const MAX_CATCH_UP_LIMIT: u32 = 1000;

/// A cron expression, parsed when the file is read.
#[derive(Clone)]
pub(crate) struct CronExpr {
    text: String,
    cron: croner::Cron,
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronExpr({:?})", self.text)
    }
}

impl<'de> Deserialize<'de> for CronExpr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(text.trim())
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "invalid cron expression `{text}`: {e}; write five fields (minute hour day month weekday), \
                     e.g. `*/5 * * * *` or `0 2 * * MON-FRI`"
                ))
            })?;
        Ok(CronExpr { text, cron })
    }
}

impl JsonSchema for CronExpr {
    fn schema_name() -> Cow<'static, str> {
        "CronExpr".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A cron expression: `minute hour day-of-month month day-of-week` (or six fields with seconds first), e.g. `*/5 * * * *`, `0 2 * * MON-FRI`, `@daily`."
        })
    }
}

/// An IANA time zone, checked when the file is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeZone(pub(crate) chrono_tz::Tz);

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.trim().parse::<chrono_tz::Tz>().map(TimeZone).map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown time zone `{text}`; write an IANA name such as `UTC`, `Europe/Berlin` or `America/New_York`"
            ))
        })
    }
}

impl JsonSchema for TimeZone {
    fn schema_name() -> Cow<'static, str> {
        "TimeZone".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "An IANA time zone name, e.g. `UTC`, `Europe/Berlin`, `America/New_York`."
        })
    }
}

/// What a schedule asks for, checked: exactly one of `every` and `cron`.
#[derive(Debug, Clone)]
pub(crate) enum Cadence {
    Every(std::time::Duration),
    Cron { cron: Box<croner::Cron>, text: String, zone: chrono_tz::Tz },
}

/// A schedule ready to compute with.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub(crate) cadence: Cadence,
    pub(crate) missed: MissedRuns,
    catch_up_limit: u32,
}

/// Why a `schedule:` cannot be used; the key it is about, a message and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScheduleError {
    pub(crate) key: &'static str,
    pub(crate) message: String,
    pub(crate) hint: String,
}

impl ScheduleConfig {
    /// Checks the combination of keys (each key's value was checked when read): every problem found.
    pub(crate) fn build(&self) -> Result<Schedule, Vec<ScheduleError>> {
        let error = |key, message: &str, hint: &str| ScheduleError { key, message: message.into(), hint: hint.into() };
        let mut errors = Vec::new();
        let cadence = match (&self.every, &self.cron) {
            (Some(_), Some(_)) => {
                errors.push(error(
                    "cron",
                    "a schedule has `every` or `cron`, not both",
                    "keep one: `every: 5m`, or `cron: \"*/5 * * * *\"`",
                ));
                None
            }
            (None, None) => {
                errors.push(error(
                    "every",
                    "a schedule needs `every` or `cron`",
                    "add `every: 5m`, or `cron: \"0 2 * * *\"` with a `timezone`",
                ));
                None
            }
            (Some(every), None) => {
                if every.0.is_zero() {
                    errors.push(error("every", "`every` must be longer than zero", "write e.g. `every: 30s`"));
                }
                if self.timezone.is_some() {
                    errors.push(error(
                        "timezone",
                        "`timezone` applies to `cron`, not to `every`",
                        "remove `timezone`, or use `cron`",
                    ));
                }
                Some(Cadence::Every(every.0))
            }
            (None, Some(cron)) => Some(Cadence::Cron {
                cron: Box::new(cron.cron.clone()),
                text: cron.text.clone(),
                zone: self.timezone.map_or(chrono_tz::UTC, |z| z.0),
            }),
        };
        if self.catch_up_limit.is_some_and(|n| n > MAX_CATCH_UP_LIMIT) {
            errors.push(error(
                "catch_up_limit",
                "`catch_up_limit` is at most 1000 (each missed run is made, one after another, at start-up)",
                "write a smaller number; flows that read by watermark need `missed: once`",
            ));
        }
        if self.catch_up_limit.is_some() && self.missed != MissedRuns::CatchUp {
            errors.push(error(
                "catch_up_limit",
                "`catch_up_limit` applies to `missed: catch_up` only",
                "add `missed: catch_up`, or remove `catch_up_limit`",
            ));
        }
        match cadence {
            Some(cadence) if errors.is_empty() => Ok(Schedule {
                cadence,
                missed: self.missed,
                catch_up_limit: self.catch_up_limit.unwrap_or(CATCH_UP_LIMIT),
            }),
            _ => Err(errors),
        }
    }
}

impl Schedule {
    /// The first time the schedule falls due strictly after `after` (`None`: a cron that never fires
    /// again, such as a date in the past).
    pub(crate) fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.cadence {
            Cadence::Every(every) => Some(after + chrono::Duration::from_std(*every).ok()?),
            Cadence::Cron { cron, zone, .. } => {
                let local = after.with_timezone(zone);
                cron.find_next_occurrence(&local, false).ok().map(|t| t.with_timezone(&Utc))
            }
        }
    }

    /// The runs to make at start-up for what fell due after the last run started (`last`) and up to
    /// `now`, by the `missed` policy: their due times, oldest first. None when nothing ran before
    /// (the schedule starts now) or nothing was missed.
    pub(crate) fn missed_runs(&self, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let Some(last) = last else { return Vec::new() };
        let limit = match self.missed {
            MissedRuns::Skip => return Vec::new(),
            MissedRuns::Once => 1,
            MissedRuns::CatchUp => self.catch_up_limit as usize,
        };
        // The newest `limit` due times in (last, now], found backwards from `now` so that a long
        // downtime with a short cadence costs `limit` steps, not one per missed run.
        let mut due = Vec::new();
        match &self.cadence {
            Cadence::Every(every) => {
                let step = i64::try_from(every.as_nanos()).unwrap_or(i64::MAX).max(1);
                let down = (now - last).num_nanoseconds().unwrap_or(i64::MAX).max(0);
                for k in (1..=down / step).rev().take(limit) {
                    due.push(last + chrono::Duration::nanoseconds(step.saturating_mul(k)));
                }
            }
            Cadence::Cron { cron, zone, .. } => {
                let mut at = now.with_timezone(zone);
                let mut inclusive = true;
                while due.len() < limit {
                    let Ok(previous) = cron.find_previous_occurrence(&at, inclusive) else { break };
                    let previous_utc = previous.with_timezone(&Utc);
                    if previous_utc <= last {
                        break;
                    }
                    due.push(previous_utc);
                    (at, inclusive) = (previous, false);
                }
            }
        }
        due.reverse();
        due
    }

    /// In words, for the status page and `weir serve`'s log: `every 5m`, `cron 0 2 * * * (Europe/Berlin)`.
    pub(crate) fn describe(&self) -> String {
        match &self.cadence {
            Cadence::Every(every) => format!("every {}", humantime::format_duration(*every)),
            Cadence::Cron { text, zone, .. } => format!("cron {text} ({zone})"),
        }
    }
}

#[cfg(test)]
mod tests;
