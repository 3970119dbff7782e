//! The outgoing HTTP client: ureq, blocking, from `tokio::task::spawn_blocking`.
//!
//! The library builds `http::Request`s and reads `http::Response`s; this is the whole adapter between them and
//! the network. Non-2xx answers are responses (the library reads them), not errors.

use std::time::Duration;

/// A shared ureq agent (it pools keep-alive connections per host).
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
}

impl HttpClient {
    /// An agent with timeouts short enough for a request handler, and redirects off (the library follows what
    /// it means to follow, such as `Link: rel="next"`).
    pub fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(20)))
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .into();
        Self { agent }
    }

    /// Sends `request` and reads the whole response body. Blocking.
    pub fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, ureq::Error> {
        let (parts, mut body) = self.agent.run(request)?.into_parts();
        let body = body.with_config().limit(32 * 1024 * 1024).read_to_vec()?;
        Ok(http::Response::from_parts(parts, body))
    }
}

impl Default for HttpClient {
    /// [`HttpClient::new`].
    fn default() -> Self {
        Self::new()
    }
}
