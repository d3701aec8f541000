//! The configuration file and data-directory layout now live in the library
//! (`casemesh_service::config`), so that a node started in-process reads them the same way.

pub(crate) use casemesh_service::config::{Config, Layout, write_atomic};
