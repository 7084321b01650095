//! The gateway's own tower layers; [`crate::stack`] assembles them with
//! tower-http's and gateway-auth's into the request path.

pub mod classify;
pub mod close;
pub mod cors;
pub mod observe;
pub mod operation;
pub mod prepare;
pub mod reject;
pub mod request_id;
pub mod shed;
