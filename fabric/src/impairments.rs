//! Seeded wire impairments.

/// The impairments a [`Fabric`](crate::Fabric) applies to every copy of a frame.
///
/// All zero ([`Impairments::default`], [`Impairments::PERFECT`]) is a perfect wire: no
/// loss, no duplication, no reordering, zero delay (a frame sent at `t` is due at `t`).
///
/// Probabilities are per copy (per receiving port) and are clamped to `0.0..=1.0`; a NaN
/// probability counts as `0.0`. If `delay_ns.0 > delay_ns.1` the bounds are swapped.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Impairments {
    /// Probability that a copy is lost.
    pub loss: f64,
    /// Probability that a copy that was not lost is delivered twice (the duplicate right
    /// behind the original, at the same due time).
    pub duplicate: f64,
    /// Probability that a copy trades places with the last copy still in flight on the same
    /// (sender, receiver) path, overtaking it (see the crate documentation).
    pub reorder: f64,
    /// Inclusive bounds of the one-way delay in nanoseconds, drawn uniformly per copy.
    pub delay_ns: (u64, u64),
    /// Seed of the fabric's random generator (xoshiro256++).
    pub seed: u64,
}

impl Impairments {
    /// A perfect wire: no loss, duplication or reordering, and zero delay.
    pub const PERFECT: Impairments = Impairments {
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        delay_ns: (0, 0),
        seed: 0,
    };

    /// Whether these impairments leave frames untouched apart from a fixed delay.
    pub fn is_lossless_in_order(&self) -> bool {
        let s = self.sanitized();
        s.loss == 0.0 && s.duplicate == 0.0 && s.reorder == 0.0
    }

    /// These impairments with probabilities clamped to `0.0..=1.0` (NaN as `0.0`) and the
    /// delay bounds in order: what the fabric actually applies.
    pub fn sanitized(&self) -> Impairments {
        fn prob(p: f64) -> f64 {
            if p.is_nan() {
                0.0
            } else {
                p.clamp(0.0, 1.0)
            }
        }
        let (lo, hi) = self.delay_ns;
        Impairments {
            loss: prob(self.loss),
            duplicate: prob(self.duplicate),
            reorder: prob(self.reorder),
            delay_ns: (lo.min(hi), lo.max(hi)),
            seed: self.seed,
        }
    }
}
