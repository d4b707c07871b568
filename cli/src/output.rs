//! Tables for people.

use serde_json::Value;

/// Columns separated by two spaces, padded to the widest cell; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i].saturating_sub(cell.chars().count()) + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// A string field, `-` when absent or null. Control characters are shown as `?` (API data
/// comes from certificates: a name must not move the cursor or recolour the terminal).
pub fn text(value: &Value, field: &str) -> String {
    match value.get(field) {
        Some(Value::String(s)) => clean(s),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => clean(&other.to_string()),
    }
}

pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// At most `max` characters, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A timestamp shortened to the second, `-` when null.
pub fn time(value: &Value, field: &str) -> String {
    let t = text(value, field);
    match chrono::DateTime::parse_from_rfc3339(&t) {
        Ok(parsed) => parsed
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%SZ")
            .to_string(),
        Err(_) => t,
    }
}

/// A list of strings joined with `, `.
pub fn list(value: &Value, field: &str) -> String {
    match value.get(field).and_then(Value::as_array) {
        Some(items) if !items.is_empty() => items
            .iter()
            .map(|v| clean(v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let t = table(
            &["A", "LONG HEADER", "C"],
            &[vec!["xyz".into(), "1".into(), "last".into()]],
        );
        assert_eq!(t, "A    LONG HEADER  C\nxyz  1            last\n");
    }

    #[test]
    fn control_characters_do_not_reach_the_terminal() {
        let v = serde_json::json!({"name": "a\u{1b}[31mb"});
        assert_eq!(text(&v, "name"), "a?[31mb");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
