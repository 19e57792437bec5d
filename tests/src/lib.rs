//! Shared helpers for the NDK consumer-side tests.
