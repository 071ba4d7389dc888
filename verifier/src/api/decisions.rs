//! `GET /v1/decisions?rule=&verdict=&limit=`: the fraud guard's decision records, newest first,
//! and the totals of every decision since the start by rule, verdict and enforcement.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::Error;
use super::state::{AppState, Caller};
use crate::guard::decisions::{Decision, Total, Verdict};
use crate::metrics::labels::Rule;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionsQuery {
    rule: Option<String>,
    verdict: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct DecisionsBody {
    mode: &'static str,
    /// Every decision since the start, by rule, verdict and enforcement (not filtered).
    totals: Vec<Total>,
    decisions: Vec<Decision>,
}

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/v1/decisions", get(list))
}

async fn list(
    State(s): State<AppState>,
    _caller: Caller,
    q: Result<Query<DecisionsQuery>, QueryRejection>,
) -> Result<Json<DecisionsBody>, Error> {
    let Query(q) = q.map_err(|e| Error::BadRequest {
        field: None,
        message: e.body_text(),
    })?;
    let rule = match q.rule.as_deref() {
        None => None,
        Some(r) => Some(Rule::from_word(r).ok_or_else(|| {
            let all: Vec<&str> = Rule::ALL.iter().map(|r| r.word()).collect();
            Error::bad(
                "rule",
                format!("`{r}` is not a rule (one of {})", all.join(", ")),
            )
        })?),
    };
    let verdict = match q.verdict.as_deref() {
        None => None,
        Some(v) => Some(Verdict::from_word(v).ok_or_else(|| {
            Error::bad(
                "verdict",
                format!("`{v}` is not one of block, voice, forgive, list"),
            )
        })?),
    };
    let guard = &s.engine.guard;
    Ok(Json(DecisionsBody {
        mode: guard.mode().word(),
        totals: guard.decisions.totals(),
        decisions: guard
            .decisions
            .list(rule, verdict, q.limit.unwrap_or(100).min(10_000)),
    }))
}
