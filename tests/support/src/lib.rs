//! Test helpers that the tests of both packages of the workspace use: `spark-integrations` (its `tests/`) and
//! `spark-host` (`examples/server/tests/`). A library, so that each test binary takes the part it needs; helpers that
//! one test binary uses live beside its tests (`tests/<area>/`). Not published.
//!
//! - `postgres` (feature `postgres`): a fresh schema per test on the server named by `SPARK_TEST_POSTGRES_URL`,
//!   skipped with a printed note when it is unset, and failing instead under `CI=true`.

#[cfg(feature = "postgres")]
pub mod postgres;
