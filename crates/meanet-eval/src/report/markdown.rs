//! `report.md`'s tables, also printed by `meanet eval`.

use crate::schema::{Difference, DriftReport, MethodReport, PayloadCost, TargetPoint};

/// The Markdown table of the methods.
pub fn table(methods: &[MethodReport]) -> String {
    let mut s = String::from(
        "| method | accuracy | main / ext / cloud exits | edge energy / sample | cloud energy / sample | bytes / sample | latency mean / p99 | degraded |\n|---|---|---|---|---|---|---|---|\n",
    );
    for m in methods {
        let ci = m.accuracy_ci.map_or(String::new(), |[lo, hi]| {
            format!(" [{:.2}, {:.2}]", 100.0 * lo, 100.0 * hi)
        });
        s.push_str(&format!(
            "| {} | {:.2}%{ci} | {:.1}% / {:.1}% / {:.1}% | {} | {} | {:.0} | {:.2} / {:.2} ms | {} |\n",
            m.name,
            100.0 * m.accuracy,
            100.0 * m.exit_share.main,
            100.0 * m.exit_share.extension,
            100.0 * m.exit_share.cloud,
            meanet_core::Joules(m.edge_energy_j),
            meanet_core::Joules(m.cloud_energy_j),
            m.bytes_per_sample,
            m.latency_ms_mean,
            m.latency_ms_p99,
            m.degraded
        ));
    }
    s
}

/// The Markdown table of the differences.
pub fn difference_table(differences: &[Difference]) -> String {
    if differences.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "| accuracy difference | measured | 95% interval (paired bootstrap) | |\n|---|---|---|---|\n",
    );
    for d in differences {
        let verdict = if d.low > 0.0 {
            "a real lead"
        } else if d.high < 0.0 {
            "a real deficit"
        } else {
            "not distinguishable"
        };
        s.push_str(&format!(
            "| {} | {:+.2} pp | [{:+.2}, {:+.2}] pp | {verdict} |\n",
            d.name,
            100.0 * d.estimate,
            100.0 * d.low,
            100.0 * d.high
        ));
    }
    s
}

/// The Markdown table of the payloads.
pub fn payload_table(payloads: &[PayloadCost]) -> String {
    if payloads.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "| cloud.payload | bytes / offloaded sample | radio energy / offloaded sample | MEANet edge energy / sample | |\n|---|---|---|---|---|\n",
    );
    for p in payloads {
        s.push_str(&format!(
            "| {}{} | {:.0} | {} | {} | {} |\n",
            p.payload,
            if p.used { " (used)" } else { "" },
            p.bytes_per_offload,
            meanet_core::Joules(p.radio_j_per_offload),
            meanet_core::Joules(p.meanet_edge_energy_j),
            if p.measured { "measured" } else { "estimated" },
        ));
    }
    s
}

/// The Markdown table of the target sweep.
pub fn target_table(points: &[TargetPoint]) -> String {
    if points.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "Calibrated on the validation split for each offload target, measured on the test split:\n\n| method | target | validation accuracy / offload | test accuracy / offload |\n|---|---|---|---|\n",
    );
    for p in points {
        s += &format!(
            "| {} | {:.2} | {:.2}% / {:.1}% | {:.2}% / {:.1}% |\n",
            p.method,
            p.target,
            p.validation_accuracy * 100.0,
            p.validation_offload * 100.0,
            p.test_accuracy * 100.0,
            p.test_offload * 100.0
        );
    }
    s
}

/// The Markdown table of the drift evaluation: offload share per window.
pub fn drift_table(d: &DriftReport) -> String {
    let pct = |v: &f64| format!("{:.1}", v * 100.0);
    let row = |name: &str, v: &[f64], acc: f64, worst: f64| {
        format!(
            "| {name} | {} | {:.2} | {:.1} |\n",
            v.iter().map(pct).collect::<Vec<_>>().join(" | "),
            acc * 100.0,
            worst
        )
    };
    let windows = d.static_share.len();
    format!(
        "Drift: {} samples, hard-class share {:.0}% then {:.0}%, offload target {:.0}%: offload share (%) per {}-sample window.\n\n| thresholds | {} | accuracy (%) | worst window after the first (pp) |\n|---|{}---|---|\n{}{}\nOnline threshold scale at the end: {:.3}.\n",
        d.samples,
        d.hard_share[0] * 100.0,
        d.hard_share[1] * 100.0,
        d.target * 100.0,
        d.window,
        (1..=windows)
            .map(|k| format!("w{k}"))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(windows),
        row(
            "static",
            &d.static_share,
            d.static_accuracy,
            d.static_max_deviation_pp
        ),
        row(
            "online",
            &d.online_share,
            d.online_accuracy,
            d.online_max_deviation_pp
        ),
        d.final_scale
    )
}
