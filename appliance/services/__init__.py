"""Use cases: sign-on, sale, void, refund, forward, settle, reprint. They take ports by injection."""
