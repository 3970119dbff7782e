//! Refresh: when a token is due, the refresh request, and merging the answer with what was stored.

use chrono::{DateTime, Utc};

use super::config::OAuthClient;
use super::token::{Persist, TokenError, TokenSet, form_post, parse_token_response};

/// Where a token set stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Freshness {
    /// Usable, and not within the refresh margin of its expiry (or it never expires).
    Fresh,
    /// Still valid but expiring within the refresh margin: refresh now if possible.
    Due,
    /// Past its expiry.
    Expired,
}

impl OAuthClient {
    /// Where `tokens` stand at `now`, given this client's refresh margin.
    pub fn freshness(&self, tokens: &TokenSet, now: DateTime<Utc>) -> Freshness {
        match tokens.expires_at {
            None => Freshness::Fresh,
            Some(expires_at) if now >= expires_at => Freshness::Expired,
            Some(expires_at) if now + self.refresh_margin >= expires_at => Freshness::Due,
            Some(_) => Freshness::Fresh,
        }
    }

    /// Whether a refresh is due: the access token expires within the margin (or has expired) and a refresh token
    /// is held. Tokens without an expiry are never due.
    pub fn refresh_due(&self, tokens: &TokenSet, now: DateTime<Utc>) -> bool {
        tokens.refresh_token.is_some() && self.freshness(tokens, now) != Freshness::Fresh
    }

    /// The refresh request for `tokens`. Fails with [`TokenError::NoRefreshToken`] or
    /// [`TokenError::RefreshExpired`] (both: authorize again) when no usable refresh token is held.
    pub fn refresh_request(&self, tokens: &TokenSet, now: DateTime<Utc>) -> Result<http::Request<Vec<u8>>, TokenError> {
        let refresh_token = tokens.refresh_token.as_ref().ok_or(TokenError::NoRefreshToken)?;
        if let Some(expired_at) = tokens.refresh_expires_at
            && now >= expired_at
        {
            return Err(TokenError::RefreshExpired { expired_at });
        }
        Ok(form_post(
            &self.provider,
            &self.provider.token_url,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose_secret()),
                ("client_id", &self.config.client_id),
                ("client_secret", self.config.client_secret.expose_secret()),
            ],
        ))
    }

    /// Reads the answer to [`refresh_request`](Self::refresh_request). What the response omits is kept from
    /// `previous`: the refresh token and its expiry, the scopes, the user token and the identifiers. On a
    /// retryable error keep using `previous` (its refresh token stays valid).
    pub fn refresh_response(
        &self,
        previous: &TokenSet,
        response: &http::Response<Vec<u8>>,
        now: DateTime<Utc>,
    ) -> Result<Persist, TokenError> {
        let mut tokens = parse_token_response(&self.provider, response, now)?;
        if tokens.refresh_token.is_none() {
            tokens.refresh_token.clone_from(&previous.refresh_token);
            tokens.refresh_expires_at = previous.refresh_expires_at;
        }
        if tokens.scopes.is_empty() {
            tokens.scopes.clone_from(&previous.scopes);
        }
        if tokens.user_token.is_none() {
            tokens.user_token.clone_from(&previous.user_token);
        }
        for (name, id) in &previous.ids {
            tokens.ids.entry(name.clone()).or_insert_with(|| id.clone());
        }
        Ok(Persist::new(tokens))
    }
}
