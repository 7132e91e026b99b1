//! kiln-testutil
