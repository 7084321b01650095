//! The `patchbay` commands: what `serve`, `check` and `mock` do, each returning the
//! process exit code.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use gateway_providers::{Operation, UpstreamCall};
use gateway_server::app::App;
use gateway_server::config::{Config, RuntimeLayout};
use gateway_server::listen;
use tokio::net::TcpListener;

use crate::banner::{base_url, ready_banner};
use crate::cli::{CheckArgs, Cli, Command, ServeArgs};

/// Runs the parsed command line.
pub fn main(cli: Cli) -> ExitCode {
    init_tracing();
    let (workers, layout) = threads_of(&cli);
    let mut builder = match layout {
        // `serve` starts the other threads' runtimes itself.
        RuntimeLayout::PerThread => tokio::runtime::Builder::new_current_thread(),
        RuntimeLayout::WorkStealing => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(workers);
            builder
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("patchbay: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args, workers, layout)),
        Command::Check(args) => runtime.block_on(check(args)),
        Command::Mock(args) => runtime.block_on(mock(args)),
        Command::Usage(args) => match crate::usage_cli::run(&args) {
            Ok(text) => {
                say(&text);
                ExitCode::SUCCESS
            }
            Err(err) => fail(&err),
        },
        Command::Connect(args) => text_or_fail(crate::connect::connect(&args)),
        Command::Disconnect(args) => text_or_fail(crate::connect::disconnect(&args)),
        Command::Env(args) => text_or_fail(crate::connect::env(&args)),
        Command::Keys(args) => match crate::keys_cli::run(&args) {
            Ok(text) => {
                say(&text);
                ExitCode::SUCCESS
            }
            Err(err) => fail(&err),
        },
    }
}

fn text_or_fail(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(text) => {
            say(&text);
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err),
    }
}

/// `[server] workers` and `runtime` of the config `serve` will load (the runtime is
/// built before the config is otherwise read; errors surface when `serve` loads it
/// again). Other commands get a work-stealing runtime.
fn threads_of(cli: &Cli) -> (usize, RuntimeLayout) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    match &cli.command {
        Command::Serve(ServeArgs { config, .. }) => {
            let server = config
                .as_ref()
                .and_then(|path| Config::load(path).ok())
                .map(|c| c.server)
                .unwrap_or_default();
            (server.workers.unwrap_or(cores).max(1), server.runtime)
        }
        _ => (cores, RuntimeLayout::WorkStealing),
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PATCHBAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: escape codes would litter a log file
    // or a collector's lines.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// `patchbay serve`: loads the config (or the built-in mock default), listens, and
/// serves until SIGINT/SIGTERM on `workers` threads laid out as `layout` says (the
/// runtime this runs on was built for that layout).
pub async fn serve(args: ServeArgs, workers: usize, layout: RuntimeLayout) -> ExitCode {
    // A caller's connections must meet the connection cap, not the descriptor limit.
    match listen::raise_open_files_limit() {
        Ok(limit) => tracing::debug!(open_files = limit, "open-files limit"),
        Err(err) => tracing::warn!(%err, "could not raise the open-files limit"),
    }
    let (mut config, key) = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(c) => (c, None),
            Err(err) => return fail(&err.to_string()),
        },
        None => match Config::default_mock() {
            Ok((c, key)) => (c, Some(key)),
            Err(err) => return fail(&err.to_string()),
        },
    };
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    // Opening the database blocks (and PostgreSQL's driver refuses to be waited on
    // from an async worker).
    let opened = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || App::from_config(&config)).await
    };
    let app = match opened {
        Ok(Ok(app)) => Arc::new(app),
        Ok(Err(err)) => return fail(&err.to_string()),
        Err(err) => return fail(&format!("opening the database failed: {err}")),
    };
    let tls = match config
        .server
        .tls
        .as_ref()
        .map(listen::tls_acceptor)
        .transpose()
    {
        Ok(tls) => tls,
        Err(err) => return fail(&err),
    };
    let listener = match bind(config.server.listen).await {
        Ok(l) => l,
        Err(err) => return fail(&err),
    };
    if let Ok(addr) = listener.local_addr() {
        config.server.listen = addr;
    }
    let banner = match &key {
        Some(key) => ready_banner(&config, key),
        None => format!(
            "patchbay is listening on {} (keys from the config file)\n",
            base_url(&config)
        ),
    };
    say(&banner);
    if let Some(db) = app.key_store().cloned() {
        tokio::spawn(refresh_keys(db));
    }
    // SIGHUP and changes to the file reload it (`gateway_server::reload`).
    if let Some(path) = &args.config {
        app.set_config_path(path.clone());
    }
    tokio::spawn(gateway_server::reload::watch(app.clone()));
    // The providers' own model lists, for `GET /v1/models` (`[discovery]`).
    tokio::spawn(gateway_server::discovery::run(app.clone()));
    // Stored Responses past `[responses] retention` are removed (`gateway_server::responses`).
    tokio::spawn(gateway_server::responses::purge_task(app.clone()));
    if config.admin.enabled {
        if let Err(err) = start_admin(&config, &app, tls.clone()).await {
            return fail(&err);
        }
    }
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let served = match layout {
        RuntimeLayout::PerThread => {
            listen::serve_per_thread(
                app.clone(),
                listener,
                tls,
                workers,
                shutdown_signal(),
                grace,
            )
            .await
        }
        RuntimeLayout::WorkStealing => {
            listen::serve(app.clone(), listener, tls, shutdown_signal(), grace).await
        }
    };
    // Every usage record queued so far reaches the database before the exit.
    let _ = tokio::task::spawn_blocking(move || app.shutdown_usage()).await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err.to_string()),
    }
}

/// `patchbay check`: validates the config and, unless `--no-probe`, asks every
/// provider for its model list.
pub async fn check(args: CheckArgs) -> ExitCode {
    let report = match crate::cli::check_config(args.config.as_deref()) {
        Ok(r) => r,
        Err(err) => return fail(&err.to_string()),
    };
    print!("{}", report.summary());
    if args.no_probe {
        println!("config ok (upstreams not probed)");
        return ExitCode::SUCCESS;
    }
    // Probing needs the providers only: the database is left alone.
    let app = match App::with_keys(&report.config, None) {
        Ok(app) => app,
        Err(err) => return fail(&err.to_string()),
    };
    let mut failed = 0;
    let table = app.table();
    let mut providers: Vec<_> = table.providers().collect();
    providers.sort_by_key(|(name, _)| *name);
    for (name, provider) in providers {
        if !provider.supports(Operation::ListModels) {
            println!("probe {name}: skipped (no model-list endpoint)");
            continue;
        }
        let call = UpstreamCall {
            operation: Operation::ListModels,
            model: String::new(),
            stream: false,
            body: Bytes::new(),
            headers: Default::default(),
        };
        let probe = async {
            let mut reply = provider.send(call).await?;
            while let Some(chunk) = reply.body.next().await {
                chunk?;
            }
            Ok::<_, gateway_protocol::GatewayError>(reply.status)
        };
        match tokio::time::timeout(Duration::from_secs(15), probe).await {
            Ok(Ok(status)) => println!("probe {name}: ok ({status})"),
            Ok(Err(err)) => {
                failed += 1;
                println!("probe {name}: FAILED: {}", err.message);
            }
            Err(_) => {
                failed += 1;
                println!("probe {name}: FAILED: no answer within 15 s");
            }
        }
    }
    if failed > 0 {
        println!("config ok; {failed} provider(s) failed the probe");
        return ExitCode::FAILURE;
    }
    println!("config ok; every provider answered");
    ExitCode::SUCCESS
}

/// `patchbay mock`: the mock provider as a standalone HTTP upstream.
pub async fn mock(args: crate::cli::MockArgs) -> ExitCode {
    let server = match gateway_server::mock_server::mock_options(&args.options()) {
        Ok(s) => s,
        Err(err) => return fail(&err),
    };
    let listener = match bind(args.listen).await {
        Ok(l) => l,
        Err(err) => return fail(&err),
    };
    let addr = listener.local_addr().map_or(args.listen, |a| a);
    say(&format!(
        "patchbay mock ({:?}) is listening on http://{addr}\n",
        server.shape
    ));
    match server.serve(listener, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err.to_string()),
    }
}

/// Starts the admin API on its own listener, with the configured token or the one
/// made at first start (printed once).
/// The admin API on its own listener, over the gateway's TLS when it has one.
async fn start_admin(
    config: &Config,
    app: &Arc<App>,
    tls: Option<listen::TlsAcceptor>,
) -> Result<(), String> {
    use gateway_server::admin::{self, AdminToken};
    let token = match (&config.admin.token, &config.admin.token_sha256) {
        (Some(plain), _) => AdminToken::from_plain(plain),
        (None, Some(hex)) => {
            AdminToken::from_sha256_hex(hex).ok_or("admin.token_sha256: must be 64 hex digits")?
        }
        (None, None) => {
            let db = app
                .database_path()
                .ok_or("the admin API needs the database")?
                .to_owned();
            let made = tokio::task::spawn_blocking(move || admin::first_start_token(&db))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("admin token: {e}"))?;
            if let Some(plain) = made.1 {
                say(&format!(
                    "admin token (shown once, stored hashed): {plain}\n"
                ));
            }
            made.0
        }
    };
    // A busy admin port must not keep the gateway itself down: say so and go on.
    let listener = match bind(config.admin.listen).await {
        Ok(l) => l,
        Err(err) => {
            tracing::warn!("admin API not started: {err} (set [admin] listen)");
            return Ok(());
        }
    };
    let addr = listener.local_addr().map_or(config.admin.listen, |a| a);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        "admin API on {scheme}://{addr}/admin/ (OpenAPI: /admin/openapi.json); console at {scheme}://{addr}/"
    );
    // The Tools page edits the config files of the user this process runs as.
    let tools: Arc<dyn admin::ToolHost> = Arc::new(crate::connect::host::LocalTools::new(
        base_url(config),
        None,
    ));
    tokio::spawn(admin::serve(
        app.clone(),
        listener,
        tls,
        token,
        Some(tools),
        shutdown_signal(),
    ));
    Ok(())
}

/// Keys changed by another process (the CLI on the same database) reach this
/// server's cache within a second; changes made through this server reach it at once.
/// The reads run on the key store's own thread (shared with catch-ups for unknown
/// keys), which logs reloads and failures.
async fn refresh_keys(db: Arc<gateway_auth::KeyStore>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match db.catch_up() {
            Some(caught_up) => caught_up.await,
            // An in-memory database: nothing else can change it.
            None => return,
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!("{addr} is already in use: stop the other server or pass --listen ADDR")
        } else {
            format!("cannot listen on {addr}: {e}")
        }
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: no new connections; finishing open requests");
}

/// Prints to stdout; a closed stdout (the reader went away) must not stop a server.
fn say(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn fail(message: &str) -> ExitCode {
    eprintln!("patchbay: {message}");
    ExitCode::FAILURE
}
