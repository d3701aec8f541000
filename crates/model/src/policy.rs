//! Sharing policies and attenuation: being built.
