//! Runs the example app on 127.0.0.1:4080 with the built-in mock provider and a
//! fresh key (printed), keys and usage in a temporary database.

use std::net::SocketAddr;

use gateway_server::config::Config;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut config, key) = Config::default_mock()?;
    config.storage.path = ":memory:".into();
    let app = embed_axum::app(&config)?;
    let addr: SocketAddr = ([127, 0, 0, 1], 4080).into();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("http://{addr}/hello, http://{addr}/private and the gateway under http://{addr}/llm");
    println!("key: {key}");
    println!(
        "curl -sS http://{addr}/llm/v1/chat/completions -H 'Authorization: Bearer {key}' -H 'content-type: application/json' -d '{{\"model\":\"gpt-5-mock\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}]}}'"
    );
    axum::serve(listener, app).await?;
    Ok(())
}
