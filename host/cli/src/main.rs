use clap::Parser;

use agent_telemetry_cli::{self as cli, Cli};

#[tokio::main]
async fn main() {
    // Like other Unix tools, end quietly when the reader of the output goes away
    // (`agent-telemetry log | head -1`) instead of panicking on a failed print.
    #[cfg(unix)]
    // SAFETY: restoring the default action of a signal, before any other thread prints.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        // Colours only for a person at a terminal, never in a file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli::run(cli).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("agent-telemetry: {e:#}");
            std::process::exit(2);
        }
    }
}
