//! Command line: `api` (run under the Lambda runtime) or `api --listen ADDR` (plain HTTP).

use std::net::SocketAddr;

pub const USAGE: &str = "usage: api [--listen 127.0.0.1:PORT]

Without arguments, serves Lambda Function URL invocations (inside AWS Lambda).
With --listen, serves the same API over plain HTTP on ADDR (port 0 picks a free port;
the bound address is printed on stdout). Configuration comes from the environment
(WATCHES_TABLE, INVENTORY_TABLE, ALERTS_TABLE, AUTH_MODE, API_TOKENS_PARAM or API_TOKENS, ...).";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Lambda,
    Listen(SocketAddr),
    Help,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CliError {
    #[error("--listen needs an address such as 127.0.0.1:8080")]
    MissingAddress,
    #[error("--listen {0:?} is not an IP:PORT address")]
    BadAddress(String),
    #[error("unknown argument {0:?}")]
    Unknown(String),
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Mode, CliError> {
    let mut args = args.into_iter();
    let mut mode = Mode::Lambda;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => return Ok(Mode::Help),
            "--listen" => args.next().ok_or(CliError::MissingAddress)?,
            other => match other.strip_prefix("--listen=") {
                Some(value) => value.to_owned(),
                None => return Err(CliError::Unknown(arg)),
            },
        };
        mode = Mode::Listen(value.parse().map_err(|_| CliError::BadAddress(value))?);
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_modes() {
        assert_eq!(parse(args(&[])).unwrap(), Mode::Lambda);
        assert_eq!(
            parse(args(&["--listen", "127.0.0.1:0"])).unwrap(),
            Mode::Listen("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            parse(args(&["--listen=[::1]:8080"])).unwrap(),
            Mode::Listen("[::1]:8080".parse().unwrap())
        );
        assert_eq!(parse(args(&["--help"])).unwrap(), Mode::Help);
    }

    #[test]
    fn rejects_bad_arguments() {
        assert_eq!(parse(args(&["--listen"])), Err(CliError::MissingAddress));
        assert_eq!(
            parse(args(&["--listen", "localhost"])),
            Err(CliError::BadAddress("localhost".into()))
        );
        assert_eq!(
            parse(args(&["--port"])),
            Err(CliError::Unknown("--port".into()))
        );
    }
}
