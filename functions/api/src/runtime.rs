//! Running the app: under the Lambda runtime, or on the local listener. `main` only picks one.

use std::convert::Infallible;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use lambda_http::{Request, service_fn};

use crate::app::{App, Store};
use crate::listener;

/// Logs as JSON inside Lambda (CloudWatch), human-readable elsewhere; `RUST_LOG` filters.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        builder
            .json()
            .with_current_span(false)
            .without_time()
            .with_ansi(false)
            .init();
    } else {
        // Colours only on a terminal: logs redirected to a file stay plain text.
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// Serves Function URL invocations until the runtime stops us.
pub async fn run_lambda<S: Store>(app: Arc<App<S>>) -> Result<(), lambda_http::Error> {
    lambda_http::run(service_fn(move |request: Request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(app.handle(request).await) }
    }))
    .await
}

/// Serves plain HTTP on `addr`, printing `listening on http://ADDR` on stdout once bound.
pub async fn run_listener<S: Store>(app: Arc<App<S>>, addr: SocketAddr) -> std::io::Result<()> {
    let (tcp, bound) = listener::bind(addr).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{bound}")?;
    stdout.flush()?;
    tracing::info!(%bound, "local listener ready");
    tokio::select! {
        () = listener::serve(tcp, app) => Ok(()),
        signal = tokio::signal::ctrl_c() => signal,
    }
}
