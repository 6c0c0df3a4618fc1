//! Call detail records in PostgreSQL (`cdr.postgres`), end to end: the
//! same scenario as the SQLite test against a throwaway cluster. Skips only
//! when PostgreSQL is not installed and `SWITCHBOARD_TEST_POSTGRES` is
//! unset; `scripts/test` installs it and sets the variable, so there it
//! fails instead.

mod cdr_common;
mod common;

use std::time::Duration;

use cdr_common::postgres::Cluster;
use cdr_common::WAIT;
use testkit::{RtpPeer, SipUa};

#[test]
fn postgres_records_answered_refused_and_shutdown_calls() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let cdr = format!("cdr:\n  postgres: \"{}\"\n", cluster.url);
    let (_first, _) = cdr_common::run(&cdr);
    // A second server on the same database starts on the tables the first
    // made (its migrations find them applied) and adds its records to them.
    let (mut second, _) = cdr_common::start(&cdr);
    let ua = SipUa::bind();
    let rtp = RtpPeer::silent();
    let mut refused = ua.call(second.addr(), "999", rtp.local_addr());
    assert_eq!(refused.wait_final(WAIT), Some(404), "{}", second.log());
    second.terminate();
    assert_eq!(
        second.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        second.log()
    );
    let list = common::cdr::records(&second.config_path());
    assert_eq!(list.len(), 4, "{list:#?}\n{}", second.log());
    assert_eq!(list[3]["dialed"], "999", "{list:#?}");
}
