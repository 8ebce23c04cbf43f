//! The UPM + Marketplace simulator (being written).
