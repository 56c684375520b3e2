//! Integration tests live in `integration/`; run them with `cargo test`.
