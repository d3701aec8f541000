//! The admin API's route handlers, one module per resource.

pub mod audit;
pub mod cases;
pub mod custody;
pub mod evidence;
pub mod node;
pub mod sharing;
pub mod updates;
pub mod users;
