//! Tries to make the host hold far more memory than the agent has, through `recorder`:
//!
//! - `alias`: one call of `record-many` with 100,000 events whose tool names all point at the
//!   same 1 MiB string: 1 MiB of the agent's memory, 100 GB if the host copied each one;
//! - `many`: 200 calls of 20,000 small events each, four million in all, as fast as it can,
//!   then a flush, and it prints what its `status` says;
//! - `grow`: allocates until it cannot; `spin`: never returns; `status`: prints the reason
//!   its `status` gives.

wit_bindgen::generate!({
    world: "agent",
    path: "../../../wit",
    ownership: Borrowing { duplicate_if_necessary: true },
});

use agent::telemetry::recorder as r;

fn tool_call(tool: &str) -> r::EventParam<'_> {
    r::EventParam::ToolCall(r::ToolCallParam {
        tool,
        session_id: None,
        agent: None,
        duration_ms: 1,
        outcome: r::Outcome::Success,
        error: None,
    })
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("alias") => {
            let big = "x".repeat(1 << 20);
            let events: Vec<r::EventParam<'_>> = (0..100_000).map(|_| tool_call(&big)).collect();
            r::record_many(&events);
            println!("the host took 100 GB");
        }
        Some("many") => {
            let events: Vec<r::EventParam<'_>> =
                (0..20_000).map(|_| tool_call("read_file")).collect();
            for _ in 0..200 {
                r::record_many(&events);
            }
            let flushed = r::flush(5_000);
            let status = r::status();
            println!(
                "recorded 4000000 flushed-sent {} status-recorded {} status-dropped {}",
                flushed.sent, status.recorded, status.dropped
            );
        }
        Some("grow") => {
            let mut kept: Vec<Vec<u8>> = Vec::new();
            loop {
                kept.push(vec![1; 1 << 20]);
                std::hint::black_box(&kept);
            }
        }
        Some("spin") => {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        Some("status") => println!("status {}", r::status().reason),
        _ => {
            eprintln!("usage: fixture-flood alias|many|grow|spin|status");
            std::process::exit(2);
        }
    }
}
