//! The report as one self-contained HTML page: inline CSS and inline SVG charts, no script
//! and nothing fetched (its Content-Security-Policy forbids both). Every name in it came from
//! a sender, so every one is escaped (maud escapes whatever it interpolates).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{Report, printable};

/// Commands that succeeded, in the charts (and the commands section's colour).
pub const SUCCESS: &str = "#2f9e44";
/// Commands that failed.
pub const FAILURE: &str = "#e03131";
/// Tool calls that succeeded (and the tools section's colour).
pub const TOOL_OK: &str = "#099268";
/// Tool calls that failed.
pub const TOOL_FAILED: &str = "#c2255c";
/// The models section's bars: the cost reported.
pub const MODEL: &str = "#1971c2";
/// The cost estimated from a price table, stacked after the reported cost.
pub const MODEL_ESTIMATED: &str = "#74c0fc";
/// The sessions section's bars.
pub const SESSION: &str = "#7048e8";
/// The tasks section's bars.
pub const TASK: &str = "#f08c00";
/// Versions in the by-day chart, in turn; the last stands for every other version.
pub const VERSIONS: [&str; 6] = [
    "#0c8599", "#66a80f", "#ae3ec9", "#f76707", "#495057", "#adb5bd",
];

/// Active installations in the over-time chart.
pub const ACTIVE: &str = "#3b5bdb";
/// Models in the cost-over-time chart, in turn; the last stands for every other model.
pub const MODELS_OVER_TIME: [&str; 6] = [
    "#5c940d", "#e8590c", "#9c36b5", "#1098ad", "#862e9c", "#ced4da",
];
/// New installations in the weekly chart.
pub const NEW: &str = "#d6336c";
/// Returning installations in the weekly chart.
pub const RETURNING: &str = "#748ffc";

/// Each chart's name (its `data-chart`) and the colour that only it uses for its first
/// series: what a test looks for in a rendering of the page.
pub const CHARTS: [(&str, &str); 9] = [
    ("commands", SUCCESS),
    ("tools", TOOL_OK),
    ("models", MODEL),
    ("sessions", SESSION),
    ("tasks", TASK),
    ("activity", ACTIVE),
    ("model-cost", MODELS_OVER_TIME[0]),
    ("versions", VERSIONS[0]),
    ("new-returning", NEW),
];

const CSS: &str = "
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #212529; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 8px; }
.summary { color: #495057; margin-bottom: 16px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(620px, 1fr)); gap: 16px; }
section { border: 1px solid #dee2e6; border-radius: 6px; padding: 12px 16px; }
svg text { font: 12px system-ui, sans-serif; fill: #343a40; }
table { border-collapse: collapse; margin-top: 8px; }
td, th { padding: 2px 10px 2px 0; text-align: left; font-variant-numeric: tabular-nums; }
th { color: #495057; font-weight: 600; }
.empty { color: #868e96; font-style: italic; }
.legend span { display: inline-block; margin-right: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
.wide { grid-column: 1 / -1; }
.scroll { max-height: 320px; overflow-y: auto; }
td.cell { text-align: right; }
";

/// A counts section's first line, as the text report says it.
fn counts_summary(c: &super::Counts) -> String {
    super::text::counts_summary(c)
}

/// Stacked parts: a value and its colour each.
type Series = Vec<(f64, &'static str)>;

/// A chart's legend: a label and its colour each.
type Legend = Vec<(String, &'static str)>;

/// One bar of a bar chart: its label, its parts (value and colour, stacked), and a note.
struct Bar {
    label: String,
    parts: Series,
    note: String,
}

const LABEL_W: f64 = 170.0;
const BAR_W: f64 = 320.0;
const NOTE_W: f64 = 120.0;
const ROW_H: f64 = 24.0;

fn bar_chart(name: &str, bars: &[Bar]) -> Markup {
    if bars.is_empty() {
        return html! { p.empty data-chart=(name) { "nothing in this range" } };
    }
    let max = bars
        .iter()
        .map(|b| b.parts.iter().map(|p| p.0).sum::<f64>())
        .fold(0.0, f64::max);
    // A sum past any float (a cost can be) draws a full bar, not NaN.
    let scale = if max > 0.0 && max.is_finite() {
        BAR_W / max
    } else {
        0.0
    };
    let width = LABEL_W + BAR_W + NOTE_W;
    let height = ROW_H * bars.len() as f64;
    html! {
        svg.chart data-chart=(name) role="img" aria-label=(name) xmlns="http://www.w3.org/2000/svg"
            width=(width) height=(height) viewBox=(format!("0 0 {width} {height}")) {
            @for (i, bar) in bars.iter().enumerate() {
                @let y = ROW_H * i as f64;
                text x=(LABEL_W - 8.0) y=(y + 16.0) text-anchor="end" { (clip(&bar.label)) }
                @let mut x = LABEL_W;
                @for (value, colour) in &bar.parts {
                    @let w = if value.is_finite() { value * scale } else { BAR_W };
                    rect x=(format!("{x:.1}")) y=(y + 4.0) width=(format!("{w:.1}")) height=(ROW_H - 8.0)
                        fill=(colour) {}
                    ({ x += w; "" })
                }
                text x=(format!("{:.1}", x + 6.0)) y=(y + 16.0) { (bar.note) }
            }
        }
    }
}

/// Days along the bottom, one stacked column a day.
fn day_chart(name: &str, days: &[(String, Series)]) -> Markup {
    if days.is_empty() {
        return html! { p.empty data-chart=(name) { "nothing in this range" } };
    }
    let (width, height, base) = (600.0, 180.0, 150.0);
    let max = days
        .iter()
        .map(|d| d.1.iter().map(|p| p.0).sum::<f64>())
        .fold(0.0, f64::max);
    // A sum past any float (a cost can be) draws a full column, not NaN.
    let scale = if max > 0.0 && max.is_finite() {
        (base - 10.0) / max
    } else {
        0.0
    };
    let step = (width - 40.0) / days.len() as f64;
    let column = (step * 0.7).clamp(2.0, 40.0);
    html! {
        svg.chart data-chart=(name) role="img" aria-label=(name) xmlns="http://www.w3.org/2000/svg"
            width=(width) height=(height) viewBox=(format!("0 0 {width} {height}")) {
            text x="0" y="12" { "max " (if max.fract() == 0.0 { max.to_string() } else { format!("{max:.4}") }) }
            line x1="30" y1=(base) x2=(width) y2=(base) stroke="#adb5bd" {}
            @for (i, (day, parts)) in days.iter().enumerate() {
                @let x = 40.0 + step * i as f64;
                @let mut top = base;
                @for (value, colour) in parts {
                    @let h = if value.is_finite() { value * scale } else { base - 10.0 };
                    rect x=(format!("{x:.1}")) y=(format!("{:.1}", top - h)) width=(format!("{column:.1}"))
                        height=(format!("{h:.1}")) fill=(colour) {}
                    ({ top -= h; "" })
                }
                @if i == 0 || i + 1 == days.len() {
                    text x=(format!("{x:.1}")) y=(base + 16.0) { (day) }
                }
            }
        }
    }
}

/// A label short enough for its column, its control characters shown as escapes.
fn clip(label: &str) -> String {
    let label = printable(label);
    let label = label.as_ref();
    const MAX: usize = 24;
    if label.chars().count() <= MAX {
        label.to_string()
    } else {
        let mut s: String = label.chars().take(MAX - 1).collect();
        s.push('…');
        s
    }
}

/// A name in a table cell: escaped by maud, its control characters shown as escapes.
fn shown(name: &str) -> String {
    printable(name).into_owned()
}

fn pct(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

fn ms(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), |ms| format!("{ms} ms"))
}

fn dollars(usd: f64) -> String {
    format!("${usd:.4}")
}

/// A legend: a swatch and a label each.
fn legend(items: &Legend) -> Markup {
    html! {
        p.legend {
            @for (label, colour) in items {
                span { i style=(format!("background:{colour}")) {} (shown(label)) }
            }
        }
    }
}

/// One bar a count, in one colour.
fn count_bars(counts: &[super::Count], colour: &'static str) -> Vec<Bar> {
    counts
        .iter()
        .map(|c| Bar {
            label: c.name.clone(),
            parts: vec![(c.count as f64, colour)],
            note: c.count.to_string(),
        })
        .collect()
}

/// The page.
pub fn render(r: &Report) -> String {
    let commands: Vec<Bar> = r
        .commands
        .iter()
        .map(|c| Bar {
            label: c.name.clone(),
            parts: vec![
                (c.succeeded as f64, SUCCESS),
                ((c.count - c.succeeded) as f64, FAILURE),
            ],
            note: format!("{} · {}", c.count, pct(c.success_rate)),
        })
        .collect();
    let tools: Vec<Bar> = r
        .tools
        .iter()
        .map(|t| Bar {
            label: t.rate.name.clone(),
            parts: vec![
                (t.rate.succeeded as f64, TOOL_OK),
                ((t.rate.count - t.rate.succeeded) as f64, TOOL_FAILED),
            ],
            note: format!("{} · {}", t.rate.count, pct(t.rate.success_rate)),
        })
        .collect();
    let models: Vec<Bar> = r
        .models
        .iter()
        .map(|m| Bar {
            label: m.model.clone(),
            parts: vec![(m.cost_usd, MODEL), (m.estimated_cost_usd, MODEL_ESTIMATED)],
            note: format!("${:.4}", m.cost_usd + m.estimated_cost_usd),
        })
        .collect();
    let sessions = count_bars(&r.sessions.outcomes, SESSION);
    let tasks = count_bars(&r.tasks, TASK);
    let s = &r.sessions;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'";
                title { "agent-telemetry report" }
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { "agent-telemetry report" }
                p.summary {
                    (r.events) " events from " (r.installations)
                    @if r.installations == 1 { " installation" } @else { " installations" }
                    @if let (Some(first), Some(last)) = (&r.first, &r.last) {
                        ", " (first) " to " (last)
                    }
                    @if let Some(runs) = r.ephemeral_runs() {
                        br; "and from " (runs)
                    }
                    @if let Some(filter) = r.filter.describe() {
                        br; "only: " (filter)
                    }
                }
                @if r.deletions > 0 {
                    p.summary {
                        (r.deletions)
                        @if r.deletions == 1 { " installation" } @else { " installations" }
                        " asked to be forgotten: none of their events is kept"
                    }
                }
                div.grid {
                    section {
                        h2 { "Commands (succeeded, failed)" }
                        (bar_chart("commands", &commands))
                    }
                    section {
                        h2 { "Tool calls (succeeded, failed)" }
                        (bar_chart("tools", &tools))
                        table {
                            tr { th { "tool" } th { "calls" } th { "success" } th { "p50" } th { "p95" } }
                            @for t in &r.tools {
                                tr { td { (shown(&t.rate.name)) } td { (t.rate.count) } td { (pct(t.rate.success_rate)) }
                                     td { (ms(t.p50_ms)) } td { (ms(t.p95_ms)) } }
                            }
                        }
                    }
                    section {
                        h2 { "Cost by model (reported, estimated)" }
                        (bar_chart("models", &models))
                        table {
                            tr { th { "model" } th { "events" } th { "input tokens" } th { "output tokens" }
                                 th { "reported cost" } th { "estimated cost" } th { "unpriced" } }
                            @for m in &r.models {
                                tr { td { (shown(&m.model)) } td { (m.events) } td { (m.input_tokens) } td { (m.output_tokens) }
                                     td { (format!("${:.4}", m.cost_usd)) } td { (format!("${:.4}", m.estimated_cost_usd)) }
                                     td { (m.unpriced_events) } }
                            }
                        }
                        p.cost { (shown(&r.cost.summary())) }
                    }
                    section {
                        h2 { "Sessions by outcome" }
                        (bar_chart("sessions", &sessions))
                        p {
                            (s.started) " started, " (s.ended) " ended; duration p50 " (ms(s.p50_ms))
                            ", p95 " (ms(s.p95_ms)) "; cost " (format!("${:.4}", s.cost_usd))
                            @if let Some(mean) = s.mean_cost_usd { " (" (format!("${mean:.4}")) " a session)" }
                        }
                    }
                    section {
                        h2 { "Task outcomes" }
                        (bar_chart("tasks", &tasks))
                    }
                    @if r.counts.uploads > 0 {
                        section {
                            h2 { "Counts-only uploads" }
                            p { (counts_summary(&r.counts)) }
                            table {
                                tr { th { "kind" } th { "subject" } th { "outcome" } th { "events" }
                                     th { "input tokens" } th { "output tokens" } th { "cost" } }
                                @for c in &r.counts.counters {
                                    tr { td { (shown(&c.kind)) } td { (shown(c.subject.as_deref().unwrap_or("-"))) }
                                         td { (shown(c.outcome.as_deref().unwrap_or("-"))) } td { (c.count) }
                                         td { (c.input_tokens) } td { (c.output_tokens) } td { (format!("${:.4}", c.cost_usd)) } }
                                }
                            }
                        }
                    }
                    (over_time(r))
                    (retention(r))
                }
            }
        }
    };
    page.into_string()
}

/// Installations a period, stacked by version: the most used versions get their own colour,
/// the rest share the last.
fn versions_by_period(r: &Report) -> (Legend, Vec<(String, Series)>) {
    let mut totals: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for v in &r.versions {
        *totals.entry(version_label(v)).or_default() += v.installations;
    }
    let mut ranked: Vec<(String, u64)> = totals.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let named = VERSIONS.len() - 1;
    let colour = |label: &str| {
        ranked
            .iter()
            .take(named)
            .position(|(l, _)| l == label)
            .map_or(VERSIONS[named], |i| VERSIONS[i])
    };
    let mut legend: Legend = ranked
        .iter()
        .take(named)
        .map(|(l, _)| (l.clone(), colour(l)))
        .collect();
    if ranked.len() > named {
        legend.push(("other versions".to_string(), VERSIONS[named]));
    }
    let mut days: Vec<(String, Series)> = Vec::new();
    for v in &r.versions {
        if days.last().is_none_or(|d| d.0 != v.period) {
            days.push((v.period.clone(), Vec::new()));
        }
        if let Some(day) = days.last_mut() {
            day.1
                .push((v.installations as f64, colour(&version_label(v))));
        }
    }
    (legend, days)
}

/// A version's name in the legend; the `other` rows, whatever their K, are one.
fn version_label(v: &super::VersionPeriod) -> String {
    if v.folded > 0 {
        "other versions".to_string()
    } else if v.product.is_empty() {
        v.version.clone()
    } else {
        format!("{} {}", v.product, v.version)
    }
}

/// The over-time sections: activity, cost by model, and versions, a column a period.
fn over_time(r: &Report) -> Markup {
    let noun = r.over_time.granularity.noun();
    let periods = &r.over_time.periods;
    let activity: Vec<(String, Series)> = periods
        .iter()
        .map(|p| (p.start.clone(), vec![(p.installations as f64, ACTIVE)]))
        .collect();
    // The models keep one colour across periods: the order of the models section.
    let named = MODELS_OVER_TIME.len() - 1;
    let colour = |m: &super::Model| {
        let i = r.models.iter().position(|top| top.model == m.model);
        match i {
            Some(i) if m.folded == 0 && i < named => MODELS_OVER_TIME[i],
            _ => MODELS_OVER_TIME[named],
        }
    };
    let cost: Vec<(String, Series)> = periods
        .iter()
        .map(|p| {
            let parts = p
                .models
                .iter()
                .map(|m| (m.cost_usd + m.estimated_cost_usd, colour(m)))
                .collect();
            (p.start.clone(), parts)
        })
        .collect();
    let mut model_legend: Legend = r
        .models
        .iter()
        .filter(|m| m.folded == 0)
        .take(named)
        .map(|m| (m.model.clone(), colour(m)))
        .collect();
    if periods
        .iter()
        .flat_map(|p| &p.models)
        .any(|m| colour(m) == MODELS_OVER_TIME[named])
    {
        model_legend.push(("other models".to_string(), MODELS_OVER_TIME[named]));
    }
    let (version_legend, versions) = versions_by_period(r);
    html! {
        section.wide {
            h2 { "Over time, by " (noun) ": active installations" }
            (day_chart("activity", &activity))
            @if r.more.periods > 0 { p.empty { "and " (r.more.periods) " earlier periods" } }
            div.scroll {
                table {
                    tr { th { (noun) } th { "installations" } th { "events" } th { "tool calls" }
                         th { "tool failure rate" } th { "input tokens" } th { "output tokens" } th { "cost" } }
                    @for p in periods {
                        @let (input, output, cost) = p.token_totals();
                        tr { td { (p.start) } td.cell { (p.installations) } td.cell { (p.events) }
                             td.cell { (p.tool_calls) }
                             td.cell { (p.tool_failure_rate.map_or_else(|| "-".to_string(), pct)) }
                             td.cell { (input) } td.cell { (output) } td.cell { (dollars(cost)) } }
                    }
                }
            }
        }
        section {
            h2 { "Cost by model and " (noun) " (reported and estimated)" }
            (day_chart("model-cost", &cost))
            (legend(&model_legend))
            div.scroll {
                table {
                    tr { th { (noun) } th { "model" } th { "events" } th { "input tokens" } th { "output tokens" }
                         th { "reported cost" } th { "estimated cost" } }
                    @for p in periods {
                        @for m in &p.models {
                            tr { td { (p.start) } td { (shown(&m.model)) } td.cell { (m.events) }
                                 td.cell { (m.input_tokens) } td.cell { (m.output_tokens) }
                                 td.cell { (dollars(m.cost_usd)) } td.cell { (dollars(m.estimated_cost_usd)) } }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Installations by " (noun) " and version" }
            (day_chart("versions", &versions))
            (legend(&version_legend))
            div.scroll {
                table {
                    tr { th { (noun) } th { "product" } th { "version" } th { "installations" } th { "share" } th { "events" } }
                    @for v in &r.versions {
                        tr { td { (v.period) } td { (shown(&v.product)) } td { (shown(&v.version)) }
                             td.cell { (v.installations) } td.cell { (pct(v.share)) } td.cell { (v.events) } }
                    }
                }
            }
        }
    }
}

/// New and returning installations by week, and the cohort table (each cell shaded by the
/// share of its cohort still active).
fn retention(r: &Report) -> Markup {
    let weeks: Vec<(String, Series)> = r
        .retention
        .weeks
        .iter()
        .map(|w| {
            (
                w.week.clone(),
                vec![(w.new as f64, NEW), (w.returning as f64, RETURNING)],
            )
        })
        .collect();
    let columns = r
        .retention
        .cohorts
        .iter()
        .map(|c| c.active.len())
        .max()
        .unwrap_or(0);
    let key: Legend = vec![
        ("new".to_string(), NEW),
        ("returning".to_string(), RETURNING),
    ];
    html! {
        section {
            h2 { "New and returning installations by week" }
            (day_chart("new-returning", &weeks))
            (legend(&key))
            div.scroll {
                table {
                    tr { th { "week" } th { "new" } th { "returning" } }
                    @for w in &r.retention.weeks {
                        tr { td { (w.week) } td.cell { (w.new) } td.cell { (w.returning) } }
                    }
                }
            }
        }
        section {
            h2 { "Weekly retention" }
            p { "Installations first seen each week (their first event in the store), and how many were active 1, 2, … weeks later." }
            @if r.retention.cohorts.is_empty() {
                p.empty data-chart="retention" { "nothing in this range" }
            } @else {
                div.scroll {
                    table data-chart="retention" {
                        tr {
                            th { "first week" } th { "installations" }
                            @for k in 1..=columns { th { "+" (k) } }
                        }
                        @for c in &r.retention.cohorts {
                            tr {
                                td { (c.week) } td.cell { (c.installations) }
                                @for k in 0..columns {
                                    @if let Some(n) = c.active.get(k) {
                                        @let part = *n as f64 / c.installations.max(1) as f64;
                                        td.cell style=(format!("background:rgba(214,51,108,{:.2})", part * 0.6)) {
                                            (n) " (" (pct(part)) ")"
                                        }
                                    } @else {
                                        td.cell { "-" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
