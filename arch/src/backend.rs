//! The training backend: burn's `flex` on CPU by default. Cargo features add others, chosen at
//! run time with `LINEAGE_BACKEND`: `tch` (LibTorch; CUDA device 0, or `tch-cpu`), `cuda`
//! (burn's CubeCL CUDA backend, device 0) and `ndarray` (kept to compare CPU backends; flex was
//! measured faster, see docs/performance.md).

use burn::tensor::{Device, Tensor};

/// The backend `LINEAGE_BACKEND` names (default `flex`: a GPU is used only when asked for).
/// Unknown or not-compiled names fall back to `flex`, with a warning.
pub fn name() -> &'static str {
    let wanted = std::env::var("LINEAGE_BACKEND").unwrap_or_default();
    match wanted.as_str() {
        #[cfg(feature = "tch")]
        "tch" => "tch",
        #[cfg(feature = "tch")]
        "tch-cpu" => "tch-cpu",
        #[cfg(feature = "cuda")]
        "cuda" => "cuda",
        #[cfg(feature = "ndarray")]
        "ndarray" => "ndarray",
        "" | "flex" => "flex",
        other => {
            tracing::warn!(backend = other, "backend not available in this build; using flex");
            "flex"
        }
    }
}

/// The device to train on: [`name`]'s.
pub fn device() -> Device {
    device_named(name())
}

/// The device of a backend this build has, by [`name`] (`flex`'s for any other name).
pub fn device_named(name: &str) -> Device {
    match name {
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        // burn marks tch deprecated in favour of CubeCL; it is the GPU option asked for
        "tch" => Device::libtorch_cuda(0),
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        "tch-cpu" => Device::libtorch(),
        #[cfg(feature = "cuda")]
        "cuda" => Device::cuda(0),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)] // kept only for the backend comparison
        "ndarray" => Device::ndarray(),
        _ => Device::flex(),
    }
}

/// Sees that the backend [`name`] computes on this machine: [`check_named`].
pub fn check() -> Result<(), String> {
    check_named(name())
}

/// Sees that a backend computes on this machine (its GPU is there, its driver and libraries
/// load) by adding up a small tensor on its device. The GPU backends report a missing GPU by
/// panicking in the middle of a run; this makes it one error, before a run starts.
pub fn check_named(name: &str) -> Result<(), String> {
    if name == "flex" {
        return Ok(());
    }
    // The backends' own panic messages say what is missing; keep them off stderr and in the error.
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome =
        std::panic::catch_unwind(|| Tensor::<1>::ones([8], &device_named(name)).sum().into_scalar::<f32>());
    std::panic::set_hook(quiet);
    match outcome {
        Ok(8.0) => Ok(()),
        Ok(sum) => Err(format!("backend {name} does not compute here: eight ones added up to {sum}")),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("it panicked");
            Err(format!("backend {name} does not run on this machine: {}", what_failed(message)))
        }
    }
}

/// The first line of a backend's panic message, without the wrapping that says nothing: LibTorch
/// errors arrive as `called \`Result::unwrap()\` on an \`Err\` value: Torch("…")`, their message
/// followed by a C++ stack trace, its line breaks escaped.
fn what_failed(message: &str) -> &str {
    let first = message.lines().find(|line| !line.trim().is_empty()).unwrap_or(message);
    let first = first.split("\\n").next().unwrap_or(first);
    let first = first.strip_prefix("called `Result::unwrap()` on an `Err` value: ").unwrap_or(first);
    let first = first.strip_prefix("Torch(\"").unwrap_or(first);
    first.trim().trim_end_matches("\")").trim()
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
    use super::{Numerics, check_named, what_failed};

    #[test]
    fn a_backend_that_does_not_run_says_what_failed_in_one_line() {
        let libtorch = "called `Result::unwrap()` on an `Err` value: Torch(\"Found no NVIDIA driver on your \
            system.\\nException raised from device_count_impl at c10/cuda/CUDAFunctions.cpp:40\\nframe #0: …\")";
        assert_eq!(what_failed(libtorch), "Found no NVIDIA driver on your system.");
        assert_eq!(what_failed("\nno CUDA device\nmore"), "no CUDA device");
        assert_eq!(what_failed("it panicked"), "it panicked");
        assert_eq!(check_named("flex"), Ok(()));
    }

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
