//! kiln-store
