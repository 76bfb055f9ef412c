//! A campaign at one point — the leaderboard, the counts and the state hash — as `run`,
//! `resume` and `replay` report it: data that serialises to their `--json`, and the table they
//! print.

use std::borrow::Cow;
use std::collections::BTreeMap;

use lineage_events::payload::{LlmLedger, LlmSpend, Proposer};
use lineage_events::{CampaignId, Head};
use lineage_replay::{CampaignState, PastEnd, Phase};
use serde::Serialize;

/// One line of the leaderboard, borrowed from the state (a long campaign has tens of thousands).
#[derive(Clone, Debug, Serialize)]
pub struct Row<'a> {
    /// Rank by exploration fitness, from 1.
    pub rank: usize,
    /// The architecture.
    pub arch: &'a str,
    /// Its exploration fitness.
    pub fitness: f64,
    /// Mean held-out accuracy, once trained.
    pub benchmark: Option<f64>,
    /// Held-out loss, once trained.
    pub loss: Option<f64>,
    /// Parameters, once trained.
    pub params: Option<u64>,
    /// The architecture it was built on (none for a seed baseline).
    pub parent: Option<&'a str>,
    /// Who proposed it ([`proposer_label`]).
    pub proposer: Cow<'a, str>,
    /// The verification verdict, once verified.
    pub discovery: Option<bool>,
    /// The test behind the verdict: absent before verification, and for a verdict recorded as
    /// version 1, which ran none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<RowTest>,
    /// The real-text test behind the verdict, where the verification stage had real text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real_text: Option<RowTest>,
}

/// The numbers of a verdict's test, as the leaderboard shows them.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RowTest {
    /// Mean gain over the baseline, paired by seed.
    pub gain_mean: f64,
    /// One-sided p-value of the paired t-test.
    pub p_value: f64,
    /// Holm-adjusted over the candidates concluded together.
    pub p_adjusted: f64,
    /// How many were concluded together.
    pub family: u32,
    /// One-sided lower confidence bound of the mean gain, at `1 − alpha`.
    pub lower_bound: Option<f64>,
    /// The family-wise error rate the verdict is held to.
    pub alpha: f64,
}

impl RowTest {
    fn of(gain_mean: f64, t: &lineage_events::payload::GainTest) -> Self {
        Self {
            gain_mean,
            p_value: t.p_value,
            p_adjusted: t.p_adjusted,
            family: t.family,
            lower_bound: t.lower_bound,
            alpha: t.alpha,
        }
    }
}

/// A campaign at one point: the leaderboard, counts and the state hash.
#[derive(Clone, Debug, Serialize)]
pub struct Summary<'a> {
    /// The campaign.
    pub campaign: String,
    /// Whether it has finished.
    pub finished: bool,
    /// Why it finished.
    pub reason: Option<String>,
    /// Experiments started.
    pub experiments: u32,
    /// Events folded.
    pub events: u64,
    /// The state hash, in hex.
    pub state_hash: String,
    /// Position of the last event folded ([`Summary::at_head`]; absent when not given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_seq: Option<u64>,
    /// Its hash, hex: with `head_seq`, the head to publish (`lineage verify --head` checks a log
    /// still extends it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
    /// The first event that continues the log past `CampaignFinished`, if one does (`lineage
    /// verify` fails such a log); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub past_end: Option<PastEnd>,
    /// Every scored architecture, best first.
    pub leaderboard: Vec<Row<'a>>,
    /// Architectures verified as discoveries, in proposal order.
    pub discoveries: Vec<String>,
    /// Architectures rejected as duplicates.
    pub rejected: usize,
    /// Architectures abandoned after repair.
    pub abandoned: usize,
    /// Architectures whose training failed.
    pub failed: usize,
    /// Insights recorded, by analyst (the campaign's own and attached ones).
    pub insights: BTreeMap<String, usize>,
    /// What the campaign spent on a model; absent when it asked none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmTotals>,
}

/// The LLM ledger of a campaign: spend per role and in all, and the fallbacks.
#[derive(Clone, Debug, Serialize)]
pub struct LlmTotals {
    /// Per role.
    pub roles: LlmLedger,
    /// Every role together.
    pub total: LlmSpend,
    /// Decisions a role took with its built-in rules after the model gave no usable reply.
    pub fallbacks: u32,
}

impl<'a> Summary<'a> {
    /// The summary of `state`, the fold of `campaign`'s log.
    pub fn of(campaign: &CampaignId, state: &'a CampaignState) -> Self {
        // The state hash streams tens of megabytes through SHA-256 on a long campaign: on its own
        // core, while the leaderboard is built and the phases counted.
        let (state_hash, (leaderboard, [rejected, abandoned, failed])) =
            rayon::join(|| state.state_hash().to_hex(), || (leaderboard(state), phase_counts(state)));
        Summary {
            campaign: campaign.to_string(),
            finished: state.finished.is_some(),
            reason: state.finished.as_ref().map(|f| f.reason.clone()),
            experiments: state.experiments_started(),
            events: state.events,
            state_hash,
            head_seq: None,
            head_hash: None,
            past_end: state.past_end.clone(),
            leaderboard,
            discoveries: state.discoveries().iter().map(|a| a.to_string()).collect(),
            rejected,
            abandoned,
            failed,
            insights: state.insights.iter().fold(BTreeMap::new(), |mut by, i| {
                *by.entry(i.insight.analyst.to_string()).or_default() += 1;
                by
            }),
            llm: (!state.llm.spent.is_empty() || !state.llm.fell_back.is_empty()).then(|| LlmTotals {
                roles: state.llm.spent.clone(),
                total: state.llm.total(),
                fallbacks: state.llm.fell_back.len() as u32,
            }),
        }
    }
}

impl Summary<'_> {
    /// The summary with the head the state was folded to (nothing when no event was).
    pub fn at_head(mut self, head: Head) -> Self {
        if let Some(seq) = head.next.0.checked_sub(1) {
            self.head_seq = Some(seq);
            self.head_hash = Some(head.hash.to_hex());
        }
        self
    }

    /// The head as `SEQ:HASH`, when known.
    pub fn head(&self) -> Option<String> {
        Some(format!("{}:{}", self.head_seq?, self.head_hash.as_ref()?))
    }
}

/// How many architectures were rejected, abandoned and failed.
fn phase_counts(state: &CampaignState) -> [usize; 3] {
    let mut counts = [0; 3];
    for arch in state.archs.values() {
        match state.phase_of(arch) {
            Phase::Rejected => counts[0] += 1,
            Phase::Abandoned => counts[1] += 1,
            Phase::Failed => counts[2] += 1,
            _ => {}
        }
    }
    counts
}

fn leaderboard(state: &CampaignState) -> Vec<Row<'_>> {
    state
        .ranked()
        .into_iter()
        .enumerate()
        .map(|(i, (arch, fitness))| {
            let record = &state.archs[arch];
            let metrics = state.metrics(arch);
            Row {
                rank: i + 1,
                arch: arch.as_str(),
                fitness,
                benchmark: metrics.map(|m| m.benchmark_mean),
                loss: metrics.map(|m| m.loss_val_final),
                params: metrics.map(|m| m.params),
                parent: record.proposal.parent.as_ref().map(|p| p.as_str()),
                proposer: proposer_label(&record.proposal.proposer),
                discovery: record.verification.as_ref().map(|v| v.discovery),
                test: record
                    .verification
                    .as_ref()
                    .and_then(|v| v.test.as_ref().map(|t| RowTest::of(v.gain_mean, t))),
                real_text: record
                    .verification
                    .as_ref()
                    .and_then(|v| v.real_text.as_ref().map(|r| RowTest::of(r.gain_mean, &r.test))),
            }
        })
        .collect()
}

/// Who proposed an architecture, in one word or two: `baseline`, the built-in operator
/// (`mutate:add-gate`), `llm MODEL` or `human NAME` — in the leaderboard and in exports alike.
pub fn proposer_label(proposer: &Proposer) -> Cow<'_, str> {
    match proposer {
        Proposer::Baseline { .. } => "baseline".into(),
        Proposer::BuiltIn { operator } => operator.as_str().into(),
        Proposer::Llm { model, .. } => format!("llm {model}").into(),
        Proposer::Human { name } => format!("human {name}").into(),
    }
}

/// A leaderboard up to this long is shown whole.
const WHOLE_ROWS_MAX: usize = 40;

/// Rows a longer one shows at the top; the baselines below them are shown too, as reference
/// points. A long campaign ranks tens of thousands: `--json` lists them all.
const TOP_ROWS: usize = 20;

impl Summary<'_> {
    /// The leaderboard table and the counts line, as the command line prints them (a long
    /// board shows its top and its baselines; the JSON form has every row).
    pub fn table(&self) -> String {
        render(self)
    }
}

fn render(summary: &Summary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let rows = &summary.leaderboard;
    let shown: Vec<&Row> = rows
        .iter()
        .enumerate()
        .filter(|(i, r)| rows.len() <= WHOLE_ROWS_MAX || *i < TOP_ROWS || r.proposer == "baseline")
        .map(|(_, r)| r)
        .collect();
    // Columns as wide as their longest entry (baseline names run to 17 characters).
    let aw = shown.iter().map(|r| r.arch.len()).max().unwrap_or(0).max(12);
    let pw = shown.iter().map(|r| r.parent.map_or(1, str::len)).max().unwrap_or(0).max(14);
    let _ = writeln!(
        out,
        "{:>4}  {:<aw$} {:>8} {:>9} {:>8} {:>8}  {:<pw$} how",
        "rank", "arch", "fitness", "benchmark", "loss", "params", "parent"
    );
    let mut next_rank = 1;
    for row in shown {
        if row.rank > next_rank {
            let _ = writeln!(out, "   …");
        }
        next_rank = row.rank + 1;
        let verdict = match (row.discovery, &row.test) {
            (Some(discovery), Some(t)) => {
                let what = if discovery { "discovery" } else { "verified: not a discovery" };
                let bound = t
                    .lower_bound
                    .map_or(String::new(), |b| format!(", ≥ {b:+.3} at {}%", 100.0 - 100.0 * t.alpha));
                let text = row.real_text.map_or(String::new(), |r| {
                    format!(
                        "; real text: loss {:+.3}, p {:.4}, Holm {:.4}",
                        -r.gain_mean, r.p_value, r.p_adjusted
                    )
                });
                format!(
                    " [{what}: gain {:+.3}{bound}; p {:.4}, Holm {:.4} of {}{text}]",
                    t.gain_mean, t.p_value, t.p_adjusted, t.family
                )
            }
            // A version-1 verdict, decided by the version-1 rule.
            (Some(true), None) => " [discovery]".to_owned(),
            (Some(false), None) => " [verified: no gain beyond seed variation]".to_owned(),
            (None, _) => String::new(),
        };
        let _ = writeln!(
            out,
            "{:>4}  {:<aw$} {:>8.4} {:>9} {:>8} {:>8}  {:<pw$} {}{verdict}",
            row.rank,
            row.arch,
            row.fitness,
            row.benchmark.map_or("-".into(), |b| format!("{b:.3}")),
            row.loss.map_or("-".into(), |l| format!("{l:.3}")),
            row.params.map_or("-".into(), |p| p.to_string()),
            row.parent.unwrap_or("-"),
            row.proposer,
        );
    }
    if next_rank <= rows.len() {
        let _ = writeln!(out, "   … {} ranked in all; `--json` lists every one", rows.len());
    }
    let _ = write!(
        out,
        "{} experiments; {} rejected as duplicates, {} abandoned after repair, {} failed training",
        summary.experiments, summary.rejected, summary.abandoned, summary.failed
    );
    if !summary.insights.is_empty() {
        let by: Vec<String> = summary.insights.iter().map(|(analyst, n)| format!("{analyst} {n}")).collect();
        let _ = write!(out, "\ninsights by analyst: {}", by.join(", "));
    }
    if let Some(llm) = &summary.llm {
        let spend = |s: &LlmSpend| {
            let exchanges = crate::consistency::plural(u64::from(s.exchanges), "exchange");
            format!("{exchanges}, {} + {} tokens, cost {:.4}", s.input_tokens, s.output_tokens, s.cost)
        };
        let fallbacks = crate::consistency::plural(u64::from(llm.fallbacks), "fallback");
        let _ = write!(out, "\nLLM spend: {}; {fallbacks} to built-in rules", spend(&llm.total));
        for (role, s) in &llm.roles {
            let _ = write!(out, "\n  {role:<10} {}", spend(s));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A summary of `names.len()` ranked architectures, baselines at the given ranks.
    fn summary<'a>(names: &'a [String], baselines_at: &[usize]) -> Summary<'a> {
        let ranked = names.len();
        let row = |rank: usize| Row {
            rank,
            arch: &names[rank - 1],
            fitness: 1.0 / rank as f64,
            benchmark: Some(0.5),
            loss: None,
            params: Some(1000),
            parent: None,
            proposer: if baselines_at.contains(&rank) { "baseline" } else { "mutate" }.into(),
            discovery: None,
            test: None,
            real_text: None,
        };
        Summary {
            campaign: "c".into(),
            finished: false,
            reason: None,
            experiments: ranked as u32,
            events: 0,
            state_hash: String::new(),
            head_seq: None,
            head_hash: None,
            past_end: None,
            leaderboard: (1..=ranked).map(row).collect(),
            discoveries: Vec::new(),
            rejected: 0,
            abandoned: 0,
            failed: 0,
            insights: BTreeMap::new(),
            llm: None,
        }
    }

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|rank| format!("a-{rank:04}")).collect()
    }

    fn ranks_shown(text: &str) -> Vec<usize> {
        // Table rows: a rank, then an architecture.
        let row = |l: &str| {
            let mut words = l.split_whitespace();
            let rank = words.next()?.parse().ok()?;
            words.next()?.starts_with("a-").then_some(rank)
        };
        text.lines().filter_map(row).collect()
    }

    #[test]
    fn a_long_board_shows_the_top_and_the_baselines_and_says_how_many_it_left_out() {
        let text = render(&summary(&names(WHOLE_ROWS_MAX + 1), &[3, 30]));
        let expected: Vec<usize> = (1..=TOP_ROWS).chain([30]).collect();
        assert_eq!(ranks_shown(&text), expected, "{text}");

        let text = render(&summary(&names(500), &[3, 120, 121, 400]));
        let expected: Vec<usize> = (1..=TOP_ROWS).chain([120, 121, 400]).collect();
        assert_eq!(ranks_shown(&text), expected, "{text}");
        // A gap marker before 120 and before 400, none between 120 and 121.
        let gaps = text.lines().filter(|l| l.trim() == "…").count();
        assert_eq!(gaps, 2, "{text}");
        assert!(text.contains("… 500 ranked in all; `--json` lists every one"), "{text}");
    }

    #[test]
    fn a_verdict_shows_its_test_and_an_old_one_its_rule() {
        let names = names(3);
        let mut board = summary(&names, &[3]);
        let test = |p_value, lower_bound| RowTest {
            gain_mean: 0.206,
            p_value,
            p_adjusted: 2.0 * p_value,
            family: 2,
            lower_bound,
            alpha: 0.05,
        };
        board.leaderboard[0].discovery = Some(true);
        board.leaderboard[0].test = Some(test(0.0021, Some(0.1932)));
        board.leaderboard[1].discovery = Some(false);
        board.leaderboard[1].test = Some(test(0.4, None));
        board.leaderboard[2].discovery = Some(false);
        let text = render(&board);
        let lines: Vec<&str> = text.lines().skip(1).take(3).collect();
        assert!(
            lines[0].ends_with(" [discovery: gain +0.206, ≥ +0.193 at 95%; p 0.0021, Holm 0.0042 of 2]"),
            "{text}"
        );
        assert!(
            lines[1].ends_with(" [verified: not a discovery: gain +0.206; p 0.4000, Holm 0.8000 of 2]"),
            "{text}"
        );
        assert!(
            lines[2].ends_with(" [verified: no gain beyond seed variation]"),
            "a version-1 verdict: {text}"
        );
        let json = serde_json::to_value(&board).unwrap();
        assert_eq!(json["leaderboard"][0]["test"]["p_adjusted"], 0.0042);
        assert!(json["leaderboard"][2].get("test").is_none(), "absent, as version 1 wrote none");
    }

    #[test]
    fn a_short_board_is_shown_whole() {
        let text = render(&summary(&names(WHOLE_ROWS_MAX), &[3, 30]));
        assert_eq!(ranks_shown(&text), (1..=WHOLE_ROWS_MAX).collect::<Vec<_>>());
        assert!(!text.contains('…'), "{text}");
    }
}
