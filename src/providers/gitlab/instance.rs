//! [`Instance`]: which GitLab a plugin talks to (gitlab.com or a self-managed host), and the name its keys carry.

use std::fmt;

use url::Url;

/// gitlab.com, the default instance.
pub const GITLAB_COM: &str = "https://gitlab.com";

/// One GitLab instance: its base URL (`https://gitlab.com`, `https://gitlab.example.com`, or with a relative URL root
/// `https://example.com/gitlab`) and the name that every key of its objects carries.
///
/// The name is the base URL's host, lowercase, followed by `:port` when the URL names a port other than the
/// scheme's default: `gitlab.com`, `gitlab.example.com`, `127.0.0.1:8080`. Self-managed instances reuse numeric ids
/// (user 1 is `root` everywhere), so keys say whose id it is: `gitlab:gitlab.com:user:1` and
/// `gitlab:gitlab.example.com:user:1` are two people.
///
/// The name comes from the plugin's configured base URL on both paths, never from a payload: Events API items
/// carry no URL of their instance, and a webhook body's URLs follow the instance's `external_url`, which may differ
/// from the address the host uses. Configure the base URL people see (the `external_url`) so that keys stay the same
/// if the host later reaches the instance another way.
///
/// ```
/// use spark_integrations::providers::gitlab::Instance;
///
/// let instance = Instance::new("https://GitLab.Example.com:8443/gitlab/")?;
/// assert_eq!(instance.name(), "gitlab.example.com:8443");
/// assert_eq!(instance.base_url(), "https://gitlab.example.com:8443/gitlab");
/// assert_eq!(instance.api_base(), "https://gitlab.example.com:8443/gitlab/api/v4");
/// assert_eq!(Instance::gitlab_com().name(), "gitlab.com");
/// # Ok::<(), spark_integrations::providers::gitlab::BaseUrlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Instance {
    base_url: String,
    name: String,
}

/// Why a GitLab base URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BaseUrlError {
    /// Not a URL.
    #[error("invalid GitLab base URL: {0}")]
    Parse(#[from] url::ParseError),
    /// Not `http` or `https`, without a host, or with credentials, a query or a fragment.
    #[error("invalid GitLab base URL: {reason}")]
    Unsupported {
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl Instance {
    /// gitlab.com.
    pub fn gitlab_com() -> Self {
        Self::new(GITLAB_COM).expect("gitlab.com's URL is valid")
    }

    /// The instance at `base_url` (`https://gitlab.example.com`; a trailing `/` is ignored).
    ///
    /// # Errors
    ///
    /// [`BaseUrlError`] when `base_url` is not an `http`/`https` URL with a host and without credentials, query or
    /// fragment.
    pub fn new(base_url: &str) -> Result<Self, BaseUrlError> {
        let url = Url::parse(base_url)?;
        let unsupported = |reason| Err(BaseUrlError::Unsupported { reason });
        if !matches!(url.scheme(), "http" | "https") {
            return unsupported("the scheme must be http or https");
        }
        let Some(host) = url.host_str() else {
            return unsupported("a base URL names a host");
        };
        if !url.username().is_empty() || url.password().is_some() {
            return unsupported("a base URL carries no credentials");
        }
        if url.query().is_some() || url.fragment().is_some() {
            return unsupported("a base URL has no query or fragment");
        }
        let name = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let base_url = url.as_str().trim_end_matches('/').to_owned();
        Ok(Self { base_url, name })
    }

    /// The base URL, without a trailing `/`: `https://gitlab.com`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The REST API's base URL: `{base_url}/api/v4`.
    pub fn api_base(&self) -> String {
        format!("{}/api/v4", self.base_url)
    }

    /// The name keys carry: the host, and the port when it is not the scheme's default.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Default for Instance {
    fn default() -> Self {
        Self::gitlab_com()
    }
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        for bad in [
            "gitlab.com",
            "ftp://gitlab.com",
            "https://user:pw@gitlab.com",
            "https://gitlab.com/?a=1",
            "https://gitlab.com/#top",
        ] {
            assert!(Instance::new(bad).is_err(), "{bad}");
        }
        assert_eq!(Instance::new("http://127.0.0.1:8080").unwrap().name(), "127.0.0.1:8080");
        assert_eq!(Instance::new("https://gitlab.com:443/").unwrap().name(), "gitlab.com");
        assert_eq!(
            Instance::new("https://gitlab.com/").unwrap().base_url(),
            "https://gitlab.com"
        );
    }
}
