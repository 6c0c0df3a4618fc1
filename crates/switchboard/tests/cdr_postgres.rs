//! Call detail records in PostgreSQL (`cdr.postgres`), end to end: the
//! same scenario as the SQLite test against a throwaway cluster. Skips only
//! when PostgreSQL is not installed and `SWITCHBOARD_TEST_POSTGRES` is
//! unset; `scripts/test` installs it and sets the variable, so there it
//! fails instead.

mod cdr_common;
mod common;

use cdr_common::postgres::Cluster;

#[test]
fn postgres_records_answered_refused_and_shutdown_calls() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let (_server, config) = cdr_common::run(&format!("cdr:\n  postgres: \"{}\"\n", cluster.url));
    // A second start applies no migration twice: reading opens (and
    // migrates) the store again and still finds the three records.
    assert_eq!(common::cdr::records(&config).len(), 3);
}
