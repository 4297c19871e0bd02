//! Wall-clock dates without a date library: the daytime lab service and the audit log need them.

use std::time::{SystemTime, UNIX_EPOCH};

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Seconds since the epoch, split into days and seconds of the day.
pub(crate) fn days_and_seconds(t: SystemTime) -> (u64, u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() / 86_400, d.as_secs() % 86_400, d.subsec_millis())
}

/// RFC 3339 in UTC with milliseconds: `2026-11-25T09:41:07.123Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let (days, secs, millis) = days_and_seconds(t);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_716), (2023, 12, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let t = UNIX_EPOCH + Duration::from_millis(1_795_426_867_042);
        assert_eq!(rfc3339(t), "2026-11-23T09:41:07.042Z");
    }
}
