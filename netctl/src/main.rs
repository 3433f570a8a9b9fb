//! netctl's entry point. The subcommands need netd's control socket, which
//! arrives with the daemon; until then netctl says so and exits non-zero.

fn main() {
    eprintln!("netctl: netd's control protocol is not available in this build (ss, netstat and sysctl come with it)");
    std::process::exit(2);
}
