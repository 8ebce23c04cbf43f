//! The simulator's integration tests, one test binary: each module drives `upmsync-sim` over HTTP
//! only (no upmsync client), through the one [`support`] module.

mod support;

mod sim_cluster;
mod sim_faults;
mod sim_install;
mod sim_marketplace;
mod sim_products;
mod sim_publish;
mod sim_signature;
mod sim_speed;
mod sim_upm;
