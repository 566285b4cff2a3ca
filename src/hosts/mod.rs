//! Hosts: thin loops that move bytes and time between the world and the core.
//!
//! Each host is behind a cargo feature:
//! - `worker`: the Cloudflare Worker ([`worker`](self::worker)), wasm32 only.
//! - `browser`: the npm package for browser apps ([`browser`](self::browser)), wasm32 only.
//! - `component`: the WebAssembly component exporting the WIT world in `wit/`
//!   ([`component`](self::component)), built for `wasm32-wasip2`.
//!
//! The Worker and the browser package both call upstreams with the JavaScript
//! `fetch`; they share one driver for that, [`fetch`](self::fetch).

#[cfg(all(feature = "js-fetch", target_arch = "wasm32"))]
pub mod fetch;

#[cfg(all(feature = "js-fetch", target_arch = "wasm32"))]
pub mod js;

#[cfg(all(feature = "worker", target_arch = "wasm32"))]
pub mod worker;

#[cfg(all(feature = "browser", target_arch = "wasm32"))]
pub mod browser;

#[cfg(feature = "component")]
pub mod component;
