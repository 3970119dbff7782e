//! What the SQLite and Postgres stores keep beyond the storage contract: their schema across reconnecting, migrations
//! from older versions, refusing newer ones, and (Postgres) closed connections, concurrent migrations and the
//! precision of times.

use std::fmt;

use serde_json::json;
use spark_integrations::store::{ActivityStore, EventListing, EventQuery, IntegrationStore, StoredEvent, ingest};
use spark_integrations::testing::sample::{at, github, push, report, tokens};

fn events_of<S: ActivityStore>(store: &S) -> Vec<StoredEvent>
where
    S::Error: fmt::Debug,
{
    store
        .recent_events(&EventQuery::latest(1_000))
        .expect("listing works")
        .events
}

/// The source ids of the events a listing could read, in its order.
fn listed(listing: &EventListing) -> Vec<&str> {
    listing
        .events
        .iter()
        .map(|stored| stored.event.source_id.as_str())
        .collect()
}

/// The integration and source id of each row a listing skipped.
fn skipped_rows(listing: &EventListing) -> Vec<(Option<&str>, Option<&str>)> {
    listing
        .skipped
        .iter()
        .map(|row| (row.integration_id.as_deref(), row.source_id.as_deref()))
        .collect()
}

#[cfg(feature = "postgres")]
mod postgres_schema {
    use super::*;
    use spark_integrations::store::postgres::NoTls;
    use spark_integrations::store::{PostgresError, SCHEMA_VERSION};
    use spark_test_support::postgres::{connect, fresh_schema, store, terminate_connections};

    #[test]
    fn data_and_schema_version_survive_reconnecting() {
        let Some(config) = fresh_schema("data_and_schema_version_survive_reconnecting") else {
            return;
        };
        {
            let mut store = connect(&config);
            assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
            ingest(&mut store, "i1", &[push("1", 0, 2)]).expect("ingest");
        }
        let mut store = connect(&config);
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(
            ingest(&mut store, "i1", &[push("1", 0, 2)]).expect("redelivery"),
            report(0, 1, 0, 0)
        );
        assert_eq!(events_of(&store)[0].event, push("1", 0, 2));
    }

    #[test]
    fn an_older_schema_is_migrated_keeping_its_data() {
        let Some(config) = fresh_schema("an_older_schema_is_migrated_keeping_its_data") else {
            return;
        };
        {
            let mut store = connect(&config);
            ingest(&mut store, "i1", &[push("1", 0, 1)]).expect("ingest");
        }
        // Turn the schema back into version 1: activity only.
        let mut client = config.connect(NoTls).expect("connect");
        client
            .batch_execute("DROP TABLE integrations, oauth_states, inbox; UPDATE schema_version SET version = 1;")
            .expect("downgrade");
        let mut store = connect(&config);
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(events_of(&store)[0].event, push("1", 0, 1));
        store.create_integration(&github("g1", 1)).expect("the new table works");
    }

    #[test]
    fn an_unreadable_row_is_skipped_and_reported() {
        let Some(config) = fresh_schema("an_unreadable_row_is_skipped_and_reported") else {
            return;
        };
        let mut store = connect(&config);
        ingest(
            &mut store,
            "i1",
            &[push("good", 0, 1), push("bad-metadata", 1, 0), push("bad-block", 2, 2)],
        )
        .expect("ingest");
        let mut client = config.connect(NoTls).expect("connect");
        client
            .batch_execute(
                "UPDATE events SET event_metadata = '[1]' WHERE source_id = 'bad-metadata';
                 UPDATE blocks SET time = 'infinity'
                   WHERE event_id = (SELECT id FROM events WHERE source_id = 'bad-block') AND position = 1;",
            )
            .expect("damage two rows");
        let listing = store
            .recent_events(&EventQuery::latest(10))
            .expect("the listing still works");
        assert_eq!(listed(&listing), ["good"]);
        let skipped = skipped_rows(&listing);
        assert_eq!(
            skipped,
            [(Some("i1"), Some("bad-metadata")), (Some("i1"), Some("bad-block"))]
        );
        assert!(
            listing.skipped.iter().all(|row| !row.reason.is_empty()),
            "{:?}",
            listing.skipped
        );
    }

    #[test]
    fn a_connection_closed_by_the_server_says_so() {
        let Some(mut config) = fresh_schema("a_connection_closed_by_the_server_says_so") else {
            return;
        };
        let name = format!("spark_closed_{}", std::process::id());
        config.application_name(&name);
        let store = connect(&config);
        assert!(!store.is_closed());
        assert_eq!(terminate_connections(&name), 1);
        // The server's goodbye (an error) and the end of the connection may arrive apart: a call or two fail
        // before the client knows.
        let mut failed = 0;
        while !store.is_closed() {
            assert!(store.schema_version().is_err(), "a call on the dead connection fails");
            failed += 1;
            assert!(failed <= 2, "the client saw the connection end");
        }
        assert!(failed >= 1);
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let Some(config) = fresh_schema("a_database_from_a_newer_version_is_refused") else {
            return;
        };
        drop(connect(&config));
        let mut client = config.connect(NoTls).expect("connect");
        client
            .batch_execute("UPDATE schema_version SET version = 99")
            .expect("set version");
        let error = spark_integrations::store::PostgresStore::from_client(config.connect(NoTls).expect("connect"))
            .expect_err("newer schema");
        assert!(
            matches!(
                error,
                PostgresError::UnsupportedVersion {
                    found: 99,
                    supported: SCHEMA_VERSION
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn instances_opening_at_once_migrate_once() {
        let Some(config) = fresh_schema("instances_opening_at_once_migrate_once") else {
            return;
        };
        let barrier = std::sync::Barrier::new(6);
        std::thread::scope(|scope| {
            for _ in 0..6 {
                scope.spawn(|| {
                    barrier.wait();
                    // Without the advisory lock, all but one fail on `CREATE TABLE objects`.
                    let store = connect(&config);
                    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
                });
            }
        });
        let mut client = config.connect(NoTls).expect("connect");
        let rows = client.query("SELECT version FROM schema_version", &[]).expect("query");
        assert_eq!(rows.len(), 1, "one version row");
    }

    #[test]
    fn sub_microsecond_digits_are_cut_and_nothing_else_changes() {
        let Some(mut store) = store("sub_microsecond_digits_are_cut") else {
            return;
        };
        let mut event = push("ns", 0, 1);
        event.time = at(0, 123_456_789);
        event.actor.time = Some(at(0, 999_999_999));
        event.actor.metadata.insert("nul".to_owned(), json!("a\u{0}b"));
        ingest(&mut store, "i1", std::slice::from_ref(&event)).expect("ingest");
        let stored = events_of(&store).remove(0).event;
        assert_eq!(stored.time, at(0, 123_456_000));
        assert_eq!(stored.actor.time, Some(at(0, 999_999_000)));
        assert_eq!(
            stored.actor.metadata, event.actor.metadata,
            "json keeps a NUL escape jsonb refuses"
        );
        // The stored copy of the actor counts as unchanged when the same object comes again.
        let mut again = push("ns-2", 1, 0);
        again.actor = event.actor.clone();
        assert_eq!(ingest(&mut store, "i1", &[again]).expect("ingest"), report(1, 0, 0, 0));
    }
}

#[cfg(feature = "sqlite")]
mod sqlite_file {
    use super::*;
    use spark_integrations::store::{SCHEMA_VERSION, SqliteError, SqliteStore, rusqlite};

    fn temp_path(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("spark-store-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("spark.sqlite3")
    }

    #[test]
    fn data_and_schema_version_survive_reopening() {
        let path = temp_path("reopen");
        {
            let mut store = SqliteStore::open(&path).expect("create");
            assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
            ingest(&mut store, "i1", &[push("1", 0, 2)]).expect("ingest");
        }
        let mut store = SqliteStore::open(&path).expect("reopen");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(
            ingest(&mut store, "i1", &[push("1", 0, 2)]).expect("redelivery"),
            report(0, 1, 0, 0)
        );
        assert_eq!(events_of(&store)[0].event, push("1", 0, 2));
        std::fs::remove_dir_all(path.parent().expect("temp dir")).expect("clean up");
    }

    #[test]
    fn an_older_schema_is_migrated_keeping_its_data() {
        let path = temp_path("migrate");
        {
            let mut store = SqliteStore::open(&path).expect("create");
            ingest(&mut store, "i1", &[push("1", 0, 1)]).expect("ingest");
        }
        {
            // Turn the file back into a version 1 database: activity only.
            let connection = rusqlite::Connection::open(&path).expect("open");
            connection
                .execute_batch(
                    "DROP TABLE integrations; DROP TABLE oauth_states; DROP TABLE inbox_bodies; DROP TABLE inbox; PRAGMA user_version = 1;",
                )
                .expect("downgrade");
        }
        let mut store = SqliteStore::open(&path).expect("migrate");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(events_of(&store)[0].event, push("1", 0, 1));
        store.create_integration(&github("g1", 1)).expect("the new table works");
        std::fs::remove_dir_all(path.parent().expect("temp dir")).expect("clean up");
    }

    #[test]
    fn tokens_stored_before_version_6_read_as_they_were() {
        let path = temp_path("tokens-v5");
        {
            let mut store = SqliteStore::open(&path).expect("create");
            let mut integration = github("g1", 1);
            let mut granted = tokens("gho_1", "ghr_1", Some(at(3_600, 0)));
            granted.scopes = vec!["repo".to_owned()];
            integration.tokens = Some(granted);
            store.create_integration(&integration).expect("create");
        }
        {
            // A version 5 database: no `token_details` column, only the tokens and their expiries.
            let connection = rusqlite::Connection::open(&path).expect("open");
            connection
                .execute_batch("ALTER TABLE integrations DROP COLUMN token_details; PRAGMA user_version = 5;")
                .expect("downgrade");
        }
        let store = SqliteStore::open(&path).expect("migrate");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        let stored = store.find_integration("g1").expect("find").expect("kept");
        assert_eq!(
            stored.tokens,
            Some(tokens("gho_1", "ghr_1", Some(at(3_600, 0)))),
            "a bearer token with its refresh token and expiry, no scopes: what version 5 kept"
        );
        std::fs::remove_dir_all(path.parent().expect("temp dir")).expect("clean up");
    }

    #[test]
    fn an_unreadable_row_is_skipped_and_reported() {
        let path = temp_path("unreadable");
        let mut store = SqliteStore::open(&path).expect("create");
        let events = [
            push("good", 0, 1),
            push("year-10000", 1, 0),
            push("bad-block", 2, 2),
            push("older", -1, 0),
        ];
        ingest(&mut store, "i1", &events).expect("ingest");
        // What a row written by an older version, or by hand, can hold: a time RFC 3339 cannot carry, a block
        // time that is not a time.
        let connection = rusqlite::Connection::open(&path).expect("open");
        connection
            .execute_batch(
                "UPDATE events SET time = '+10000-01-01T00:00:00.000000000Z' WHERE source_id = 'year-10000';
                 UPDATE blocks SET time = 'yesterday'
                   WHERE event_id = (SELECT id FROM events WHERE source_id = 'bad-block') AND position = 1;",
            )
            .expect("damage two rows");
        let listing = store
            .recent_events(&EventQuery::latest(10))
            .expect("the listing still works");
        assert_eq!(listed(&listing), ["good", "older"], "the readable events, in order");
        assert_eq!(listing.events[0].event, push("good", 0, 1), "read in full");
        let skipped = skipped_rows(&listing);
        assert_eq!(
            skipped,
            [(Some("i1"), Some("year-10000")), (Some("i1"), Some("bad-block"))]
        );
        assert!(
            listing.skipped[0].reason.contains("events.time"),
            "{}",
            listing.skipped[0].reason
        );
        assert!(
            listing.skipped[1].reason.contains("blocks.time"),
            "{}",
            listing.skipped[1].reason
        );
        std::fs::remove_dir_all(path.parent().expect("temp dir")).expect("clean up");
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let connection = rusqlite::Connection::open_in_memory().expect("open");
        connection.pragma_update(None, "user_version", 99).expect("set version");
        let error = SqliteStore::from_connection(connection).expect_err("newer schema");
        assert!(
            matches!(error, SqliteError::UnsupportedVersion { found: 99, .. }),
            "{error}"
        );
    }
}
