//! castbook: parse the command line, then run one headless command or start the terminal app.

use clap::Parser;

use castbook::cli::{self, Cli};

fn main() {
    let cli = Cli::parse();
    if cli.command.is_none()
        && let Some(word) = cli.path.as_deref().and_then(|p| p.to_str())
        && !word.contains('/')
        && std::fs::symlink_metadata(word).is_err()
        && let Some(meant) = cli::args::suggest_command(word)
    {
        eprintln!(
            "error: unknown command '{}': did you mean '{meant}'?\n\nFor more information, try 'castbook --help'.",
            castbook::util::escape_display(word)
        );
        std::process::exit(2);
    }
    if !matches!(cli.command, Some(cli::Command::Completions { .. })) {
        // Downloads of runs that were killed (`probe URL` keeps them outside any library).
        castbook::pipeline::fetch::clean_scratch();
    }
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
