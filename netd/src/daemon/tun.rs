//! The TUN device: created (or attached to) by name, without packet-info
//! headers, non-blocking. With `configure`, the kernel side gets the host
//! address and the link comes up, as `ip addr add` + `ip link set up` would.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};

/// `_IOW('T', 208, unsigned int)` from linux/if_tun.h.
const TUNSETOFFLOAD: nix::libc::c_ulong = 0x4004_54d0;
/// Bursts of a whole congestion window must not be dropped at the device
/// (the default for TUN is 500).
const TXQUEUELEN: i32 = 10_000;

/// SIOCSIFTXQLEN through an AF_INET socket, as `ip link set txqueuelen` does.
fn set_txqueuelen(name: &str, qlen: i32) -> Result<(), String> {
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        qlen: i32,
        _pad: [u8; 20],
    }
    let mut req = IfReq {
        name: [0; 16],
        qlen,
        _pad: [0; 20],
    };
    let bytes = name.as_bytes();
    let n = bytes.len().min(15);
    req.name[..n].copy_from_slice(&bytes[..n]);
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| format!("socket: {e}"))?;
    // SAFETY: SIOCSIFTXQLEN reads a struct ifreq we own for the call.
    let r = unsafe { nix::libc::ioctl(sock.as_raw_fd(), nix::libc::SIOCSIFTXQLEN, &mut req) };
    if r < 0 {
        return Err(format!(
            "cannot set txqueuelen on {name}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

pub struct Tun {
    dev: tun::Device,
}

pub struct TunConfig<'a> {
    pub name: &'a str,
    pub mtu: u16,
    /// Kernel-side address and prefix length, when netd configures the link.
    pub host: Option<(Ipv4Addr, u8)>,
}

fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix.min(32)))
            .unwrap_or(0),
    )
}

impl Tun {
    pub fn open(cfg: &TunConfig) -> Result<Tun, String> {
        let mut c = tun::Configuration::default();
        c.tun_name(cfg.name).mtu(cfg.mtu);
        // The crate opens the device with IFF_NO_PI: packets are bare IPv4. It
        // configures addresses and link state only with ensure_root_privileges;
        // without --configure an unprivileged netd may attach to a persistent
        // device it owns (tun_permitted() in drivers/net/tun.c).
        let configure = cfg.host.is_some();
        c.platform_config(move |p| {
            p.ensure_root_privileges(configure);
        });
        if let Some((addr, prefix)) = cfg.host {
            c.address(addr).netmask(netmask(prefix)).up();
        }
        let dev = tun::create(&c).map_err(|e| {
            format!(
                "cannot open TUN device {}: {e} (creating a TUN device needs CAP_NET_ADMIN and /dev/net/tun)",
                cfg.name
            )
        })?;
        dev.set_nonblock()
            .map_err(|e| format!("cannot make {} non-blocking: {e}", cfg.name))?;
        let tun = Tun { dev };
        // A reused device keeps its last owner's offload flags: clear them, as
        // netd neither sends nor accepts offloaded (GSO/checksum-partial) packets.
        // SAFETY: TUNSETOFFLOAD takes an unsigned long by value on our own fd.
        let r =
            unsafe { nix::libc::ioctl(tun.as_raw_fd(), TUNSETOFFLOAD, 0 as nix::libc::c_ulong) };
        if r < 0 {
            return Err(format!(
                "cannot clear offloads on {}: {}",
                cfg.name,
                std::io::Error::last_os_error()
            ));
        }
        if cfg.host.is_some() {
            set_txqueuelen(cfg.name, TXQUEUELEN)?;
        }
        Ok(tun)
    }

    pub fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.dev.recv(buf)
    }

    pub fn send(&self, pkt: &[u8]) -> std::io::Result<usize> {
        self.dev.send(pkt)
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.dev.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn netmask_from_prefix() {
        assert_eq!(
            super::netmask(24),
            std::net::Ipv4Addr::new(255, 255, 255, 0)
        );
        assert_eq!(super::netmask(0), std::net::Ipv4Addr::UNSPECIFIED);
        assert_eq!(super::netmask(32), std::net::Ipv4Addr::BROADCAST);
    }
}
