//! No code. The dependencies in Cargo.toml are listed for their features only: see the
//! comment there.
