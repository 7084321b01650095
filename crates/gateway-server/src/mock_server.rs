//! Placeholder: replaced by the mock HTTP server.
#![allow(missing_docs)]
use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
pub struct MockServer {
    pub shape: ApiShape,
    pub config: MockConfig,
}
pub fn mock_options(_args: &crate::cli::MockArgs) -> Result<MockServer, String> {
    Err("not yet".into())
}
impl MockServer {
    pub async fn serve(
        self,
        _l: tokio::net::TcpListener,
        _s: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        Ok(())
    }
}
