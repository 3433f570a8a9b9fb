//! The TUN device: created (or attached to) by name, without packet-info
//! headers, non-blocking. With `configure`, the kernel side gets the host
//! address and the link comes up, as `ip addr add` + `ip link set up` would.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};

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
        Ok(Tun { dev })
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
