//! Sync: planning (state + server facts + policy → actions) and running the plan.
//! The only layer where protocol sessions and the store meet.
