//! `GET /api/v1/cdrs?since=…&until=…&limit=…`: records as a JSON array,
//! oldest first, with the same parameters as `switchboard cdr`. The token
//! check in front of it is the operator API's ([`crate::http::api`]).

use std::collections::HashMap;
use std::time::SystemTime;

use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::query::{self, CdrQuery};
use super::CdrStore;

/// The `/cdrs` route, reading `store` (`None`: records are off, 404).
pub fn routes(store: Option<CdrStore>) -> Router {
    Router::new().route("/cdrs", get(list)).with_state(store)
}

async fn list(
    State(store): State<Option<CdrStore>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(store) = store else {
        return (
            StatusCode::NOT_FOUND,
            "call records are off (cdr.enabled)\n",
        )
            .into_response();
    };
    if let Some(unknown) = params
        .keys()
        .find(|k| !matches!(k.as_str(), "since" | "until" | "limit"))
    {
        let message = format!("unknown parameter {unknown:?}: use since, until, limit\n");
        return (StatusCode::BAD_REQUEST, message).into_response();
    }
    let get = |name: &str| params.get(name).map(String::as_str);
    let query = match CdrQuery::parse(get("since"), get("until"), get("limit"), SystemTime::now()) {
        Ok(query) => query,
        Err(message) => return (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response(),
    };
    match query::read(&store, query).await {
        Ok(records) => match serde_json::to_vec(&records) {
            Ok(body) => ([(CONTENT_TYPE, "application/json")], body).into_response(),
            Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")).into_response(),
        },
        Err(error) => {
            tracing::warn!(%error, "API: call records not read");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::extract::Request;
    use tower::ServiceExt;

    async fn get_status(store: Option<CdrStore>, uri: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .uri(uri)
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        let response = routes(store)
            .oneshot(request)
            .await
            .unwrap_or_else(|e| match e {});
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn lists_records_and_refuses_bad_parameters() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("cdr.sqlite");
        let mut store =
            super::super::sqlite::SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut record = super::super::CallRecord::new("abc".into());
        record.end_ms = 5;
        store.insert(&[record]).unwrap_or_else(|e| panic!("{e}"));
        let store = Some(CdrStore::Sqlite(path));

        let (status, body) = get_status(store.clone(), "/cdrs?limit=10").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let list: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(list[0]["sip_call_id"], "abc");

        let (status, body) = get_status(store.clone(), "/cdrs?since=tomorrow").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.starts_with("since: "), "{body}");
        let (status, _) = get_status(store.clone(), "/cdrs?limit=-1").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = get_status(store, "/cdrs?sinse=1h").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = get_status(None, "/cdrs").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
