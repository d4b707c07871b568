//! `ctguard`: the operator CLI for the ctguard API. See `ctguard --help` and the README section
//! "The ctguard CLI".

mod cli;
mod client;
mod commands;
mod config;
mod error;
mod output;
mod sigv4;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command, Shell};
use crate::commands::Out;
use crate::error::{CliError, exit};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            } as u8);
        }
    };
    let out = Out {
        json: cli.global.json,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ctguard: error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::UNAVAILABLE as u8);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::from(exit::OK as u8),
        Err(error) => {
            if !matches!(error, CliError::Reported(_)) {
                if out.json {
                    println!("{}", error.to_json());
                }
                eprintln!("ctguard: error: {error}");
            }
            ExitCode::from(error.exit_code() as u8)
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let out = Out {
        json: cli.global.json,
    };
    if let Command::Completions { shell } = cli.command {
        let shell = match shell {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        };
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "ctguard",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    let g = &cli.global;
    let flags = config::Flags {
        url: g.url.clone(),
        token_file: g.token_file.clone(),
        config: g.config.clone(),
        sigv4: g.sigv4,
        region: g.region.clone(),
        allow_http: g.allow_http,
        timeout_seconds: g.timeout,
    };
    let settings = config::resolve(&flags, &config::process_env)?;
    let api = client::Api::new(settings).await?;
    match cli.command {
        Command::Domains(command) => commands::domains(&api, out, command).await,
        Command::Certs(command) => commands::certs(&api, out, command).await,
        Command::Keys(command) => commands::keys(&api, out, command).await,
        Command::Alerts(args) => commands::alerts(&api, out, args).await,
        Command::Ack(args) => commands::ack(&api, out, args).await,
        Command::Status => commands::status(&api, out).await,
        Command::TestAlert => commands::test_alert(&api, out).await,
        Command::Completions { .. } => Ok(()),
    }
}
