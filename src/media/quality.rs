//! Call quality as a listener would rate it: the ITU-T G.107 E-model's transmission rating R and
//! its estimated MOS (mean opinion score, 1 to 4.5), from the delay and loss the engine measures.
//!
//! R = R0 − Is − Id − Ie,eff + A, with G.107's default values for everything mxcall cannot
//! measure (they give R0 − Is = 93.2, the default-case rating of G.107 §7.1), A = 0 (no
//! advantage factor), and:
//! - Id: only the absolute-delay impairment Idd (G.107 §7.3.4): 0 up to Ta = 100 ms, then
//!   25·((1+X⁶)^(1/6) − 3·(1+(X/3)⁶)^(1/6) + 2) with X = log₂(Ta/100). Echo terms are left out:
//!   WebRTC endpoints cancel echo, and G.107's defaults make them negligible.
//! - Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl/BurstR + Bpl) (G.107 §7.5), Ppl the packet loss in
//!   percent. Opus is not in G.113's tables; mxcall takes Ie = 0 (a wideband codec at 32 kbit/s
//!   rates no worse than G.711 on the narrowband scale) and Bpl = 20 (between G.711 with PLC,
//!   25.1, and codecs without it; Opus adds FEC), with random loss (BurstR = 1).
//! - MOS = 1 + 0.035·R + R·(R−60)·(100−R)·7·10⁻⁶ for 0 < R < 100 (G.107 Annex B), 1 below, 4.5
//!   above.

/// R0 − Is with G.107's default parameter values.
const R_DEFAULT: f64 = 93.2;
/// Equipment impairment and packet-loss robustness taken for Opus (see the module docs).
pub const OPUS_IE: f64 = 0.0;
pub const OPUS_BPL: f64 = 20.0;

/// The absolute-delay impairment Idd for a one-way mouth-to-ear delay of `ta_ms`.
pub fn delay_impairment(ta_ms: f64) -> f64 {
    if ta_ms <= 100.0 {
        return 0.0;
    }
    let x = (ta_ms / 100.0).log2();
    25.0 * ((1.0 + x.powi(6)).powf(1.0 / 6.0) - 3.0 * (1.0 + (x / 3.0).powi(6)).powf(1.0 / 6.0)
        + 2.0)
}

/// The effective equipment impairment for `loss_percent` random packet loss.
pub fn loss_impairment(ie: f64, bpl: f64, loss_percent: f64, burst_r: f64) -> f64 {
    let ppl = loss_percent.clamp(0.0, 100.0);
    ie + (95.0 - ie) * ppl / (ppl / burst_r + bpl)
}

/// The transmission rating R for a one-way delay (ms) and packet loss (percent) with Opus.
pub fn r_factor(one_way_delay_ms: f64, loss_percent: f64) -> f64 {
    R_DEFAULT
        - delay_impairment(one_way_delay_ms)
        - loss_impairment(OPUS_IE, OPUS_BPL, loss_percent, 1.0)
}

/// The MOS estimate for a rating R (G.107 Annex B).
pub fn mos(r: f64) -> f64 {
    if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7.0e-6
    }
}

/// The one-way mouth-to-ear delay estimated from what a session measures: half the round trip,
/// the jitter buffer's depth, and one 20 ms frame each for packetisation and playout.
pub fn one_way_delay_ms(rtt_ms: Option<f64>, jitter_buffer_ms: u32) -> f64 {
    rtt_ms.unwrap_or(0.0) / 2.0 + f64::from(jitter_buffer_ms) + 40.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn g107_default_rating_is_93_2_and_mos_4_41() {
        assert!(close(r_factor(0.0, 0.0), 93.2, 1e-9));
        assert!(close(mos(93.2), 4.41, 0.005), "{}", mos(93.2));
    }

    #[test]
    fn mos_follows_g107_annex_b() {
        // R → MOS as G.107 Annex B (Figure B.1 / Table B.1 of G.109) gives them.
        for (r, want) in [
            (50.0, 2.58),
            (60.0, 3.10),
            (70.0, 3.60),
            (80.0, 4.03),
            (90.0, 4.34),
        ] {
            assert!(close(mos(r), want, 0.01), "R {r}: {} vs {want}", mos(r));
        }
        assert_eq!(mos(-5.0), 1.0);
        assert_eq!(mos(120.0), 4.5);
    }

    #[test]
    fn delay_and_loss_impairments_match_the_formulas_published_values() {
        // Idd: none up to 100 ms; 3.04 at 200 ms; 24.1 at 400 ms.
        assert_eq!(delay_impairment(100.0), 0.0);
        assert!(
            close(delay_impairment(200.0), 3.04, 0.01),
            "{}",
            delay_impairment(200.0)
        );
        assert!(
            close(delay_impairment(400.0), 24.08, 0.05),
            "{}",
            delay_impairment(400.0)
        );
        // Ie,eff for G.711 with PLC (G.113: Ie 0, Bpl 25.1) at 2 % random loss: 7.0.
        assert!(close(loss_impairment(0.0, 25.1, 2.0, 1.0), 7.01, 0.01));
        // More loss, lower rating; no loss, no impairment.
        assert!(r_factor(60.0, 5.0) < r_factor(60.0, 1.0));
        assert_eq!(loss_impairment(0.0, 20.0, 0.0, 1.0), 0.0);
    }
}
