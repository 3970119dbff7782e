//! Polling (`src/poll/`): the GitHub and GitLab pollers against scripted in-memory stand-ins for their APIs, on a
//! simulated clock.

mod fake_github;

mod gitlab_poll;
mod poll;
mod poll_scenario;
