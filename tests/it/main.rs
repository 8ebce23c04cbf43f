//! upmsync's integration tests, one test binary: the library against the simulator, and the real
//! binary (`upmsync`) against the simulator. [`support`] holds the one way to start a simulator and
//! the one way to run the binary; each module below was a test binary of its own before.

mod support;

mod adopt;
mod apply;
mod apply_parallel;
mod artifact_download;
mod artifact_verify;
mod ci_examples;
mod ci_runs;
mod cli;
mod cli_bytes;
mod crash;
mod datacenter;
mod diagnoses;
mod fault_matrix;
mod faults;
mod file_fuzz;
mod manifest_fuzz;
mod manifest_load;
mod manifest_problems;
mod manifest_requires;
mod manifest_secrets;
mod manifest_transport;
mod manifest_versions_artifacts;
mod monitoring;
mod named_files;
mod output;
mod output_files;
mod products;
mod properties;
mod publish;
mod read_waves;
mod resolve;
mod review10_findings;
mod review11_findings;
mod review12_findings;
mod review12b_findings;
mod review12c_findings;
mod review8_findings;
mod review9_findings;
mod review_findings;
mod show_markdown;
mod signals;
mod sim_foreign;
mod snapshots;
mod terminal;
mod transport;
mod trust_answers;
mod untrusted_bytes;
mod verified_installs;
mod why;
