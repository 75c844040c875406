//! The report as text tables, a section each.

use std::fmt::Write;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::{Report, printable};

/// A name as the terminal is given it.
fn name(s: &str) -> String {
    printable(s).into_owned()
}

/// `7 uploads from 1 installation, 154 events`.
pub fn counts_summary(c: &super::Counts) -> String {
    let s = |n: u64| if n == 1 { "" } else { "s" };
    format!(
        "{} upload{} from {} installation{}, {} event{}",
        c.uploads,
        s(c.uploads),
        c.installations,
        s(c.installations),
        c.events,
        s(c.events)
    )
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    t
}

fn ms(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), |ms| format!("{ms} ms"))
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn dollars(usd: f64) -> String {
    format!("${usd:.4}")
}

/// Every section, with a heading, as one string.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let span = match (&r.first, &r.last) {
        (Some(first), Some(last)) => format!(" from {first} to {last}"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "{} events from {} installation{}{span}",
        r.events,
        r.installations,
        if r.installations == 1 { "" } else { "s" }
    );
    if let Some(runs) = r.ephemeral_runs() {
        let _ = writeln!(out, "and from {runs}");
    }
    if r.deletions > 0 {
        let _ = writeln!(
            out,
            "{} installation{} asked to be forgotten: none of their events is kept",
            r.deletions,
            if r.deletions == 1 { "" } else { "s" }
        );
    }
    if let Some(filter) = r.filter.describe() {
        let _ = writeln!(out, "only: {filter}");
    }
    out.push('\n');

    let mut t = table(&["command", "runs", "succeeded", "success rate"]);
    for c in &r.commands {
        t.add_row([
            name(&c.name),
            c.count.to_string(),
            c.succeeded.to_string(),
            percent(c.success_rate),
        ]);
    }
    let _ = writeln!(out, "Commands\n{t}");
    out.push('\n');

    let mut t = table(&["tool", "calls", "succeeded", "success rate", "p50", "p95"]);
    for tool in &r.tools {
        let c = &tool.rate;
        t.add_row([
            name(&c.name),
            c.count.to_string(),
            c.succeeded.to_string(),
            percent(c.success_rate),
            ms(tool.p50_ms),
            ms(tool.p95_ms),
        ]);
    }
    let _ = writeln!(out, "Tool calls\n{t}");
    out.push('\n');

    let mut t = table(&[
        "model",
        "events",
        "input tokens",
        "output tokens",
        "reported cost",
        "estimated cost",
        "unpriced",
    ]);
    for m in &r.models {
        t.add_row([
            name(&m.model),
            m.events.to_string(),
            m.input_tokens.to_string(),
            m.output_tokens.to_string(),
            format!("${:.4}", m.cost_usd),
            format!("${:.4}", m.estimated_cost_usd),
            m.unpriced_events.to_string(),
        ]);
    }
    let _ = writeln!(out, "Tokens and cost by model\n{t}");
    let _ = writeln!(out, "{}\n", name(&r.cost.summary()));

    let s = &r.sessions;
    let mut t = table(&[
        "started",
        "ended",
        "outcomes",
        "p50",
        "p95",
        "cost",
        "mean cost",
    ]);
    let outcomes: Vec<String> = s
        .outcomes
        .iter()
        .map(|o| format!("{} {}", o.count, name(&o.name)))
        .collect();
    t.add_row([
        s.started.to_string(),
        s.ended.to_string(),
        outcomes.join(", "),
        ms(s.p50_ms),
        ms(s.p95_ms),
        format!("${:.4}", s.cost_usd),
        s.mean_cost_usd
            .map_or_else(|| "-".to_string(), |c| format!("${c:.4}")),
    ]);
    let _ = writeln!(out, "Sessions\n{t}\n");

    let mut t = table(&["task state", "events"]);
    for c in &r.tasks {
        t.add_row([name(&c.name), c.count.to_string()]);
    }
    let _ = writeln!(out, "Task outcomes\n{t}");
    out.push('\n');

    if r.counts.uploads > 0 {
        let mut t = table(&[
            "kind",
            "subject",
            "outcome",
            "events",
            "input tokens",
            "output tokens",
            "cost",
        ]);
        for c in &r.counts.counters {
            t.add_row([
                name(&c.kind),
                name(c.subject.as_deref().unwrap_or("-")),
                name(c.outcome.as_deref().unwrap_or("-")),
                c.count.to_string(),
                c.input_tokens.to_string(),
                c.output_tokens.to_string(),
                format!("${:.4}", c.cost_usd),
            ]);
        }
        let _ = writeln!(
            out,
            "Counts-only uploads: {}\n{t}",
            counts_summary(&r.counts)
        );
        out.push('\n');
    }

    over_time(&mut out, r);
    retention(&mut out, &r.retention);
    out
}

/// The series by day or week: its totals, its models, and its versions.
fn over_time(out: &mut String, r: &Report) {
    let noun = r.over_time.granularity.noun();
    let mut t = table(&[
        noun,
        "installations",
        "events",
        "tool calls",
        "tool failure rate",
        "input tokens",
        "output tokens",
        "cost",
    ]);
    for p in &r.over_time.periods {
        let (input, output, cost) = p.token_totals();
        t.add_row([
            p.start.clone(),
            p.installations.to_string(),
            p.events.to_string(),
            p.tool_calls.to_string(),
            p.tool_failure_rate.map_or_else(|| "-".to_string(), percent),
            input.to_string(),
            output.to_string(),
            dollars(cost),
        ]);
    }
    let _ = writeln!(out, "Over time, by {noun}\n{t}");
    if r.more.periods > 0 {
        let _ = writeln!(out, "… and {} earlier {noun}s", r.more.periods);
    }
    out.push('\n');

    let mut t = table(&[
        noun,
        "model",
        "events",
        "input tokens",
        "output tokens",
        "reported cost",
        "estimated cost",
    ]);
    for p in &r.over_time.periods {
        for m in &p.models {
            t.add_row([
                p.start.clone(),
                name(&m.model),
                m.events.to_string(),
                m.input_tokens.to_string(),
                m.output_tokens.to_string(),
                dollars(m.cost_usd),
                dollars(m.estimated_cost_usd),
            ]);
        }
    }
    let _ = writeln!(out, "Tokens and cost by model and {noun}\n{t}\n");

    let mut t = table(&[
        noun,
        "product",
        "version",
        "installations",
        "share",
        "events",
    ]);
    for v in &r.versions {
        t.add_row([
            v.period.clone(),
            name(&v.product),
            name(&v.version),
            v.installations.to_string(),
            percent(v.share),
            v.events.to_string(),
        ]);
    }
    let _ = writeln!(
        out,
        "Versions by {noun} (share of the {noun}'s installations)\n{t}\n"
    );
}

/// New and returning installations by week, and the cohort table.
fn retention(out: &mut String, r: &super::Retention) {
    let mut t = table(&["week", "new", "returning"]);
    for w in &r.weeks {
        t.add_row([w.week.clone(), w.new.to_string(), w.returning.to_string()]);
    }
    let _ = writeln!(out, "New and returning installations by week\n{t}\n");

    let columns = r.cohorts.iter().map(|c| c.active.len()).max().unwrap_or(0);
    let mut header = vec!["first week".to_string(), "installations".to_string()];
    header.extend((1..=columns).map(|k| format!("+{k}")));
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    for c in &r.cohorts {
        let mut row = vec![c.week.clone(), c.installations.to_string()];
        row.extend((0..columns).map(|k| {
            c.active.get(k).map_or_else(
                || "-".to_string(),
                |n| {
                    format!(
                        "{n} ({:.0}%)",
                        *n as f64 * 100.0 / c.installations.max(1) as f64
                    )
                },
            )
        }));
        t.add_row(row);
    }
    let _ = write!(
        out,
        "Weekly retention: installations first seen each week, and how many were active 1, 2, … \
         weeks later\n{t}"
    );
}
