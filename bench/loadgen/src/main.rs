//! bench-loadgen: a closed-loop HTTP/1.1 load generator for bench/run.
//!
//! `concurrency` workers each send one request at a time (keep-alive connections
//! from a shared pool) until `requests` measured requests were sent or
//! `duration-ms` passed, whichever comes first; `warmup` requests go before the
//! measured phase and are not counted. Loopback only: the URL must point at
//! 127.0.0.0/8 or localhost.
//!
//! For each request it records the latency to the first body byte (for a
//! streaming answer: the first SSE bytes, i.e. time to first byte) and to the
//! last byte, and counts an error for anything but a 200 whose body contains
//! `--expect`. It prints one JSON object:
//!
//! {"count", "ok", "errors", "error_kinds": {...}, "error_samples": [...],
//!  "elapsed_s", "rps", "total_us": {p50,p95,p99,mean,min,max},
//!  "ttfb_us": {...}, "raw_total_us": [...] (with --raw)}
//!
//! One thread (tokio current_thread): the point is to stay out of the way of
//! the systems measured on a 2-core machine.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Opts {
    url: String,
    body: String,
    headers: Vec<(String, String)>,
    concurrency: usize,
    requests: usize,
    duration: Duration,
    warmup: usize,
    timeout: Duration,
    expect: Option<String>,
    raw: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-loadgen --url URL [--body JSON | --body-file PATH] [--header 'K: V']... \
         [--concurrency N] [--requests N] [--duration-ms MS] [--warmup N] [--timeout-ms MS] \
         [--expect SUBSTRING] [--raw]"
    );
    std::process::exit(2)
}

fn parse() -> Opts {
    let mut o = Opts {
        url: String::new(),
        body: String::new(),
        headers: vec![],
        concurrency: 1,
        requests: 1000,
        duration: Duration::from_secs(5),
        warmup: 0,
        timeout: Duration::from_secs(30),
        expect: None,
        raw: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--url" => o.url = val(),
            "--body" => o.body = val(),
            "--body-file" => o.body = std::fs::read_to_string(val()).expect("read --body-file"),
            "--header" => {
                let h = val();
                let (k, v) = h.split_once(':').unwrap_or_else(|| usage());
                o.headers.push((k.trim().to_string(), v.trim().to_string()));
            }
            "--concurrency" => o.concurrency = val().parse().unwrap_or_else(|_| usage()),
            "--requests" => o.requests = val().parse().unwrap_or_else(|_| usage()),
            "--duration-ms" => {
                o.duration = Duration::from_millis(val().parse().unwrap_or_else(|_| usage()))
            }
            "--warmup" => o.warmup = val().parse().unwrap_or_else(|_| usage()),
            "--timeout-ms" => {
                o.timeout = Duration::from_millis(val().parse().unwrap_or_else(|_| usage()))
            }
            "--expect" => o.expect = Some(val()),
            "--raw" => o.raw = true,
            _ => usage(),
        }
    }
    if o.url.is_empty() || o.concurrency == 0 {
        usage()
    }
    let host = o
        .url
        .strip_prefix("http://")
        .and_then(|r| r.split(['/', ':']).next())
        .unwrap_or("");
    if !(host == "localhost" || host.starts_with("127.")) {
        eprintln!("bench-loadgen: refusing a non-loopback URL: {}", o.url);
        std::process::exit(2)
    }
    o
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

struct Sample {
    ttfb_us: u64,
    total_us: u64,
}

enum Outcome {
    Ok(Sample),
    Err(String, String), // kind, detail
}

async fn one(client: &HttpClient, o: &Opts) -> Outcome {
    let mut req = Request::post(&o.url).header("content-type", "application/json");
    for (k, v) in &o.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(o.body.clone())))
        .expect("request");
    let t0 = Instant::now();
    let fut = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| ("transport".to_string(), format!("{e:?}")))?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut ttfb = None;
        let mut buf: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ("body".to_string(), format!("{e:?}")))?;
            if let Some(d) = frame.data_ref() {
                if ttfb.is_none() && !d.is_empty() {
                    ttfb = Some(t0.elapsed());
                }
                buf.extend_from_slice(d);
            }
        }
        let total = t0.elapsed();
        Ok::<_, (String, String)>((status, ttfb.unwrap_or(total), total, buf))
    };
    match tokio::time::timeout(o.timeout, fut).await {
        Err(_) => Outcome::Err("timeout".into(), format!("no answer in {:?}", o.timeout)),
        Ok(Err((k, d))) => Outcome::Err(k, d),
        Ok(Ok((status, ttfb, total, buf))) => {
            let text = String::from_utf8_lossy(&buf);
            if status != 200 {
                return Outcome::Err(format!("status_{status}"), text.chars().take(300).collect());
            }
            if let Some(e) = &o.expect {
                if !text.contains(e.as_str()) {
                    return Outcome::Err(
                        "unexpected_body".into(),
                        text.chars().take(300).collect(),
                    );
                }
            }
            Outcome::Ok(Sample {
                ttfb_us: ttfb.as_micros() as u64,
                total_us: total.as_micros() as u64,
            })
        }
    }
}

#[derive(Default)]
struct Acc {
    samples: Vec<Sample>,
    errors: BTreeMap<String, u64>,
    error_samples: Vec<String>,
    issued: usize,
}

fn stats(mut v: Vec<u64>) -> serde_json::Value {
    if v.is_empty() {
        return serde_json::Value::Null;
    }
    v.sort_unstable();
    let pct = |p: f64| {
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    };
    let mean = v.iter().sum::<u64>() as f64 / v.len() as f64;
    serde_json::json!({
        "p50": pct(50.0), "p95": pct(95.0), "p99": pct(99.0),
        "mean": mean.round(), "min": v[0], "max": v[v.len() - 1],
    })
}

fn main() {
    let o = parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let out = rt.block_on(run(o));
    println!("{out}");
}

async fn run(o: Opts) -> serde_json::Value {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(o.concurrency)
        .pool_idle_timeout(Duration::from_secs(30))
        .build(http);
    let o = Rc::new(o);
    let local = tokio::task::LocalSet::new();

    // Warm-up: not measured (JITs, connection pools, caches of the systems measured).
    if o.warmup > 0 {
        let left = Rc::new(RefCell::new(o.warmup));
        let mut hs = vec![];
        for _ in 0..o.concurrency {
            let (c, o, left) = (client.clone(), o.clone(), left.clone());
            hs.push(local.spawn_local(async move {
                loop {
                    {
                        let mut l = left.borrow_mut();
                        if *l == 0 {
                            break;
                        }
                        *l -= 1;
                    }
                    let _ = one(&c, &o).await;
                }
            }));
        }
        local
            .run_until(async {
                for h in hs {
                    let _ = h.await;
                }
            })
            .await;
    }

    let acc = Rc::new(RefCell::new(Acc::default()));
    let start = Instant::now();
    let mut hs = vec![];
    for _ in 0..o.concurrency {
        let (c, o, acc) = (client.clone(), o.clone(), acc.clone());
        hs.push(local.spawn_local(async move {
            loop {
                {
                    let mut a = acc.borrow_mut();
                    if a.issued >= o.requests || start.elapsed() >= o.duration {
                        break;
                    }
                    a.issued += 1;
                }
                let r = one(&c, &o).await;
                let mut a = acc.borrow_mut();
                match r {
                    Outcome::Ok(s) => a.samples.push(s),
                    Outcome::Err(k, d) => {
                        *a.errors.entry(k.clone()).or_default() += 1;
                        if a.error_samples.len() < 5 {
                            a.error_samples.push(format!("{k}: {d}"));
                        }
                    }
                }
            }
        }));
    }
    local
        .run_until(async {
            for h in hs {
                let _ = h.await;
            }
        })
        .await;
    let elapsed = start.elapsed().as_secs_f64();

    let acc = Rc::try_unwrap(acc).ok().expect("workers done").into_inner();
    let ok = acc.samples.len();
    let errors: u64 = acc.errors.values().sum();
    let raw: Vec<u64> = acc.samples.iter().map(|s| s.total_us).collect();
    let mut out = serde_json::json!({
        "url": o.url,
        "concurrency": o.concurrency,
        "count": ok as u64 + errors,
        "ok": ok,
        "errors": errors,
        "error_kinds": acc.errors,
        "error_samples": acc.error_samples,
        "elapsed_s": elapsed,
        "rps": if elapsed > 0.0 { ok as f64 / elapsed } else { 0.0 },
        "total_us": stats(raw.clone()),
        "ttfb_us": stats(acc.samples.iter().map(|s| s.ttfb_us).collect()),
    });
    if o.raw {
        out["raw_total_us"] = serde_json::json!(raw);
    }
    out
}
