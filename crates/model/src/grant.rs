//! Share grants: being built (see the federation issue).
