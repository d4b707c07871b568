//! Running the app: under the Lambda runtime, or on the local listener. `main` only picks one.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use lambda_http::{Request, service_fn};

use crate::app::{App, Store};
use crate::listener;

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
