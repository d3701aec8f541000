//! Case-synchronization folder rules: being built.
