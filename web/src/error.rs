//! What a request can fail with, as an HTML page or, under `/api/`, as JSON: never a panic,
//! never a page left waiting on a dead store.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::html;

/// A request that cannot be answered with its page.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No such campaign, architecture or event.
    #[error("{0}")]
    NotFound(String),
    /// A malformed query.
    #[error("{0}")]
    BadRequest(String),
    /// The store failed or did not answer in time.
    #[error("{0}")]
    Store(String),
    /// The campaign's record is damaged: a broken chain, an edited or undecodable event, a
    /// head that disagrees with the events. Not the store's failure: asking again will not help.
    #[error("{0}")]
    Damaged(String),
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Damaged(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let title = match self {
            WebError::NotFound(_) => "not found",
            WebError::BadRequest(_) => "bad request",
            WebError::Store(_) => "event store unavailable",
            WebError::Damaged(_) => "damaged record",
        };
        HttpResponse::build(self.status()).content_type("text/html; charset=utf-8").body(html::page(
            title,
            &[],
            &html::error_body(&self.to_string()),
            None,
        ))
    }
}

/// A [`WebError`] answered as JSON (`{"error": "…"}`), for `/api/…`.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub WebError);

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.0.status()).json(serde_json::json!({ "error": self.0.to_string() }))
    }
}
