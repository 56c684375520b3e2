//! Serves the test suite's isolated plugins: what a host's `main` begins with, in a program of
//! its own (a test harness cannot be started again as a runner).

use clock_interface::ClockRef;
use counter_interface::CounterRef;
use greeter_interface::GreeterRef;
use xplug_loader::isolation::{serve_if_child, serves};

fn main() {
    serve_if_child(&[
        serves::<GreeterRef>(),
        serves::<CounterRef>(),
        serves::<ClockRef>(),
    ]);
    eprintln!("isolated-runner: started by an xplug host only, to serve an isolated plugin");
    std::process::exit(2);
}
