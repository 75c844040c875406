//! The report as text tables, a section each.

use std::fmt::Write;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::{Report, printable};

/// A name as the terminal is given it.
fn name(s: &str) -> String {
    printable(s).into_owned()
}

/// The line under a table that cut rows.
fn more(out: &mut String, n: u64, what: &str) {
    if n > 0 {
        let _ = writeln!(out, "… and {n} more {what}");
    }
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
    more(&mut out, r.more.commands, "commands");
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
    more(&mut out, r.more.tools, "tools");
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
    more(&mut out, r.more.models, "models");
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
        .chain((r.more.outcomes > 0).then(|| format!("{} more outcomes", r.more.outcomes)))
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
    more(&mut out, r.more.tasks, "task states");
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
        more(&mut out, r.more.counters, "counters");
        out.push('\n');
    }

    let mut t = table(&["day", "product", "version", "installations", "events"]);
    for v in &r.versions {
        t.add_row([
            v.day.clone(),
            name(&v.product),
            name(&v.version),
            v.installations.to_string(),
            v.events.to_string(),
        ]);
    }
    let _ = write!(out, "Installations and versions by day\n{t}");
    if r.more.versions > 0 {
        let _ = write!(
            out,
            "\n… {} more versions counted as `other versions`",
            r.more.versions
        );
    }
    if r.more.days > 0 {
        let _ = write!(out, "\n… and {} earlier days", r.more.days);
    }
    out
}
