//! Signing helpers for webhook deliveries (filled in with the webhook service).
