//! kiln-layer
