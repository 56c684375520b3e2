//! The load pipeline, one module per stage, in the order a file goes through them:
//!
//! | stage | module | reads | runs plugin code |
//! |---|---|---|---|
//! | 1. file | [`file`] | the path's metadata | no |
//! | 2. object format | [`object`] | the file's object headers | no |
//! | 3. header | [`header`] | the dynamic symbol table and the header's bytes | no |
//! | 4. compatibility | [`compat`] | the parsed header | no |
//! | 5. open + layout | [`open`], [`layout`] | `dlopen`, then the layouts in memory | static constructors |
//! | 6. init | [`init`] | — | the plugin's `on_load` |
//!
//! Stages 1 to 3 make up [`inspect`](crate::inspect()); [`Loader`](crate::Loader) runs all six.

pub(crate) mod compat;
pub(crate) mod file;
pub(crate) mod header;
pub(crate) mod init;
pub(crate) mod layout;
pub(crate) mod object;
pub(crate) mod open;
