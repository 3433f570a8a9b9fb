//! netctl: `ss`, `netstat`, `nstat` and `sysctl` for netd, over its control
//! socket, with the output formats of the Linux tools.

use clap::{Args, CommandFactory, Parser, Subcommand};
use netctl::*;
use netd_proto::client::ControlClient;
use netd_proto::sysctl_conf::{self, Line};
use netd_proto::{Counter, Request, Response, SockInfo, DEFAULT_CONTROL_PATH};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Inspect and tune netd the way ss, netstat, nstat and sysctl inspect and tune Linux.
#[derive(Parser, Debug)]
#[command(name = "netctl", version, about, propagate_version = true)]
struct Cli {
    /// netd's control socket.
    #[arg(long, global = true, env = "NETD_SOCKET", default_value = DEFAULT_CONTROL_PATH)]
    control: PathBuf,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Socket statistics, as iproute2's ss.
    Ss(SsArgs),
    /// Connections and protocol statistics, as net-tools' netstat.
    Netstat(NetstatArgs),
    /// Counters by /proc name, as iproute2's nstat.
    Nstat(NstatArgs),
    /// Read and change tunables, as procps' sysctl (what each does in netd: netd(8), TUNABLES).
    Sysctl(SysctlArgs),
    /// Re-read netd's --sysctl-file files now (as SIGHUP does).
    Reload,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the netctl(8) man page (roff).
    Manpage,
}

#[derive(Args, Debug)]
struct SsArgs {
    /// TCP sockets.
    #[arg(short = 't', long)]
    tcp: bool,
    /// UDP sockets.
    #[arg(short = 'u', long)]
    udp: bool,
    /// Listening sockets only.
    #[arg(short = 'l', long)]
    listening: bool,
    /// All sockets.
    #[arg(short = 'a', long)]
    all: bool,
    /// Numeric ports (otherwise named from /etc/services, as ss does; addresses stay numeric).
    #[arg(short = 'n', long)]
    numeric: bool,
    /// Timer information.
    #[arg(short = 'o', long)]
    options: bool,
    /// Summary.
    #[arg(short = 's', long)]
    summary: bool,
    /// The processes holding each socket.
    #[arg(short = 'p', long)]
    processes: bool,
    /// TCP internals (congestion control, RTT, windows, counters).
    #[arg(short = 'i', long)]
    info: bool,
    /// Extended details: uid, inode, socket id.
    #[arg(short = 'e', long)]
    extended: bool,
    /// No header line.
    #[arg(short = 'H', long = "no-header")]
    no_header: bool,
    /// Filter: `state NAME`, `exclude NAME`, `sport = :PORT`, `dport = :PORT`.
    filter: Vec<String>,
}

#[derive(Args, Debug)]
struct NetstatArgs {
    /// Protocol statistics.
    #[arg(short = 's', long)]
    statistics: bool,
    /// TCP.
    #[arg(short = 't', long)]
    tcp: bool,
    /// UDP.
    #[arg(short = 'u', long)]
    udp: bool,
    /// Listening and non-listening sockets.
    #[arg(short = 'a', long)]
    all: bool,
    /// Listening sockets only.
    #[arg(short = 'l', long)]
    listening: bool,
    /// Numeric addresses (always on).
    #[arg(short = 'n', long)]
    numeric: bool,
}

#[derive(Args, Debug)]
struct NstatArgs {
    /// Absolute values, not increments since the last run.
    #[arg(short = 'a', long)]
    absolute: bool,
    /// Do not update the history file.
    #[arg(short = 's', long = "no-update")]
    no_update: bool,
    /// Show zero counters too.
    #[arg(short = 'z', long)]
    zeros: bool,
    /// Counter name patterns (shell-style).
    patterns: Vec<String>,
}

#[derive(Args, Debug)]
struct SysctlArgs {
    /// Print values only.
    #[arg(short = 'n', long)]
    values: bool,
    /// Print every tunable.
    #[arg(short = 'a', long)]
    all: bool,
    /// Arguments are NAME=VALUE assignments.
    #[arg(short = 'w', long)]
    write: bool,
    /// Load settings from a file (default /etc/netd/sysctl.conf).
    #[arg(short = 'p', long, num_args = 0..=1, default_missing_value = "/etc/netd/sysctl.conf")]
    load: Option<PathBuf>,
    /// Load netd's sysctl.d directories, as sysctl --system.
    #[arg(long)]
    system: bool,
    /// Ignore unknown keys.
    #[arg(short = 'e', long)]
    ignore: bool,
    /// Do not echo values set.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// NAME or NAME=VALUE.
    args: Vec<String>,
}

fn connect(path: &Path) -> Result<ControlClient, String> {
    ControlClient::connect(path, "netctl").map_err(|e| e.to_string())
}

fn call(c: &mut ControlClient, req: Request) -> Result<Response, String> {
    c.request(&req).map_err(|e| e.to_string())
}

fn sockets(c: &mut ControlClient, processes: bool) -> Result<Vec<SockInfo>, String> {
    c.sockets(processes).map_err(|e| e.to_string())
}

fn counters(c: &mut ControlClient) -> Result<Vec<Counter>, String> {
    match call(c, Request::Counters)? {
        Response::Counters(s) => Ok(s),
        other => Err(format!("unexpected reply {other:?}")),
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.cmd {
        Cmd::Ss(a) => ss(&cli, a),
        Cmd::Netstat(a) => netstat(&cli, a),
        Cmd::Nstat(a) => nstat(&cli, a),
        Cmd::Sysctl(a) => return sysctl(&cli, a),
        Cmd::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "netctl",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Cmd::Manpage => clap_mangen::Man::new(Cli::command())
            .section("8")
            .render(&mut std::io::stdout())
            .map_err(|e| e.to_string()),
        Cmd::Reload => {
            connect(&cli.control).and_then(|mut c| match call(&mut c, Request::Reload)? {
                Response::Ok => Ok(()),
                Response::Error { message, .. } => Err(message),
                other => Err(format!("unexpected reply {other:?}")),
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netctl: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What `ss`'s filter expression selects (`ss state established sport :22`):
/// states wanted and excluded, and ports.
#[derive(Default)]
struct SsFilter {
    states: Option<Vec<u8>>,
    excluded: Vec<u8>,
    sport: Option<u16>,
    dport: Option<u16>,
}

impl SsFilter {
    fn parse(words: &[String]) -> Result<SsFilter, String> {
        let mut f = SsFilter::default();
        let mut it = words
            .iter()
            .map(String::as_str)
            .filter(|t| !matches!(*t, "(" | ")" | "or" | "and"));
        while let Some(tok) = it.next() {
            match tok {
                "state" | "exclude" => {
                    let name = it.next().ok_or("ss: missing state name")?;
                    let set = ss_state_set(name)
                        .ok_or_else(|| format!("ss: wrong state name: {name}"))?;
                    if tok == "state" {
                        f.states.get_or_insert_with(Vec::new).extend(set);
                    } else {
                        f.excluded.extend(set);
                    }
                }
                "sport" | "dport" => {
                    let mut v = it.next().ok_or("ss: missing port")?;
                    if matches!(v, "=" | "==" | "eq") {
                        v = it.next().ok_or("ss: missing port")?;
                    }
                    let port: u16 = v
                        .trim_start_matches(':')
                        .parse()
                        .map_err(|_| format!("ss: bad port {v}"))?;
                    if tok == "sport" {
                        f.sport = Some(port);
                    } else {
                        f.dport = Some(port);
                    }
                }
                other => return Err(format!("ss: unknown filter: {other}")),
            }
        }
        Ok(f)
    }
}

/// ss's default selection: everything but LISTEN, UNCONN, TIME-WAIT and SYN-RECV.
fn ss(cli: &Cli, a: &SsArgs) -> Result<(), String> {
    let f = SsFilter::parse(&a.filter)?;
    let default: Vec<u8> = if a.all {
        (1..=11).collect()
    } else if a.listening {
        vec![10, 7]
    } else {
        vec![1, 2, 4, 5, 8, 9, 11]
    };
    let wanted: Vec<u8> = f.states.clone().unwrap_or(default);
    let mut c = connect(&cli.control)?;
    if a.summary {
        // /proc/net/sockstat's counts, as ss reads them: never the table.
        return match call(&mut c, Request::SockStat)? {
            Response::SockStat(st) => {
                print!("{}", render_ss_summary(&st));
                Ok(())
            }
            other => Err(format!("unexpected reply {other:?}")),
        };
    }
    let all = sockets(&mut c, a.processes)?;
    let both = a.tcp == a.udp;
    let mut rows: Vec<SockInfo> = all
        .into_iter()
        .filter(|r| both || (a.tcp && r.proto == "tcp") || (a.udp && r.proto == "udp"))
        .filter(|r| wanted.contains(&r.state) && !f.excluded.contains(&r.state))
        .filter(|r| f.sport.is_none_or(|p| r.local.port == p))
        .filter(|r| f.dport.is_none_or(|p| r.peer.port == p))
        .collect();
    rows.sort_by_key(|r| {
        (
            r.proto.clone(),
            std::cmp::Reverse(r.state == 10),
            r.local.ip,
            r.local.port,
            r.peer.port,
        )
    });
    if cli.json {
        println!("{}", json(&rows));
        return Ok(());
    }
    // One state selected drops the State column; -l selects LISTEN and UNCONN, so it stays (ss -lnt capture).
    let single_state = wanted.len() == 1;
    let view = SsView {
        netid: both,
        state: !single_state,
        header: !a.no_header,
        timers: a.options,
        processes: a.processes,
        info: a.info,
        details: a.extended,
        services: if a.numeric {
            Default::default()
        } else {
            services(&mut c)
        },
    };
    print!("{}", render_ss_width(&rows, &view, terminal_width()));
    Ok(())
}

/// Port names from /etc/services; ss never names ports in the ephemeral
/// range, which is netd's own here.
fn services(c: &mut ControlClient) -> std::collections::HashMap<(String, u16), String> {
    let get = Request::SysctlGet {
        name: "net.ipv4.ip_local_port_range".into(),
    };
    let range = match call(c, get) {
        Ok(Response::Value(v)) => {
            let mut it = v.split_whitespace().filter_map(|x| x.parse::<u16>().ok());
            (it.next().unwrap_or(32768), it.next().unwrap_or(60999))
        }
        _ => (32768, 60999),
    };
    let text = std::fs::read_to_string("/etc/services").unwrap_or_default();
    parse_services(&text, range)
}

/// The terminal's width when stdout is one (ss spreads columns over it).
fn terminal_width() -> Option<usize> {
    // SAFETY: isatty and TIOCGWINSZ only read stdout's state into a local struct.
    unsafe {
        if libc::isatty(libc::STDOUT_FILENO) != 1 {
            return None;
        }
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
            return Some(usize::from(ws.ws_col));
        }
    }
    None
}

fn netstat(cli: &Cli, a: &NetstatArgs) -> Result<(), String> {
    let mut c = connect(&cli.control)?;
    if a.statistics {
        let cs = counters(&mut c)?;
        if cli.json {
            println!("{}", json(&cs));
        } else {
            print!("{}", render_netstat_s(&cs));
        }
        return Ok(());
    }
    let both = a.tcp == a.udp;
    let rows: Vec<SockInfo> = sockets(&mut c, false)?
        .into_iter()
        .filter(|r| both || (a.tcp && r.proto == "tcp") || (a.udp && r.proto == "udp"))
        .filter(|r| {
            let server = r.state == 10 || (r.proto == "udp" && r.state == 7);
            if a.listening {
                server
            } else {
                a.all || !server
            }
        })
        .collect();
    if cli.json {
        println!("{}", json(&rows));
        return Ok(());
    }
    let title = if a.listening {
        "only servers"
    } else if a.all {
        "servers and established"
    } else {
        "w/o servers"
    };
    print!("{}", render_netstat(&rows, title));
    Ok(())
}

/// nstat's history: $NSTAT_HISTORY or /tmp/.nstat.u<uid>, one "name value" per line.
fn nstat_history() -> PathBuf {
    std::env::var_os("NSTAT_HISTORY")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let uid = std::fs::metadata("/proc/self")
                .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
                .unwrap_or(0);
            PathBuf::from(format!("/tmp/.nstat.u{uid}"))
        })
}

fn nstat(cli: &Cli, a: &NstatArgs) -> Result<(), String> {
    let mut c = connect(&cli.control)?;
    let now: Vec<(String, i64)> = counters(&mut c)?
        .iter()
        .map(|c| (nstat_name(c), c.value))
        .filter(|(n, _)| !nstat_useless(n))
        .collect();
    let hist_path = nstat_history();
    let history: std::collections::HashMap<String, i64> = std::fs::read_to_string(&hist_path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            Some((p.next()?.to_string(), p.next()?.parse().ok()?))
        })
        .collect();
    let shown: Vec<(String, i64)> = now
        .iter()
        .map(|(n, v)| {
            (
                n.clone(),
                if a.absolute {
                    *v
                } else {
                    v - history.get(n).copied().unwrap_or(0)
                },
            )
        })
        .filter(|(n, v)| {
            (a.zeros || *v != 0) && (a.patterns.is_empty() || a.patterns.iter().any(|p| glob(p, n)))
        })
        .collect();
    if !a.no_update {
        let text: String = now.iter().map(|(n, v)| format!("{n} {v}\n")).collect();
        let _ = std::fs::write(&hist_path, text);
    }
    if cli.json {
        let map: std::collections::BTreeMap<_, _> = shown.into_iter().collect();
        println!("{}", json(&map));
        return Ok(());
    }
    println!("#kernel");
    for (n, v) in shown {
        println!("{}", nstat_line(&n, v));
    }
    Ok(())
}

/// procps sysctl: messages on stderr prefixed "sysctl: ", exit 1 if anything failed.
fn sysctl(cli: &Cli, a: &SysctlArgs) -> ExitCode {
    let c = match connect(&cli.control) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sysctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut run = SysctlRun {
        c,
        a,
        json: cli.json,
        json_out: Vec::new(),
        failed: false,
    };
    if a.all {
        run.all();
    }
    let mut files: Vec<PathBuf> = a.load.iter().cloned().collect();
    if a.system {
        files.extend(system_files());
    }
    for f in &files {
        run.load(f);
    }
    for arg in &a.args {
        run.arg(arg);
    }
    if cli.json {
        let map: std::collections::BTreeMap<_, _> = run.json_out.into_iter().collect();
        println!("{}", json(&map));
    }
    if run.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The files `sysctl --system` reads, in order: netd's sysctl.d
/// directories (`*.conf`, sorted), then /etc/netd/sysctl.conf.
fn system_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [
        "/usr/lib/netd/sysctl.d",
        "/run/netd/sysctl.d",
        "/etc/netd/sysctl.d",
    ] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            let mut names: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            names.sort();
            files.extend(names);
        }
    }
    let main = PathBuf::from("/etc/netd/sysctl.conf");
    if main.exists() {
        files.push(main);
    }
    files
}

/// One `netctl sysctl` run: the connection, the options, what it printed
/// for --json, and whether anything failed (procps exits 1 then).
struct SysctlRun<'a> {
    c: ControlClient,
    a: &'a SysctlArgs,
    json: bool,
    json_out: Vec<(String, String)>,
    failed: bool,
}

impl SysctlRun<'_> {
    fn show(&mut self, k: &str, v: &str) {
        if self.json {
            self.json_out.push((k.to_string(), v.to_string()));
        } else if self.a.values {
            println!("{v}");
        } else {
            println!("{k} = {v}");
        }
    }

    /// `sysctl -a`.
    fn all(&mut self) {
        match call(&mut self.c, Request::SysctlAll) {
            Ok(Response::Sysctl(kv)) => kv.iter().for_each(|(k, v)| self.show(k, v)),
            _ => self.failed = true,
        }
    }

    /// One `key=value` (`-w`, `-p`); false if it failed.
    fn set(&mut self, key: &str, value: &str, ignore_failure: bool) -> bool {
        let req = Request::SysctlSet {
            name: key.into(),
            value: value.into(),
        };
        match call(&mut self.c, req) {
            Ok(Response::Ok) => {
                if !self.a.quiet {
                    self.show(key, value);
                }
                true
            }
            Ok(Response::Error { errno, message }) => {
                if errno == 2 && self.a.ignore && message.starts_with("cannot stat") {
                    return true;
                }
                if ignore_failure {
                    // The newer procps wording for a `-` line: reported, not fatal.
                    let what = message.rsplit(": ").next().unwrap_or(&message);
                    eprintln!("sysctl: setting key \"{key}\", ignoring: {what}");
                    return true;
                }
                eprintln!("sysctl: {message}");
                false
            }
            Ok(other) => {
                eprintln!("sysctl: unexpected reply {other:?}");
                false
            }
            Err(e) => {
                eprintln!("sysctl: {e}");
                false
            }
        }
    }

    /// `sysctl -p FILE` (`-` is stdin), as procps reads it.
    fn load(&mut self, f: &std::path::Path) {
        let text = if f.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).unwrap_or_default()
        } else {
            match std::fs::read_to_string(f) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!(
                        "sysctl: cannot open \"{}\": {}",
                        f.display(),
                        netd_proto::Errno::from_code(e.raw_os_error().unwrap_or(2))
                            .map_or("No such file or directory", |e| e.message())
                    );
                    self.failed = true;
                    return;
                }
            }
        };
        if self.a.system {
            println!("* Applying {} ...", f.display());
        }
        let lines = sysctl_conf::parse(&text);
        for l in &lines {
            if let Line::InvalidSyntax(n) = l {
                eprintln!(
                    "sysctl: {}({n}): invalid syntax, continuing...",
                    f.display()
                );
            }
        }
        for l in lines {
            if let Line::Setting(s) = l {
                self.failed |= !self.set(&s.key, &s.value, s.ignore_failure);
            }
        }
    }

    /// A command-line argument: `name=value` sets, `name` reads.
    fn arg(&mut self, arg: &str) {
        match arg.split_once('=') {
            Some((k, v)) => self.failed |= !self.set(k.trim(), v.trim(), false),
            None if self.a.write => {
                eprintln!("sysctl: \"{arg}\" must be of the form name=value");
                self.failed = true;
            }
            None => match call(&mut self.c, Request::SysctlGet { name: arg.into() }) {
                Ok(Response::Value(v)) => self.show(&arg.replace('/', "."), &v),
                Ok(Response::Error { message, errno }) => {
                    if !(errno == 2 && self.a.ignore) {
                        eprintln!("sysctl: {message}");
                        self.failed = true;
                    }
                }
                Ok(other) => {
                    eprintln!("sysctl: unexpected reply {other:?}");
                    self.failed = true;
                }
                Err(e) => {
                    eprintln!("sysctl: {e}");
                    self.failed = true;
                }
            },
        }
    }
}
