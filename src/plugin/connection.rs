//! The ways a service connects: [`Connection`] and the set type [`Connections`].

use std::fmt;
use std::ops::BitOr;

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

/// One way a service exchanges data with the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Connection {
    /// The user grants access through an OAuth 2.0 authorization flow; the host keeps tokens.
    #[serde(rename = "oauth")]
    OAuth,
    /// The host fetches activity on a schedule (after OAuth, with the user's token).
    Polling,
    /// The service pushes deliveries to a webhook URL the host exposes.
    Webhook,
}

impl Connection {
    /// Every connection kind, in the order [`Connections::iter`] yields them.
    pub const ALL: [Self; 3] = [Self::OAuth, Self::Polling, Self::Webhook];

    /// The stable lowercase name: `oauth`, `polling`, `webhook` (also its JSON form).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OAuth => "oauth",
            Self::Polling => "polling",
            Self::Webhook => "webhook",
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Self::OAuth => 1,
            Self::Polling => 1 << 1,
            Self::Webhook => 1 << 2,
        }
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of [`Connection`]s a plugin supports: GitHub is OAuth + polling and also accepts webhooks, Slack is
/// OAuth + webhook.
///
/// Build one with `|` from single connections, and ask it with [`contains`](Self::contains):
///
/// ```
/// use spark_integrations::plugin::{Connection, Connections};
///
/// let slack = Connections::from(Connection::OAuth) | Connection::Webhook;
/// assert!(slack.contains(Connection::Webhook));
/// assert!(!slack.contains(Connection::Polling));
/// assert_eq!(format!("{slack:?}"), "{OAuth, Webhook}");
/// assert_eq!(serde_json::to_string(&slack)?, r#"["oauth","webhook"]"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Connections(u8);

impl Connections {
    /// The empty set.
    pub const NONE: Self = Self(0);

    /// The set holding only `connection`.
    pub const fn only(connection: Connection) -> Self {
        Self(connection.bit())
    }

    /// This set with `connection` added. Usable in `const` items.
    #[must_use]
    pub const fn with(self, connection: Connection) -> Self {
        Self(self.0 | connection.bit())
    }

    /// Whether the set holds `connection`.
    pub const fn contains(self, connection: Connection) -> bool {
        self.0 & connection.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The connections in the set, in the order of [`Connection::ALL`].
    pub fn iter(self) -> impl Iterator<Item = Connection> {
        Connection::ALL
            .into_iter()
            .filter(move |connection| self.contains(*connection))
    }
}

impl From<Connection> for Connections {
    fn from(connection: Connection) -> Self {
        Self::only(connection)
    }
}

impl BitOr for Connections {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl BitOr<Connection> for Connections {
    type Output = Self;

    fn bitor(self, other: Connection) -> Self {
        self.with(other)
    }
}

impl BitOr for Connection {
    type Output = Connections;

    fn bitor(self, other: Self) -> Connections {
        Connections::only(self).with(other)
    }
}

impl FromIterator<Connection> for Connections {
    fn from_iter<I: IntoIterator<Item = Connection>>(iter: I) -> Self {
        iter.into_iter().fold(Self::NONE, Self::with)
    }
}

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for Connections {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for connection in self.iter() {
            seq.serialize_element(&connection)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_hold_what_was_added_and_nothing_else() {
        let github = Connection::OAuth | Connection::Polling | Connection::Webhook;
        assert_eq!(github.iter().collect::<Vec<_>>(), Connection::ALL);
        let oauth = Connections::only(Connection::OAuth);
        assert!(oauth.contains(Connection::OAuth));
        assert!(!oauth.contains(Connection::Webhook));
        assert!(Connections::NONE.is_empty());
        assert_eq!(Connection::ALL.into_iter().collect::<Connections>(), github);
        let names: Vec<_> = github.iter().map(Connection::as_str).collect();
        assert_eq!(names, ["oauth", "polling", "webhook"]);
        assert_eq!(
            Connection::Polling | Connection::OAuth,
            Connection::OAuth | Connection::Polling
        );
    }
}
