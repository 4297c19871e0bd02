//! The results: medians per system, ratios to websocat, as Markdown.

use std::fmt::Write as _;

/// One measured quantity for every system, each with its rounds.
pub(crate) struct Row {
    pub(crate) title: String,
    pub(crate) names: Vec<String>,
    pub(crate) rounds: Vec<Vec<f64>>,
    /// A time, not a rate: the chart says "lower is better".
    pub(crate) lower_is_better: bool,
}

impl Row {
    pub(crate) fn new(title: &str, names: Vec<String>, rounds: Vec<Vec<f64>>) -> Row {
        Row { title: title.to_owned(), names, rounds, lower_is_better: false }
    }

    /// Marks a row of times.
    pub(crate) fn lower_is_better(mut self) -> Row {
        self.lower_is_better = true;
        self
    }

    /// The median of the system named `name`, if measured.
    pub(crate) fn median_of(&self, name: &str) -> Option<f64> {
        let i = self.names.iter().position(|n| n == name)?;
        Some(median(&self.rounds[i]))
    }
}

pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Every row measured in one run.
#[derive(Default)]
pub(crate) struct Table {
    pub(crate) rows: Vec<Row>,
}

impl Table {
    pub(crate) fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// One Markdown table per measured quantity: system, median, ratio to websocat.
    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            let reference = row.median_of("websocat");
            let _ = writeln!(out, "| {} | median | × websocat | rounds |", row.title);
            let _ = writeln!(out, "|---|---:|---:|---|");
            for (name, rounds) in row.names.iter().zip(&row.rounds) {
                let m = median(rounds);
                let ratio = reference.map_or("".to_owned(), |r| format!("{:.2}", m / r));
                let all: Vec<String> = rounds.iter().map(|v| format!("{v:.0}")).collect();
                let _ = writeln!(out, "| {name} | {m:.0} | {ratio} | {} |", all.join(", "));
            }
            out.push('\n');
        }
        out
    }
}

/// Escapes text for SVG.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A bar chart of the bulk throughput and RTT p50 medians, one panel per quantity, one bar per
/// system (sockbridge's bars in blue, the others grey).
pub(crate) fn chart(table: &Table) -> String {
    const WIDTH: f64 = 900.0;
    const LABEL: f64 = 300.0;
    const BAR: f64 = 20.0;
    const GAP: f64 = 6.0;
    let rows: Vec<&Row> =
        table.rows.iter().filter(|r| r.title.starts_with("bulk") || r.title.contains("RTT p50")).collect();
    let mut y = 10.0;
    let mut body = String::new();
    for row in rows {
        let medians: Vec<f64> = row.rounds.iter().map(|r| median(r)).collect();
        let max = medians.iter().copied().filter(|v| v.is_finite()).fold(0.0, f64::max).max(1e-9);
        let note = if row.lower_is_better { " (lower is better)" } else { " (higher is better)" };
        y += 18.0;
        let _ = write!(body, r#"<text x="0" y="{y}" font-weight="bold">{}{note}</text>"#, xml(&row.title));
        y += 8.0;
        for (name, value) in row.names.iter().zip(&medians) {
            let w = (WIDTH - LABEL - 90.0) * value / max;
            let colour = if name.starts_with("sockbridge") { "#2f6fdf" } else { "#9a9a9a" };
            let _ = write!(
                body,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text><rect x="{LABEL}" y="{y}" width="{w:.1}" height="{BAR}" fill="{colour}"/><text x="{}" y="{}">{value:.0}</text>"#,
                LABEL - 8.0,
                y + 15.0,
                xml(name),
                LABEL + w + 6.0,
                y + 15.0
            );
            y += BAR + GAP;
        }
        y += 10.0;
    }
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y}" font-family="sans-serif" font-size="13"><rect width="100%" height="100%" fill="white"/>{body}</svg>
"#
    )
}
