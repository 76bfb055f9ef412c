//! The Engineer: implements a proposal (parses and compiles its program) and runs every check
//! before training — type/shape, causality, complexity, finiteness — recording each verdict
//! with its numbers and located diagnostics. CPU-bound: runs on a `SyncArbiter` thread.

use actix::prelude::*;
use lineage_arch::checks::{self, Verdict};
use lineage_arch::lang::{self, Diagnostic as LangDiagnostic};
use lineage_events::payload::{CheckOutcome, Diagnostic, ImplementationChecked};
use lineage_events::{ArchId, Hash};

use crate::messages::{Check, Decision};
use crate::shared::Shared;

/// The engineer actor.
pub struct Engineer {
    shared: Shared,
}

impl Engineer {
    /// An engineer for one campaign.
    pub fn new(shared: Shared) -> Self {
        Self { shared }
    }
}

impl Actor for Engineer {
    type Context = SyncContext<Self>;
}

fn diagnostic(d: &LangDiagnostic) -> Diagnostic {
    Diagnostic {
        class: d.class.name().into(),
        line: d.span.line,
        column: d.span.column,
        message: d.message.clone(),
        suggestion: d.suggestion.clone(),
    }
}

fn outcome(v: &Verdict) -> CheckOutcome {
    CheckOutcome {
        check: v.check.into(),
        passed: v.passed,
        numbers: v.numbers.clone(),
        diagnostics: v.diagnostics.iter().map(diagnostic).collect(),
    }
}

/// Runs every check on `program` — first whether training it at both stages' sizes fits the
/// memory budget, then the rest — : the verdicts, whether all passed, the program hash, and the
/// parameter count at `layers` blocks of the stage size. Shared with the debugger, which
/// checks its patches the same way.
pub fn check_program(shared: &Shared, arch: &ArchId, program: &str, attempt: u32) -> ImplementationChecked {
    let (checks, hash, params, quadratic_allowed) = match lang::parse(program) {
        Err(diagnostics) => {
            let parse = CheckOutcome {
                check: "type-shape".into(),
                passed: false,
                numbers: Default::default(),
                diagnostics: diagnostics.iter().map(diagnostic).collect(),
            };
            (vec![parse], Hash::of(program.as_bytes()), None, false)
        }
        Ok(parsed) => {
            let verdicts = checks::run_all_within(&parsed, &shared.device, &shared.budget);
            let stage = &shared.config.exploration;
            let dims = lang::Dims { d: stage.d_model, h: stage.heads };
            let params = lang::check(&parsed, dims).graph.map(|g| g.block_params() * stage.layers as u64);
            let quadratic_allowed = verdicts.iter().any(|v| v.quadratic_allowed);
            (
                verdicts.iter().map(outcome).collect(),
                Hash(lang::program_hash(&parsed).0),
                params,
                quadratic_allowed,
            )
        }
    };
    let passed = checks.iter().all(|c| c.passed);
    ImplementationChecked {
        arch: arch.clone(),
        program_hash: hash,
        attempt,
        checks,
        passed,
        quadratic_allowed,
        params,
    }
}

impl Handler<Check> for Engineer {
    type Result = ();

    fn handle(&mut self, msg: Check, _: &mut Self::Context) {
        let shared = self.shared.clone();
        shared.guard("engineer", || {
            let checked = check_program(&shared, &msg.arch, &msg.program, 0);
            let key = format!("check/{}/0", msg.arch);
            shared.record_blocking(vec![Decision::new(key, "engineer", checked).caused_by(Some(msg.cause))]);
        });
    }
}
