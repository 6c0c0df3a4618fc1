//! The operator API under `/api/v1`: call records, reload and what else an
//! operator drives from scripts. Every route sits behind one check, a
//! bearer token (`http.api_token`); without a configured token the API
//! answers 403 to everybody, so nothing is open by default.
//!
//! Features merge their routes (an axum [`Router`]) in `server.rs`; this
//! module nests them under `/api/v1` behind the token. The token is an
//! [`ApiToken`] the reloader can change, so rotating it needs no restart.

use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

/// The bearer token the API takes now (`None`: the API is off); shared
/// by every HTTP listener generation and by the reloader.
#[derive(Clone, Default)]
pub struct ApiToken(Arc<RwLock<Option<Arc<str>>>>);

impl std::fmt::Debug for ApiToken {
    /// Whether a token is set, never the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ApiToken")
            .field(&self.get().map(|_| "set"))
            .finish()
    }
}

impl ApiToken {
    /// A handle on `token`.
    pub fn new(token: Option<&str>) -> ApiToken {
        ApiToken(Arc::new(RwLock::new(token.map(Arc::from))))
    }

    /// Takes `token` for every request from now on.
    pub fn set(&self, token: Option<&str>) {
        let token = token.map(Arc::from);
        match self.0.write() {
            Ok(mut held) => *held = token,
            Err(poisoned) => *poisoned.into_inner() = token,
        }
    }

    fn get(&self) -> Option<Arc<str>> {
        match self.0.read() {
            Ok(held) => held.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// The routes of `routes` under `/api/v1`, each behind the bearer `token`.
pub fn nest(routes: Router, token: ApiToken) -> Router {
    Router::new().nest(
        "/api/v1",
        // The fallback puts unknown API paths behind the check too, so
        // what exists is not told to whoever lacks the token.
        routes
            .fallback(|| async { (StatusCode::NOT_FOUND, "no such API\n") })
            .layer(axum::middleware::from_fn_with_state(token, check_token)),
    )
}

/// Lets a request through only with `Authorization: Bearer <token>`.
async fn check_token(State(token): State<ApiToken>, request: Request, next: Next) -> Response {
    let Some(token) = token.get() else {
        return (
            StatusCode::FORBIDDEN,
            "the API is off: set http.api_token\n",
        )
            .into_response();
    };
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, credentials)| credentials.trim());
    if given.is_some_and(|given| crate::agent_rpc::same_secret(given, &token)) {
        return next.run(request).await;
    }
    tracing::info!(path = %request.uri().path(), "API request refused: bad or missing token");
    (
        StatusCode::UNAUTHORIZED,
        [(WWW_AUTHENTICATE, "Bearer")],
        "Unauthorized\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn status(app: Router, authorization: Option<&str>) -> StatusCode {
        let mut request = Request::builder().uri("/api/v1/ping");
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        let request = request.body(Body::empty()).expect("request");
        app.oneshot(request).await.expect("infallible").status()
    }

    #[tokio::test]
    async fn only_the_configured_bearer_token_gets_through() {
        let routes = || Router::new().route("/ping", get(|| async { "pong" }));
        let token = ApiToken::new(Some("0123456789abcdef"));
        let app = nest(routes(), token.clone());
        assert_eq!(
            status(app.clone(), Some("Bearer 0123456789abcdef")).await,
            StatusCode::OK
        );
        assert_eq!(
            status(app.clone(), Some("bearer  0123456789abcdef ")).await,
            StatusCode::OK
        );
        assert_eq!(
            status(app.clone(), Some("Bearer 0123456789abcdeX")).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(status(app.clone(), None).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            status(app.clone(), Some("Basic 0123456789abcdef")).await,
            StatusCode::UNAUTHORIZED
        );
        // A new token applies to the next request; the old one is refused.
        token.set(Some("fedcba9876543210"));
        assert_eq!(
            status(app.clone(), Some("Bearer 0123456789abcdef")).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(app.clone(), Some("Bearer fedcba9876543210")).await,
            StatusCode::OK
        );
        token.set(None);
        assert_eq!(
            status(app, Some("Bearer fedcba9876543210")).await,
            StatusCode::FORBIDDEN
        );
        let closed = nest(routes(), ApiToken::new(None));
        assert_eq!(
            status(closed, Some("Bearer 0123456789abcdef")).await,
            StatusCode::FORBIDDEN
        );
    }
}
