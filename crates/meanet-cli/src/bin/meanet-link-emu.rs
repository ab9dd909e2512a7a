//! `meanet-link-emu`: the link laboratory's emulated link (see docs/link.md and
//! `scripts/link-lab`), a user-space relay between two TUN devices.
//!
//! This machine's kernel has network namespaces, veth pairs, TUN and the `tbf`/`htb` shapers,
//! but no `netem`, no classifiers and no iptables: nothing in the kernel can delay or drop a
//! packet at random. So the lab routes every packet between the edge's and the cloud's
//! namespaces through this process, which applies, per direction:
//! - the rate (the uplink follows a trace, `seconds mbps` or Mahimahi, read by core's
//!   [`LinkTrace`]; a rate of 0 is an outage: packets are dropped, as on a cut link);
//! - a one-way delay of half the RTT;
//! - random loss (seeded);
//! - a drop-tail queue of at most `--queue-ms` of waiting.
//!
//! Packets are IP packets read from one TUN device and written to the other; routing rules in
//! the link namespace send the edge's packets into `--up` and the cloud's into `--down`.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;
use meanet_core::Seconds;
use meanet_core::link::{LinkTrace, TraceFormat};
use tun_tap::{Iface, Mode};

/// A user-space link between two TUN devices: rate (from a trace), delay, loss, queue.
#[derive(Debug, Parser)]
#[command(name = "meanet-link-emu", version)]
struct Args {
    /// The TUN device the edge's packets arrive on (the uplink's input).
    #[arg(long)]
    up: String,
    /// The TUN device the cloud's packets arrive on (the downlink's input).
    #[arg(long)]
    down: String,
    /// The uplink's rate over time: a trace file (`seconds mbps` or Mahimahi, detected).
    #[arg(long)]
    trace: Option<PathBuf>,
    /// The uplink's rate without a trace, Mbit/s.
    #[arg(long, default_value_t = 20.0)]
    up_mbps: f64,
    /// The downlink's rate, Mbit/s.
    #[arg(long, default_value_t = 100.0)]
    down_mbps: f64,
    /// Round-trip time added, ms (half each way).
    #[arg(long, default_value_t = 40.0)]
    rtt_ms: f64,
    /// Share of packets dropped at random, each way, in [0, 1).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// The longest a packet may wait in the queue before it is dropped, ms.
    #[arg(long, default_value_t = 1000.0)]
    queue_ms: f64,
    /// Seed of the loss.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to write the time the trace starts (Unix seconds), once the link runs.
    #[arg(long)]
    start_file: Option<PathBuf>,
}

fn main() -> Result<()> {
    let a = Args::parse();
    if !(0.0..1.0).contains(&a.loss) {
        bail!("--loss {} must be in [0, 1)", a.loss);
    }
    for (name, v) in [
        ("--up-mbps", a.up_mbps),
        ("--down-mbps", a.down_mbps),
        ("--rtt-ms", a.rtt_ms),
        ("--queue-ms", a.queue_ms),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            bail!("{name} {v} must be finite and >= 0");
        }
    }
    let trace = match &a.trace {
        Some(p) => {
            let meta = std::fs::metadata(p).with_context(|| format!("trace {}", p.display()))?;
            if meta.len() > meanet_core::link::MAX_TRACE_BYTES as u64 {
                bail!(
                    "trace {} is {} bytes, more than the {} read",
                    p.display(),
                    meta.len(),
                    meanet_core::link::MAX_TRACE_BYTES
                );
            }
            let text =
                std::fs::read_to_string(p).with_context(|| format!("trace {}", p.display()))?;
            LinkTrace::parse(&text, TraceFormat::detect(&text))
                .with_context(|| format!("trace {}", p.display()))?
        }
        None => LinkTrace::phases(&[(Seconds(1.0), a.up_mbps)]).context("--up-mbps")?,
    };
    let up = open_tun(&a.up)?;
    let down = open_tun(&a.down)?;
    let start = Instant::now();
    if let Some(f) = &a.start_file {
        let unix = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
        std::fs::write(f, format!("{unix:.6}\n")).with_context(|| format!("{}", f.display()))?;
    }
    let one_way = Duration::from_secs_f64(a.rtt_ms / 2e3);
    let queue = Duration::from_secs_f64(a.queue_ms / 1e3);
    let down_bps = a.down_mbps * 1e6;
    let uplink = Direction {
        name: "uplink",
        rate: Box::new(move |t| trace.bps_at(Seconds(t))),
        delay: one_way,
        loss: a.loss,
        queue,
        seed: a.seed,
    };
    let downlink = Direction {
        name: "downlink",
        rate: Box::new(move |_| down_bps),
        delay: one_way,
        loss: a.loss,
        queue,
        seed: a.seed ^ 0x9e37_79b9_7f4a_7c15,
    };
    let (up_out, down_out) = (Arc::clone(&down), Arc::clone(&up));
    let u = std::thread::spawn(move || uplink.run(up, up_out, start));
    let d = std::thread::spawn(move || downlink.run(down, down_out, start));
    for h in [u, d] {
        h.join()
            .map_err(|_| anyhow::anyhow!("a link direction panicked"))??;
    }
    Ok(())
}

/// One direction of the link.
struct Direction {
    name: &'static str,
    /// Bits per second at `t` seconds from the start.
    rate: Box<dyn Fn(f64) -> f64 + Send>,
    delay: Duration,
    loss: f64,
    queue: Duration,
    seed: u64,
}

impl Direction {
    /// Reads packets from `input`, and writes each to `output` when the link delivers it.
    fn run(self, input: Arc<Iface>, output: Arc<Iface>, start: Instant) -> Result<()> {
        let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
        let name = self.name;
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            loop {
                match input.recv(&mut buf) {
                    Ok(n) if n > 0 => {
                        if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Ok(_) => return,
                    Err(e) => {
                        eprintln!("meanet-link-emu: {name}: reading: {e}");
                        return;
                    }
                }
            }
        });
        let mut rng = self.seed.max(1);
        let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
        let mut free = start;
        loop {
            let now = Instant::now();
            let wait = queue.front().map_or(Duration::from_secs(1), |(at, _)| {
                at.saturating_duration_since(now)
            });
            match rx.recv_timeout(wait) {
                Ok((arrived, packet)) => {
                    // xorshift64: the loss is reproducible from the seed.
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    if (rng >> 11) as f64 / (1u64 << 53) as f64 >= self.loss {
                        let begin = free.max(arrived);
                        let bps = (self.rate)(begin.duration_since(start).as_secs_f64());
                        if bps > 0.0 && begin.duration_since(arrived) <= self.queue {
                            let on_air = Duration::from_secs_f64(packet.len() as f64 * 8.0 / bps);
                            free = begin + on_air;
                            queue.push_back((free + self.delay, packet));
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            }
            let now = Instant::now();
            while queue.front().is_some_and(|(at, _)| *at <= now) {
                if let Some((_, p)) = queue.pop_front() {
                    // A packet the stack refuses is lost, as on a real link.
                    let _ = output.send(&p);
                }
            }
        }
    }
}

/// Attaches to the TUN device `name` (made by `ip tuntap add mode tun`), without packet
/// information headers.
fn open_tun(name: &str) -> Result<Arc<Iface>> {
    Iface::without_packet_info(name, Mode::Tun)
        .map(Arc::new)
        .with_context(|| format!("attaching to TUN device {name} (the lab runs as root)"))
}
