//! Network policy: pure values the app passes in (network kind, budgets, what to prefetch).
//! Nothing here does I/O.
