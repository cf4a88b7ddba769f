//! Packet builders for the tests (etherparse).
