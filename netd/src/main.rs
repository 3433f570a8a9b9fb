//! netd: the daemon. Owns a TUN device and the stack; serves the control socket.

use clap::{CommandFactory, FromArgMatches, Parser};
use netd::daemon::{self, Options};
use netd_proto::DEFAULT_CONTROL_PATH;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

/// A Linux-style user-space TCP/IP stack on a TUN device.
#[derive(Parser, Debug)]
#[command(name = "netd", version, about)]
struct Cli {
    /// TUN device to create or attach to.
    #[arg(long, default_value = "netd0")]
    tun: String,
    /// The stack's own address, CIDR.
    #[arg(long, default_value = "10.77.0.2/24", value_parser = parse_cidr)]
    address: (Ipv4Addr, u8),
    /// Address given to the kernel side of the TUN device before it comes up, CIDR.
    #[arg(long, default_value = "10.77.0.1/24", value_parser = parse_cidr)]
    host_address: (Ipv4Addr, u8),
    /// Leave the device's addresses and link state to the administrator.
    #[arg(long)]
    no_configure: bool,
    /// Link MTU.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u16).range(576..))]
    mtu: u16,
    /// Control socket path (mode 0660; its directory is created if missing).
    #[arg(long, default_value = DEFAULT_CONTROL_PATH)]
    control: PathBuf,
    /// Tunables in sysctl.conf syntax, applied at start and on SIGHUP (repeatable).
    #[arg(long = "sysctl-file")]
    sysctl_files: Vec<PathBuf>,
    /// What to print on stderr: error, warn or info.
    #[arg(long, default_value = "info", value_parser = ["error", "warn", "info"])]
    log_level: String,
    /// Print the netd(8) man page (roff) and exit; used by dist/install.sh.
    #[arg(long, hide = true)]
    manpage: bool,
}

fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (addr, prefix) = s.split_once('/').unwrap_or((s, "32"));
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("not an IPv4 address: {addr}"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or(format!("bad prefix length: {prefix}"))?;
    Ok((addr, prefix))
}

/// The command with netd(8)'s TUNABLES: every key `netctl sysctl` and the
/// --sysctl-file files take, its default, and what it does in netd.
fn command() -> clap::Command {
    let mut text = String::from(
        "Tunables (netctl sysctl NAME[=VALUE], or --sysctl-file), with netd's defaults:\n",
    );
    for (name, default, description) in netd_core::sysctl::reference() {
        text.push_str(&format!("\n  {name} = {default}\n      {description}\n"));
    }
    Cli::command().after_long_help(text)
}

/// netd(8): clap's sections, then TUNABLES.
fn manpage(w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(Cli::command()).section("8");
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    writeln!(w, ".SH TUNABLES")?;
    writeln!(
        w,
        "Set with \\fBnetctl sysctl -w\\fR or in a \\fB--sysctl-file\\fR; netd's defaults and what each does in netd:"
    )?;
    for (name, default, description) in netd_core::sysctl::reference() {
        writeln!(w, ".TP\n\\fB{name}\\fR = {default}\n{description}")?;
    }
    man.render_version_section(w)
}

fn main() -> ExitCode {
    let cli = match command().try_get_matches() {
        Ok(m) => Cli::from_arg_matches(&m).unwrap_or_else(|e| e.exit()),
        Err(e) => e.exit(),
    };
    if cli.manpage {
        return match manpage(&mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("netd: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let opts = Options {
        tun: cli.tun,
        address: cli.address,
        host_address: cli.host_address,
        configure: !cli.no_configure,
        mtu: cli.mtu,
        control: cli.control,
        sysctl_files: cli.sysctl_files,
        verbose: cli.log_level == "info",
    };
    match daemon::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netd: {e}");
            // EX_CONFIG for configuration errors, so systemd can avoid restart loops.
            ExitCode::from(78)
        }
    }
}
