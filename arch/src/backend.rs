//! The training backend: burn's `flex` on CPU by default. Cargo features add others, chosen at
//! run time with `LINEAGE_BACKEND`: `tch` (LibTorch; CUDA device 0, or `tch-cpu`) and `ndarray`
//! (kept to compare CPU backends; flex was measured faster, see docs/performance.md).

use burn::tensor::Device;

/// The backend `LINEAGE_BACKEND` names (default `flex`: a GPU is used only when asked for).
/// Unknown or not-compiled names fall back to `flex`, with a warning.
pub fn name() -> &'static str {
    let wanted = std::env::var("LINEAGE_BACKEND").unwrap_or_default();
    match wanted.as_str() {
        #[cfg(feature = "tch")]
        "tch" => "tch",
        #[cfg(feature = "tch")]
        "tch-cpu" => "tch-cpu",
        #[cfg(feature = "ndarray")]
        "ndarray" => "ndarray",
        "" | "flex" => "flex",
        other => {
            tracing::warn!(backend = other, "backend not available in this build; using flex");
            "flex"
        }
    }
}

/// The device to train on.
pub fn device() -> Device {
    match name() {
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        // burn marks tch deprecated in favour of CubeCL; it is the GPU option asked for
        "tch" => Device::libtorch_cuda(0),
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        "tch-cpu" => Device::libtorch(),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)] // kept only for the backend comparison
        "ndarray" => Device::ndarray(),
        _ => Device::flex(),
    }
}

/// Compute threads available to the backend: flex computes on rayon's global pool, whose size
/// `RAYON_NUM_THREADS` sets (a worker started with `RAYON_NUM_THREADS=1` trains on one thread).
pub fn threads() -> u32 {
    rayon::current_num_threads() as u32
}

/// How training arranges its arithmetic, where two arrangements compute the same function with
/// different rounding. A recorded run names its revision (in its backend label, see [`label`]) so
/// that it can be trained again bit for bit by a later build: each revision stays selectable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Numerics {
    /// Revision 1: a per-channel decay's recurrence steps one position at a time.
    PerChannelSteps,
    /// Revision 2: a per-channel decay within reach of `f32` is chunked, its pairwise decays
    /// factorised into one matmul (arch/src/model/recurrence.rs).
    PerChannelChunked,
}

impl Numerics {
    /// What new runs train with.
    pub const CURRENT: Numerics = Numerics::PerChannelChunked;

    /// The revision's number, as labels write it.
    pub fn revision(self) -> u32 {
        match self {
            Numerics::PerChannelSteps => 1,
            Numerics::PerChannelChunked => 2,
        }
    }

    /// A backend's name with this revision: `flex` for revision 1 (what every run recorded
    /// before revisions existed says), `flex+n2` for revision 2.
    pub fn label(self, backend: &str) -> String {
        match self.revision() {
            1 => backend.to_owned(),
            n => format!("{backend}+n{n}"),
        }
    }

    /// The backend and revision a recorded label names; `None` for a revision this build does
    /// not know (recorded by a later one).
    pub fn of_label(label: &str) -> (&str, Option<Numerics>) {
        let Some((backend, revision)) = label.rsplit_once("+n") else {
            return (label, Some(Numerics::PerChannelSteps));
        };
        let numerics = match revision {
            "2" => Some(Numerics::PerChannelChunked),
            _ => None,
        };
        (backend, numerics)
    }
}

/// What a run records as its backend: the backend's [`name`] and the current [`Numerics`].
pub fn label() -> String {
    Numerics::CURRENT.label(name())
}

#[cfg(test)]
mod tests {
    use super::Numerics;

    #[test]
    fn a_label_names_its_backend_and_numerics() {
        assert_eq!(
            Numerics::of_label("flex"),
            ("flex", Some(Numerics::PerChannelSteps)),
            "recorded before revisions"
        );
        assert_eq!(Numerics::of_label("tch-cpu"), ("tch-cpu", Some(Numerics::PerChannelSteps)));
        assert_eq!(Numerics::of_label("flex+n9"), ("flex", None), "a later build's revision");
        for numerics in [Numerics::PerChannelSteps, Numerics::PerChannelChunked] {
            assert_eq!(Numerics::of_label(&numerics.label("tch")), ("tch", Some(numerics)));
        }
        assert_eq!(Numerics::CURRENT.label("flex"), "flex+n2");
    }
}
