//! The smallest agent: it prints a line and exits. It imports nothing but what Rust's std
//! does, so stock `wasmtime run` runs it as it is; start-up is measured with it.

fn main() {
    println!("hello from a sandboxed agent");
}
