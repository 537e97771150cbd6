//! castbook: parse the command line, then run one headless command or start the terminal app.

use clap::Parser;

use castbook::cli::{self, Cli};

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(async move {
        match cli.command {
            Some(command) => cli::run(cli.library, command).await,
            None => {
                castbook::tui::run(castbook::tui::Options {
                    path: cli.path,
                    theme: cli.theme,
                    library: cli.library,
                })
                .await
            }
        }
    });
    std::process::exit(code);
}
