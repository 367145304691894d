//! The `callscreen` command: the command line is parsed here and each
//! subcommand handed to `callscreen::commands`; no logic of its own.

use std::process::ExitCode;

use callscreen::cli::{
    ApiCommand, CallsCommand, Cli, Command, ConfigCommand, FleetCommand, ListsCommand,
    RedressCommand,
};
use callscreen::commands::{
    api, calls, check, config, fleet, import, lists, redress, status, tail, top,
};
use clap::Parser;

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run { config, log_format } => callscreen::commands::run(config, log_format),
        Command::Check(a) => check::check(a),
        Command::Tail(a) => tail::tail(&a),
        Command::Top(a) => top::top(&a),
        Command::Redress(RedressCommand::Build { config }) => redress::build(&config),
        Command::Config(ConfigCommand::Check { file }) => config::check(file),
        Command::Api(ApiCommand::HashToken) => api::hash_token(),
        Command::Api(ApiCommand::Keygen { secret_file }) => api::keygen(&secret_file),
        Command::Api(ApiCommand::AddClient {
            name,
            operations,
            lists,
            config,
            token_file,
        }) => api::add_client(&name, &operations, &lists, &config, token_file.as_deref()),
        Command::Lists(ListsCommand::Push {
            name,
            file,
            sign_key,
            allow_shrink,
            api,
        }) => lists::push(&name, &file, sign_key, allow_shrink, &api),
        Command::Lists(ListsCommand::Show {
            api,
            fleet: true,
            json,
        }) => fleet::show(&api, json),
        Command::Lists(ListsCommand::Show {
            api,
            fleet: false,
            json,
        }) => lists::show(&api, json),
        Command::Fleet(FleetCommand::Show { json, api }) => fleet::show(&api, json),
        Command::Status { json, api } => status::status(&api, json),
        Command::Calls(CallsCommand::Find(a)) => calls::find(&a),
        Command::Calls(CallsCommand::Seal {
            dir,
            generation,
            parent,
        }) => calls::seal(&dir, generation, parent),
        Command::Calls(CallsCommand::Export {
            config,
            since,
            until,
            format,
            output,
        }) => calls::export(&config, &since, until.as_deref(), &format, output.as_ref()),
        Command::Lists(ListsCommand::Whatif {
            name,
            file,
            since,
            until,
            json,
            api,
        }) => lists::whatif(&name, &file, &since, until.as_deref(), json, &api),
        Command::Reload { json, api } => status::reload(&api, json),
        Command::Fleet(FleetCommand::Forget { node, api }) => fleet::forget(&node, &api),
        Command::Lists(ListsCommand::Export { name, api }) => lists::export(&name, &api),
        Command::Lists(ListsCommand::Rollback { name, api }) => lists::rollback(&name, &api),
        Command::Lists(ListsCommand::Hits {
            name,
            top,
            since,
            csv,
            fleet,
            api,
        }) => lists::hits(&name, top, since.as_deref(), csv, fleet, &api),
        Command::Lists(ListsCommand::Import(args)) => import::import(&args),
        Command::Lists(ListsCommand::Verify {
            file,
            kind,
            min_prefix_digits,
        }) => lists::verify(&file, &kind, min_prefix_digits),
    }
}
