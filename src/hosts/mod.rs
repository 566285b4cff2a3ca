//! Hosts: thin loops that move bytes and time between the world and the core.
//!
//! Each host is behind a cargo feature and compiled only for `wasm32`:
//! - `worker`: the Cloudflare Worker ([`worker`](self::worker)).

#[cfg(all(feature = "worker", target_arch = "wasm32"))]
pub mod worker;
