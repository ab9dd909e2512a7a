//! Radio links: energy and time to move offload traffic.

use meanet_core::{Bytes, Joules, RadioBurst, Seconds};
use serde::{Deserialize, Serialize};

/// A named link model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// WiFi, power model of Huang et al., MobiSys 2012.
    #[default]
    Wifi,
    /// 4G LTE, power model of Huang et al., MobiSys 2012.
    Lte,
    /// User-defined coefficients.
    Custom,
}

/// A radio link with a linear power-throughput model (Huang et al., "A close examination of
/// performance and power characteristics of 4G LTE networks", MobiSys 2012, Table 4):
/// while sending at uplink throughput `t_u` (Mbps) the radio draws `alpha_up * t_u + beta` mW,
/// while receiving at `t_d` it draws `alpha_down * t_d + beta` mW.
///
/// Energy per offload covers the bytes on the air ([`energy`](Link::energy)) and, for bursts the
/// runtime timed, the radio's tail and promotion ([`burst_energy`](Link::burst_energy); LTE's RRC
/// tail is ~11.6 s at ~1 W in the same paper); `rtt_s` adds to time, not energy. Throughputs are
/// assumptions to override (the runtime prices offloads at the goodput it measures).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Link {
    /// Which preset these numbers came from.
    pub kind: LinkKind,
    /// Uplink throughput, Mbps.
    pub uplink_mbps: f64,
    /// Downlink throughput, Mbps.
    pub downlink_mbps: f64,
    /// Round-trip time, seconds.
    pub rtt_s: f64,
    /// Uplink power slope, mW per Mbps.
    pub alpha_up_mw_per_mbps: f64,
    /// Downlink power slope, mW per Mbps.
    pub alpha_down_mw_per_mbps: f64,
    /// Base power while the radio is active, mW.
    pub beta_mw: f64,
    /// How long the radio stays in its high-power tail after a burst, seconds.
    pub tail_s: f64,
    /// Power in the tail, mW.
    pub tail_mw: f64,
    /// How long a promotion from idle takes, seconds.
    pub promotion_s: f64,
    /// Power while promoting, mW.
    pub promotion_mw: f64,
}

impl Default for Link {
    fn default() -> Self {
        Link::wifi()
    }
}

impl Link {
    /// WiFi: alpha_u = 283.17, alpha_d = 137.01 mW/Mbps, beta = 132.86 mW (Huang et al. 2012);
    /// assumed 10 Mbps up, 20 Mbps down, 20 ms RTT.
    pub fn wifi() -> Self {
        Link {
            kind: LinkKind::Wifi,
            uplink_mbps: 10.0,
            downlink_mbps: 20.0,
            rtt_s: 0.020,
            alpha_up_mw_per_mbps: 283.17,
            alpha_down_mw_per_mbps: 137.01,
            beta_mw: 132.86,
            tail_s: 0.2381,
            tail_mw: 119.3,
            promotion_s: 0.0791,
            promotion_mw: 124.4,
        }
    }

    /// LTE: alpha_u = 438.39, alpha_d = 51.97 mW/Mbps, beta = 1288.04 mW (Huang et al. 2012);
    /// throughputs 5.64 Mbps up, 12.74 Mbps down (the paper's medians), assumed 70 ms RTT.
    pub fn lte() -> Self {
        Link {
            kind: LinkKind::Lte,
            uplink_mbps: 5.64,
            downlink_mbps: 12.74,
            rtt_s: 0.070,
            alpha_up_mw_per_mbps: 438.39,
            alpha_down_mw_per_mbps: 51.97,
            beta_mw: 1288.04,
            tail_s: 11.576,
            tail_mw: 1060.0,
            promotion_s: 0.2601,
            promotion_mw: 1210.7,
        }
    }

    /// A user-defined link: throughputs, RTT, and transmit/receive power in watts.
    pub fn custom(uplink_mbps: f64, downlink_mbps: f64, rtt_s: f64, tx_w: f64, rx_w: f64) -> Self {
        Link {
            kind: LinkKind::Custom,
            uplink_mbps,
            downlink_mbps,
            rtt_s,
            alpha_up_mw_per_mbps: 0.0,
            alpha_down_mw_per_mbps: 0.0,
            beta_mw: 0.0,
            tail_s: 0.0,
            tail_mw: 0.0,
            promotion_s: 0.0,
            promotion_mw: 0.0,
        }
        .with_flat_power(tx_w, rx_w)
    }

    fn with_flat_power(mut self, tx_w: f64, rx_w: f64) -> Self {
        // Flat power: encode as slope 0 and per-direction base via the slopes' intercepts.
        self.alpha_up_mw_per_mbps = tx_w * 1e3 / self.uplink_mbps.max(f64::MIN_POSITIVE);
        self.alpha_down_mw_per_mbps = rx_w * 1e3 / self.downlink_mbps.max(f64::MIN_POSITIVE);
        self
    }

    /// This link with the uplink at `mbps` (a measured goodput): Huang et al.'s power keeps its
    /// slope in the throughput; a custom link's flat transmit power stays flat. A rate that is
    /// not positive and finite leaves the link as it is.
    pub fn at_uplink(self, mbps: f64) -> Link {
        if !(mbps.is_finite() && mbps > 0.0) {
            return self;
        }
        let mut l = self;
        if l.kind == LinkKind::Custom {
            l.alpha_up_mw_per_mbps *= l.uplink_mbps / mbps;
        }
        l.uplink_mbps = mbps;
        l
    }

    /// Seconds on the air to send `up` and receive `down` bytes (RTT excluded).
    pub fn airtime(&self, up: Bytes, down: Bytes) -> (Seconds, Seconds) {
        let t = |b: Bytes, mbps: f64| Seconds(b.0 as f64 * 8.0 / (mbps * 1e6));
        (t(up, self.uplink_mbps), t(down, self.downlink_mbps))
    }

    /// Time for one offload: RTT plus airtime both ways.
    pub fn time(&self, up: Bytes, down: Bytes) -> Seconds {
        let (u, d) = self.airtime(up, down);
        Seconds(self.rtt_s) + u + d
    }

    /// Radio energy to send `up` and receive `down` bytes.
    pub fn energy(&self, up: Bytes, down: Bytes) -> Joules {
        let (u, d) = self.airtime(up, down);
        let p_up = (self.alpha_up_mw_per_mbps * self.uplink_mbps + self.beta_mw) * 1e-3;
        let p_down = (self.alpha_down_mw_per_mbps * self.downlink_mbps + self.beta_mw) * 1e-3;
        Joules(p_up * u.0 + p_down * d.0)
    }

    /// This sample's share of its burst's tail and promotion: the tail since the previous burst
    /// (at most `tail_s`, at `tail_mw`), and a promotion (`promotion_s` at `promotion_mw`) when
    /// the radio had gone idle (or this is the first burst), split over the burst's samples.
    pub fn burst_energy(&self, burst: RadioBurst) -> Joules {
        let promoted;
        let tail = match burst.since_last_us {
            Some(us) => {
                let gap = us as f64 / 1e6;
                promoted = gap > self.tail_s;
                gap.min(self.tail_s)
            }
            None => {
                promoted = true;
                0.0
            }
        };
        let mj = tail * self.tail_mw
            + if promoted {
                self.promotion_s * self.promotion_mw
            } else {
                0.0
            };
        Joules(mj * 1e-3 / f64::from(burst.samples.max(1)))
    }

    /// Checks throughputs are positive and every number finite and non-negative.
    pub fn validate(&self) -> Result<(), String> {
        let fields = [
            ("uplink_mbps", self.uplink_mbps),
            ("downlink_mbps", self.downlink_mbps),
            ("rtt_s", self.rtt_s),
            ("alpha_up_mw_per_mbps", self.alpha_up_mw_per_mbps),
            ("alpha_down_mw_per_mbps", self.alpha_down_mw_per_mbps),
            ("beta_mw", self.beta_mw),
            ("tail_s", self.tail_s),
            ("tail_mw", self.tail_mw),
            ("promotion_s", self.promotion_s),
            ("promotion_mw", self.promotion_mw),
        ];
        if let Some((name, v)) = fields.iter().find(|(_, v)| !v.is_finite() || *v < 0.0) {
            return Err(format!("link.{name} = {v} must be finite and >= 0"));
        }
        if self.uplink_mbps == 0.0 || self.downlink_mbps == 0.0 {
            return Err("link throughputs must be > 0".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measured_uplink_reprices_the_air_time() {
        let bits = Bytes(125_000); // 1 Mbit
        // WiFi at its configured 10 Mbit/s: (283.17 * 10 + 132.86) mW for 0.1 s.
        let wifi = Link::wifi();
        let e10 = wifi.energy(bits, Bytes(0)).0;
        assert!((e10 - (283.17 * 10.0 + 132.86) * 1e-3 * 0.1).abs() < 1e-12);
        // Measured at 1 Mbit/s: (283.17 + 132.86) mW for 1 s.
        let e1 = wifi.at_uplink(1.0).energy(bits, Bytes(0)).0;
        assert!((e1 - (283.17 + 132.86) * 1e-3).abs() < 1e-12, "{e1}");
        // A custom link's transmit power is flat: 2 W for the time on the air.
        let custom = Link::custom(10.0, 10.0, 0.02, 2.0, 1.0);
        let c1 = custom.at_uplink(1.0).energy(bits, Bytes(0)).0;
        assert!((c1 - 2.0).abs() < 1e-9, "{c1}");
        assert_eq!(wifi.at_uplink(f64::NAN), wifi);
    }

    #[test]
    fn bursts_pay_the_tail_since_the_last_and_a_promotion_after_idle() {
        let lte = Link::lte();
        let b = |since: Option<f64>, samples| RadioBurst {
            since_last_us: since.map(|s| (s * 1e6) as u64),
            samples,
        };
        // The first burst: a promotion, 0.2601 s at 1.2107 W, over 4 samples.
        let first = lte.burst_energy(b(None, 4)).0;
        assert!((first - 0.2601 * 1.2107 / 4.0).abs() < 1e-12, "{first}");
        // 50 ms after the last: 50 ms of tail at 1.06 W, no promotion.
        let close = lte.burst_energy(b(Some(0.05), 1)).0;
        assert!((close - 0.05 * 1.06).abs() < 1e-9, "{close}");
        // 20 s after: the whole 11.576 s tail, then idle, then a promotion.
        let far = lte.burst_energy(b(Some(20.0), 1)).0;
        assert!(
            (far - (11.576 * 1.06 + 0.2601 * 1.2107)).abs() < 1e-9,
            "{far}"
        );
        // Batching: ten samples in one burst pay a tenth each.
        assert!((lte.burst_energy(b(Some(0.05), 10)).0 - close / 10.0).abs() < 1e-12);
        assert_eq!(
            Link::custom(1.0, 1.0, 0.0, 1.0, 1.0)
                .burst_energy(b(None, 1))
                .0,
            0.0
        );
    }
}
