//! Days since 1970-01-01 and back, in the proleptic Gregorian calendar:
//! the one conversion every parser needs for Arrow `Date32` and epoch
//! timestamps.
//!
//! ```
//! use caresync_core::calendar::{civil_from_days, days_from_civil};
//!
//! assert_eq!(days_from_civil(1970, 1, 1), 0);
//! assert_eq!(days_from_civil(2000, 3, 1), 11_017);
//! assert_eq!(civil_from_days(11_017), (2000, 3, 1));
//! assert_eq!(civil_from_days(-1), (1969, 12, 31));
//! ```

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
///
/// The year is counted from 1 March, so the leap day falls at the end of
/// the counted year; years group into 400-year eras of 146 097 days.
pub const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400; // 0..=399
    let month_from_march = (month + 9) % 12; // March = 0, February = 11
    // Days before the month's start within a March-based year: the month
    // lengths 31 30 31 30 31 31 30 31 30 31 31 follow (153 * m + 2) / 5.
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719 468 days from 0000-03-01 to 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The days of `month` (1–12) in `year` of the proleptic Gregorian
/// calendar; `None` for a month outside 1–12.
///
/// ```
/// use caresync_core::calendar::days_in_month;
///
/// assert_eq!(days_in_month(2024, 2), Some(29));
/// assert_eq!(days_in_month(1900, 2), Some(28));
/// assert_eq!(days_in_month(2000, 2), Some(29));
/// assert_eq!(days_in_month(2023, 13), None);
/// ```
pub const fn days_in_month(year: i64, month: u32) -> Option<u32> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => Some(31),
        4 | 6 | 9 | 11 => Some(30),
        2 if leap => Some(29),
        2 => Some(28),
        _ => None,
    }
}

/// The date (year, month, day) `days` after 1970-01-01: the inverse of
/// [`days_from_civil`].
pub const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097; // 0..=146_096
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // March = 0
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates_round_trip_over_every_day_of_eight_centuries() {
        for days in -146_097..146_097 * 3 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
    }
}
