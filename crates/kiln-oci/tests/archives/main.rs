//! Integration tests of kiln-oci's archive and layout readers and writers.

mod fixture;
mod refusals;
mod round_trip;
mod skopeo;
