//! gateway-providers' integration tests, one binary: real kinds against loopback
//! upstreams over HTTP and HTTPS, the mock provider in every shape, the presets, Vertex AI's
//! token exchange.

mod bedrock;
mod cohere;
mod http;
mod https;
mod mock;
mod pool;
mod presets;
mod support;
mod vertex;
