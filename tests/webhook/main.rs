//! Webhook intake and verification (`src/webhook/`) for every scheme: published vectors, properties against an
//! independent signer, every rejection and its message, replays.

mod webhook_support;

mod gitlab_webhooks;
mod webhook_intake;
mod webhook_properties;
mod webhook_redaction;
mod webhook_rejections;
mod webhook_replay;
mod webhook_vectors;
