//! Starting the server from a validated config: bind, wire, run until a signal.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sip::Host;
use sip_stack::transport::TimerConfig;
use sip_stack::{SipStack, StackConfig};
use tokio::sync::mpsc;

use crate::admission::Admission;
use crate::config::{Config, TransportProtocol};
use crate::driver::Driver;
use crate::transport::{Transports, FAILURE_QUEUE, INBOUND_QUEUE};

/// Binds every transport and runs until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel(INBOUND_QUEUE);
    let (failures_tx, failures_rx) = mpsc::channel(FAILURE_QUEUE);
    let listeners = |protocol: TransportProtocol| -> Vec<(String, SocketAddr)> {
        config
            .transports
            .values()
            .filter(|t| t.protocol == protocol)
            .map(|t| (t.name.clone(), t.listen_addr()))
            .collect()
    };
    let transports = Transports::bind(
        &listeners(TransportProtocol::Udp),
        &listeners(TransportProtocol::Tcp),
        tx,
        failures_tx,
    )
    .await?;

    let stack = SipStack::new(stack_config(&config));
    let admission = Admission::new(&config, Instant::now());
    let driver = Driver::new(stack, admission, transports, rx, failures_rx);
    tracing::info!("switchboard ready");
    driver.run(shutdown_signal()).await;
    tracing::info!("switchboard stopped");
    Ok(())
}

fn stack_config(config: &Config) -> StackConfig {
    // Requests we originate carry the first listener's advertised address in Via.
    let (host, port) = config
        .transports
        .values()
        .next()
        .map(|t| (t.advertised_host(), t.advertised_port()))
        .unwrap_or_else(|| ("127.0.0.1".to_string(), 5060));
    let host = match IpAddr::from_str(&host) {
        Ok(IpAddr::V4(a)) => Host::V4(a),
        Ok(IpAddr::V6(a)) => Host::V6(a),
        Err(_) => Host::Domain(host),
    };
    let mut stack = StackConfig::new(host, Some(port));
    stack.timers = TimerConfig {
        t1: Duration::from_millis(config.sip.t1_ms),
        t2: Duration::from_millis(config.sip.t2_ms),
        t4: Duration::from_millis(config.sip.t4_ms),
    };
    stack.max_transactions = config.sip.max_transactions;
    stack
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
