//! `<say-as>` expanded into words, so that every speech engine reads
//! digits, numbers, dates and times the same way (English only: the
//! engines this server drives default to it).

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const SCALES: [(u64, &str); 4] = [
    (1_000_000_000_000, "trillion"),
    (1_000_000_000, "billion"),
    (1_000_000, "million"),
    (1_000, "thousand"),
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The speakable text for `text` read as `interpret_as` (with the date
/// `format`, e.g. `mdy`); unknown kinds and unreadable values keep the text.
pub(super) fn expand(interpret_as: &str, format: Option<&str>, text: &str) -> String {
    let t = text.trim();
    let expanded = match interpret_as.trim() {
        "digits" | "telephone" => Some(spaced(t, |c| c.is_ascii_alphanumeric())),
        "characters" | "spell-out" | "letters" => Some(spaced(t, |c| !c.is_whitespace())),
        "number" | "cardinal" => number(t),
        "ordinal" => t.parse::<u64>().ok().map(ordinal),
        "date" => date(t, format),
        "time" => time(t),
        _ => None,
    };
    expanded.unwrap_or_else(|| t.to_owned())
}

/// Each kept character on its own, separated by spaces.
fn spaced(text: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::new();
    for c in text.chars().filter(|c| keep(*c)) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A whole number in words (`1234` → `one thousand two hundred thirty four`).
pub(super) fn cardinal(n: u64) -> String {
    if n < 20 {
        // Index below 20.
        return ONES[n as usize].to_owned();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut rest = n;
    for (scale, name) in SCALES {
        if rest >= scale {
            parts.push(format!("{} {name}", cardinal(rest / scale)));
            rest %= scale;
        }
    }
    if rest >= 100 {
        parts.push(format!("{} hundred", ONES[(rest / 100) as usize]));
        rest %= 100;
    }
    if rest >= 20 {
        let tens = TENS[(rest / 10) as usize];
        parts.push(match rest % 10 {
            0 => tens.to_owned(),
            unit => format!("{tens} {}", ONES[unit as usize]),
        });
    } else if rest > 0 {
        parts.push(ONES[rest as usize].to_owned());
    }
    parts.join(" ")
}

/// A whole number as an ordinal (`21` → `twenty first`).
pub(super) fn ordinal(n: u64) -> String {
    let words = cardinal(n);
    let (head, last) = match words.rsplit_once(' ') {
        Some((h, l)) => (format!("{h} "), l.to_owned()),
        None => (String::new(), words),
    };
    let last = match last.as_str() {
        "one" => "first".to_owned(),
        "two" => "second".to_owned(),
        "three" => "third".to_owned(),
        "five" => "fifth".to_owned(),
        "eight" => "eighth".to_owned(),
        "nine" => "ninth".to_owned(),
        "twelve" => "twelfth".to_owned(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    };
    format!("{head}{last}")
}

/// `-12`, `1,234`, `3.25` in words; `None` when it is not a number.
fn number(text: &str) -> Option<String> {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("minus ", rest),
        None => ("", text.strip_prefix('+').unwrap_or(text)),
    };
    let digits: String = digits.chars().filter(|c| *c != ',').collect();
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits.as_str(), None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut out = format!("{sign}{}", cardinal(whole.parse().ok()?));
    if let Some(f) = fraction {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let words: Vec<&str> = f.bytes().map(|b| ONES[usize::from(b - b'0')]).collect();
        out.push_str(" point ");
        out.push_str(&words.join(" "));
    }
    Some(out)
}

/// A year read the way people say it (`2011` → `twenty eleven`,
/// `2005` → `two thousand five`, `1999` → `nineteen ninety nine`).
fn year(y: u64) -> String {
    let (hi, lo) = (y / 100, y % 100);
    if !(11..=99).contains(&hi) || y % 1000 < 10 || (2000..2010).contains(&y) {
        return cardinal(y);
    }
    match lo {
        0 => format!("{} hundred", cardinal(hi)),
        1..=9 => format!("{} oh {}", cardinal(hi), cardinal(lo)),
        _ => format!("{} {}", cardinal(hi), cardinal(lo)),
    }
}

/// A date: `yyyy-mm-dd` always; otherwise fields split on `/`, `-` or
/// `.` in the order `format` gives (`mdy` by default, as in the seed page's
/// `12/01/2011`).
fn date(text: &str, format: Option<&str>) -> Option<String> {
    let fields: Vec<&str> = text.split(['/', '-', '.']).map(str::trim).collect();
    if fields
        .iter()
        .any(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let format = match format.map(str::trim) {
        Some(f) if !f.is_empty() => f,
        _ if fields.first().is_some_and(|f| f.len() == 4) => "ymd",
        _ => "mdy",
    };
    if format.len() != fields.len() {
        return None;
    }
    let (mut y, mut m, mut d) = (None, None, None);
    for (key, field) in format.chars().zip(&fields) {
        let n: u64 = field.parse().ok()?;
        match key {
            'y' => y = Some(n),
            'm' => m = Some(n),
            'd' => d = Some(n),
            _ => return None,
        }
    }
    let mut words = Vec::new();
    if let Some(m) = m {
        words.push(
            MONTHS
                .get(usize::try_from(m).ok()?.checked_sub(1)?)?
                .to_string(),
        );
    }
    if let Some(d) = d {
        if !(1..=31).contains(&d) {
            return None;
        }
        words.push(ordinal(d));
    }
    if let Some(y) = y {
        let y = if fields.len() == 3 && y < 100 {
            2000 + y
        } else {
            y
        };
        words.push(year(y));
    }
    Some(words.join(" "))
}

/// `hh:mm` (seconds dropped), with an optional `am`/`pm` suffix kept.
fn time(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let (clock, suffix) = match lower.trim_end_matches('.').rsplit_once(' ') {
        Some((c, s)) if matches!(s, "am" | "pm" | "a.m" | "p.m") => (c.trim(), Some(s)),
        _ => (lower.trim(), None),
    };
    let mut parts = clock.split(':');
    let h: u64 = parts.next()?.trim().parse().ok()?;
    let m: u64 = parts.next().map_or(Some(0), |m| m.trim().parse().ok())?;
    if h > 23 || m > 59 {
        return None;
    }
    let mut out = cardinal(h);
    match m {
        0 if suffix.is_none() && h != 0 => out.push_str(" o'clock"),
        0 => {}
        1..=9 => out.push_str(&format!(" oh {}", cardinal(m))),
        _ => out.push_str(&format!(" {}", cardinal(m))),
    }
    if let Some(s) = suffix {
        out.push_str(if s.starts_with('a') { " A M" } else { " P M" });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_characters_are_spaced() {
        assert_eq!(expand("digits", None, " 1234 "), "1 2 3 4");
        assert_eq!(expand("characters", None, "AB-1"), "A B - 1");
    }

    #[test]
    fn numbers_in_words() {
        assert_eq!(cardinal(0), "zero");
        assert_eq!(cardinal(42), "forty two");
        assert_eq!(
            expand("number", None, "1,234"),
            "one thousand two hundred thirty four"
        );
        assert_eq!(expand("cardinal", None, "-7"), "minus seven");
        assert_eq!(expand("number", None, "3.05"), "three point zero five");
        assert_eq!(cardinal(2_000_000), "two million");
        assert_eq!(expand("number", None, "twelve"), "twelve");
        assert_eq!(ordinal(21), "twenty first");
        assert_eq!(ordinal(30), "thirtieth");
        assert_eq!(ordinal(12), "twelfth");
    }

    #[test]
    fn dates_in_words() {
        assert_eq!(
            expand("date", None, "12/01/2011"),
            "December first twenty eleven"
        );
        assert_eq!(
            expand("date", None, "2005-03-22"),
            "March twenty second two thousand five"
        );
        assert_eq!(
            expand("date", Some("dmy"), "4.7.1999"),
            "July fourth nineteen ninety nine"
        );
        assert_eq!(expand("date", Some("md"), "2/3"), "February third");
        assert_eq!(expand("date", None, "13/40/2011"), "13/40/2011");
    }

    #[test]
    fn times_in_words() {
        assert_eq!(expand("time", None, "09:30"), "nine thirty");
        assert_eq!(expand("time", None, "10:05"), "ten oh five");
        assert_eq!(expand("time", None, "14:00"), "fourteen o'clock");
        assert_eq!(expand("time", None, "7:15 pm"), "seven fifteen P M");
        assert_eq!(expand("time", None, "25:00"), "25:00");
        assert_eq!(expand("unknown", None, " x "), "x");
    }
}
