//! Tries to connect to the address in its first argument. Under `agent-telemetry run` this
//! must fail: agents get no network. Prints what happened; exits 0 when the connection was
//! refused by the sandbox, 3 if it connected (which the tests treat as a breach).

use std::net::TcpStream;

fn main() {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("usage: net-probe HOST:PORT");
        std::process::exit(2);
    };
    match TcpStream::connect(addr.as_str()) {
        Ok(_) => {
            println!("net-probe: CONNECTED to {addr}");
            std::process::exit(3);
        }
        Err(e) => println!("net-probe: connection to {addr} denied: {e}"),
    }
}
