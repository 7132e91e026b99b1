//! Integration tests of kiln-registry: against Debian's `docker-registry`
//! (skipped when it is missing, failing with KILN_TEST_REQUIRE_TOOLS=1) and
//! against small fake servers for bearer tokens and faults.

mod distribution;
mod fake;
mod faults;
mod harness;
