//! The conformance suite every backend must pass. Filled in by the suite's author.
