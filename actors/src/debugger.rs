//! The Debugger: repairs an architecture whose checks failed. It reads the failing diagnostics,
//! tries the repair rules that answer their classes (skipping patches already tried), checks
//! the patched program exactly as the engineer would, and records the attempt — diagnosis,
//! rule, patch, outcome — together with that check. When no rule applies, or the last allowed
//! attempt still fails, it abandons the architecture and records why. Runs on a `SyncArbiter`
//! thread, since checking a patch runs models.

use actix::prelude::*;
use lineage_arch::lang::ast::Program;
use lineage_arch::lang::{self, diff};
use lineage_events::payload::{ArchitectureAbandoned, CheckOutcome, LlmRole, RepairAttempted, RepairOutcome};
use lineage_events::{EventId, Hash};

use crate::engineer::check_program;
use crate::llm::{Asked, Llm, Question, prompts, replies};
use crate::messages::{Decision, Repair};
use crate::repair::RULES;
use crate::shared::Shared;

/// The debugger actor.
pub struct Debugger {
    shared: Shared,
}

impl Debugger {
    /// A debugger for one campaign.
    pub fn new(shared: Shared) -> Self {
        Self { shared }
    }
}

impl Actor for Debugger {
    type Context = SyncContext<Self>;
}

impl Handler<Repair> for Debugger {
    type Result = ();

    fn handle(&mut self, msg: Repair, _: &mut Self::Context) {
        let shared = self.shared.clone();
        shared.guard("debugger", || self.repair(msg));
    }
}

/// What the failing checks say, one clause per diagnostic: the debugger's diagnosis.
pub fn diagnosis(failures: &[CheckOutcome]) -> String {
    failures
        .iter()
        .flat_map(|f| f.diagnostics.iter().map(move |d| (f, d)))
        .map(|(f, d)| format!("{} failed at {}:{}: {} [{}]", f.check, d.line, d.column, d.message, d.class))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A patch the debugger chose.
#[derive(Clone, Debug)]
pub struct Patch {
    /// The rule that made it.
    pub rule: &'static str,
    /// The program before.
    pub original: Program,
    /// The patched program.
    pub patched: Program,
    /// The rule's one-line reason.
    pub why: String,
}

/// The repair of `program`: for the failing diagnostics in order, the first rule answering the
/// diagnostic's class whose patch is not among `tried` (hex program hashes). `None` when the
/// program does not parse or no rule gives a new patch.
pub fn choose_patch(program: &str, failures: &[CheckOutcome], tried: &[String]) -> Option<Patch> {
    let original = lang::parse(program).ok()?;
    failures.iter().flat_map(|f| f.diagnostics.iter()).find_map(|d| {
        RULES.iter().filter(|r| r.classes.contains(&d.class.as_str())).find_map(|rule| {
            let (patched, why) = (rule.patch)(&original, d)?;
            let hash = lang::program_hash(&patched).to_hex();
            (!tried.contains(&hash)).then(|| Patch {
                rule: rule.name,
                original: original.clone(),
                patched,
                why,
            })
        })
    })
}

/// A patch and who made it.
struct Chosen {
    patch: Patch,
    /// The diagnosis recorded with it.
    diagnosis: String,
    /// The model's exchange, when the model made it.
    exchange: Option<EventId>,
}

impl Debugger {
    /// The model's patch of `msg`'s program, or why it gave none (the fallback, recorded).
    fn model_patch(&self, llm: &Llm, msg: &Repair) -> Result<Chosen, String> {
        let original =
            lang::parse(&msg.program).map_err(|_| "the failing program does not parse".to_owned())?;
        let question = Question {
            role: LlmRole::Debugger,
            subject: format!("{}/repair-{}", msg.arch, msg.attempt),
            messages: prompts::debugger(&msg.arch, &msg.program, &msg.failures),
        };
        let record = |decisions| self.shared.record_blocking(decisions);
        let parse = |reply: &str| {
            let (patch, mut patched) = replies::patch(reply)?;
            patched.name = original.name.clone();
            patched.doc = original.doc.clone();
            if msg.tried.contains(&lang::program_hash(&patched).to_hex()) {
                return Err(
                    "this program was already tried (it is the failing one or an earlier patch that \
                            failed); change what the diagnostics point at"
                        .to_owned(),
                );
            }
            Ok((patch.diagnosis, patched))
        };
        match llm.ask(question, &record, parse) {
            Asked::Used { value: (diagnosis, patched), exchange } => Ok(Chosen {
                patch: Patch { rule: "llm", original: original.clone(), patched, why: diagnosis.clone() },
                diagnosis,
                exchange: Some(exchange),
            }),
            Asked::FellBack { event, reason } => {
                Err(format!("the model gave no usable patch [{event}]: {reason}"))
            }
        }
    }

    fn repair(&self, msg: Repair) {
        let key = |what: &str| format!("{what}/{}/{}", msg.arch, msg.attempt);
        let mut diagnosis = diagnosis(&msg.failures);
        let llm = self.shared.llm.as_deref().filter(|llm| llm.plays(LlmRole::Debugger));
        let chosen = match llm.map(|llm| self.model_patch(llm, &msg)) {
            Some(Ok(chosen)) => Some(chosen),
            fell_back => {
                if let Some(Err(why)) = fell_back {
                    diagnosis = format!("{why}; repair rules instead. {diagnosis}");
                }
                choose_patch(&msg.program, &msg.failures, &msg.tried).map(|patch| Chosen {
                    patch,
                    diagnosis: diagnosis.clone(),
                    exchange: None,
                })
            }
        };
        let cause = Some(msg.cause);
        let Some(Chosen { patch: Patch { rule, original, patched, why }, diagnosis, exchange }) = chosen
        else {
            let attempt = RepairAttempted {
                arch: msg.arch.clone(),
                attempt: msg.attempt,
                diagnosis: diagnosis.clone(),
                rule: "none".into(),
                patch: String::new(),
                program: msg.program.clone(),
                program_hash: Hash::of(msg.program.as_bytes()),
                outcome: RepairOutcome::NoRuleApplies,
                exchange: None,
            };
            let abandon = ArchitectureAbandoned {
                arch: msg.arch.clone(),
                reason: format!("no repair rule applies to: {diagnosis}"),
            };
            self.shared.record_blocking(vec![
                Decision::new(key("repair"), "debugger", attempt).caused_by(cause),
                Decision::new(key("abandon"), "debugger", abandon).caused_by(cause),
            ]);
            return;
        };
        let text = lang::print(&patched);
        let checked = check_program(&self.shared, &msg.arch, &text, msg.attempt);
        let outcome = if checked.passed { RepairOutcome::Repaired } else { RepairOutcome::StillFailing };
        let still_failing: Vec<String> =
            checked.checks.iter().filter(|c| !c.passed).map(|c| c.check.to_string()).collect();
        let attempt = RepairAttempted {
            arch: msg.arch.clone(),
            attempt: msg.attempt,
            diagnosis,
            rule: rule.into(),
            patch: format!("{why}\n{}", diff(&original, &patched).render("before", "after")),
            program: text,
            program_hash: checked.program_hash,
            outcome,
            exchange,
        };
        let mut decisions = vec![
            Decision::new(key("repair"), "debugger", attempt).caused_by(cause),
            Decision::new(format!("check/{}/{}", msg.arch, msg.attempt), "engineer", checked)
                .caused_by(cause),
        ];
        if outcome == RepairOutcome::StillFailing && msg.attempt >= self.shared.config.repair_attempts_max {
            let reason = format!(
                "still failing {} after {} repair attempts (last rule: {rule})",
                still_failing.join(", "),
                msg.attempt
            );
            decisions.push(Decision::new(
                key("abandon"),
                "debugger",
                ArchitectureAbandoned { arch: msg.arch.clone(), reason },
            ));
        }
        self.shared.record_blocking(decisions);
    }
}

#[cfg(test)]
mod tests;
