//! The integration tests live in `integration/`. This crate also compiles the README's code.
#![doc = include_str!("../README.md")]
