//! Storage (`src/store/`): the storage contract of `spark_integrations::testing` run on every store (the in-memory
//! store, SQLite with the `sqlite` feature, Postgres with the `postgres` feature and a server, see
//! `spark_test_support::postgres`), what the database stores keep beyond it, several instances on one database,
//! recorded payloads stored once, and the range of times the model accepts.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod databases;
mod ingest_recorded;
mod multi_instance;
mod time_range;

/// One test per check of `spark_integrations::testing`, each on a store of its own from `$make` (evaluated in the
/// test, where it may `return` to skip it).
macro_rules! storage_suite {
    ($module:ident, $make:expr) => {
        mod $module {
            use spark_integrations::testing;

            #[test]
            fn stores_an_event_with_its_objects_and_blocks_exactly() {
                testing::stores_an_event_with_its_objects_and_blocks_exactly($make);
            }

            #[test]
            fn a_redelivery_stores_nothing_twice() {
                testing::a_redelivery_stores_nothing_twice($make);
            }

            #[test]
            fn overlapping_pages_are_deduplicated() {
                testing::overlapping_pages_are_deduplicated($make);
            }

            #[test]
            fn a_changed_object_is_updated_by_key() {
                testing::a_changed_object_is_updated_by_key($make);
            }

            #[test]
            fn listing_filters_orders_and_limits() {
                testing::listing_filters_orders_and_limits($make);
            }

            #[test]
            fn times_round_trip_from_year_1_to_9999() {
                testing::times_round_trip_from_year_1_to_9999($make);
            }

            #[test]
            fn rederiving_replaces_events_in_place_and_never_duplicates() {
                testing::rederiving_replaces_events_in_place_and_never_duplicates($make);
            }

            #[test]
            fn a_batch_is_stored_in_one_transaction_with_its_duplicates_counted() {
                testing::a_batch_is_stored_in_one_transaction_with_its_duplicates_counted($make);
            }

            #[test]
            fn the_inbox_keeps_deliveries_and_their_outcomes() {
                testing::the_inbox_keeps_deliveries_and_their_outcomes($make);
            }

            #[test]
            fn a_batch_stores_what_event_by_event_stores() {
                testing::a_batch_stores_what_event_by_event_stores($make);
            }

            #[test]
            fn a_group_is_kept_stored_and_recorded_at_once() {
                testing::a_group_is_kept_stored_and_recorded_at_once($make);
            }

            #[test]
            fn names_are_resolved_once_and_survive_later_events() {
                testing::names_are_resolved_once_and_survive_later_events($make);
            }

            #[test]
            fn listing_filters_by_service_actor_and_time() {
                testing::listing_filters_by_service_actor_and_time($make);
            }

            #[test]
            fn a_failure_midway_leaves_no_partial_event() {
                testing::a_failure_midway_leaves_no_partial_event($make);
            }

            #[test]
            fn integrations_are_created_found_and_updated() {
                testing::integrations_are_created_found_and_updated($make);
            }

            #[test]
            fn saving_details_keeps_the_stored_tokens() {
                testing::saving_details_keeps_the_stored_tokens($make);
            }

            #[test]
            fn oauth_states_are_accepted_once() {
                testing::oauth_states_are_accepted_once($make);
            }

            #[test]
            fn a_poll_on_demand_takes_the_lease_of_one_integration() {
                testing::a_poll_on_demand_takes_the_lease_of_one_integration($make);
            }

            #[test]
            fn integrations_are_routed_by_their_secret() {
                testing::integrations_are_routed_by_their_secret($make);
            }

            #[test]
            fn the_scheduler_records_failures_and_goes_on() {
                testing::the_scheduler_records_failures_and_goes_on($make);
            }

            #[test]
            fn token_versions_and_refresh_leases() {
                testing::token_versions_and_refresh_leases($make);
            }

            #[test]
            fn poll_leases_hand_each_integration_to_one_scheduler() {
                testing::poll_leases_hand_each_integration_to_one_scheduler($make);
            }
        }
    };
}

storage_suite!(memory, spark_integrations::store::MemoryStore::new());

#[cfg(feature = "sqlite")]
storage_suite!(
    sqlite,
    spark_integrations::store::SqliteStore::open_in_memory().expect("in-memory SQLite")
);

#[cfg(feature = "postgres")]
storage_suite!(
    postgres,
    match spark_test_support::postgres::store(module_path!()) {
        Some(store) => store,
        None => return,
    }
);
