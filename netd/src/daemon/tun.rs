//! The TUN device: created (or attached to) by name, without packet-info
//! headers, non-blocking, with a virtio-net header on every packet
//! (IFF_VNET_HDR) so 64 KB TCP super-segments cross it in one read or write
//! with their checksums left to the other side, as between the kernel and a
//! virtio NIC. With `configure`, the kernel side gets the host address and
//! the link comes up, as `ip addr add` + `ip link set up` would.

use netd_core::ip::TxPacket;
use std::io::IoSlice;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// `_IOW('T', 208, unsigned int)` from linux/if_tun.h.
const TUNSETOFFLOAD: nix::libc::c_ulong = 0x4004_54d0;
/// `_IOW('T', 216, int)`: the virtio-net header size, kept by a persistent device.
const TUNSETVNETHDRSZ: nix::libc::c_ulong = 0x4004_54d8;
/// TUNSETOFFLOAD flags: the kernel may hand us checksum-partial packets and
/// TCPv4 GSO super-segments (it then turns on NETIF_F_HW_CSUM | NETIF_F_TSO
/// for the device).
const TUN_F_CSUM: nix::libc::c_ulong = 0x01;
const TUN_F_TSO4: nix::libc::c_ulong = 0x02;

/// `struct virtio_net_hdr` (linux/virtio_net.h), 10 bytes, native byte order
/// (legacy virtio on a little-endian host, which is what TUN uses by default).
pub const VNET_HDR_LEN: usize = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_F_DATA_VALID: u8 = 2;
const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
/// Largest IP packet netd sends as one TSO super-segment (IPv4's total length).
pub const TSO_MAX: usize = 65_535;

/// What a virtio-net header said about a packet read from the device.
#[derive(Clone, Copy, Debug, Default)]
pub struct RxInfo {
    /// The kernel vouches for the transport checksum: CHECKSUM_PARTIAL from a
    /// local sender (NEEDS_CSUM) or already verified (DATA_VALID).
    pub csum_ok: bool,
}

fn vnet_header(p: &TxPacket) -> [u8; VNET_HDR_LEN] {
    let mut h = [0u8; VNET_HDR_LEN];
    let ihl = p.data.first().map_or(20, |b| u16::from(b & 0x0f) * 4);
    if p.csum_partial {
        h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h[6..8].copy_from_slice(&ihl.to_ne_bytes()); // csum_start
        h[8..10].copy_from_slice(&16u16.to_ne_bytes()); // csum_offset: TCP check
    }
    if p.gso_size > 0 {
        h[1] = VIRTIO_NET_HDR_GSO_TCPV4;
        h[2..4].copy_from_slice(&p.hdr_len.to_ne_bytes());
        h[4..6].copy_from_slice(&p.gso_size.to_ne_bytes());
    } else {
        h[1] = VIRTIO_NET_HDR_GSO_NONE;
    }
    h
}
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
    /// TUNSETOFFLOAD took CSUM|TSO4: super-segments and partial checksums
    /// cross the device. Otherwise netd segments and sums in software.
    pub offloads: bool,
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
            p.vnet_hdr(true);
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
        let mut tun = Tun {
            dev,
            offloads: false,
        };
        // A reused device keeps its last owner's header size and offload
        // flags: set both explicitly.
        let hdr_sz: nix::libc::c_int = VNET_HDR_LEN as nix::libc::c_int;
        // SAFETY: TUNSETVNETHDRSZ reads an int we own for the call.
        if unsafe { nix::libc::ioctl(tun.as_raw_fd(), TUNSETVNETHDRSZ, &hdr_sz) } < 0 {
            return Err(format!(
                "cannot set the virtio-net header size on {}: {}",
                cfg.name,
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: TUNSETOFFLOAD takes an unsigned long by value on our own fd.
        let set = |flags: nix::libc::c_ulong| unsafe {
            nix::libc::ioctl(tun.as_raw_fd(), TUNSETOFFLOAD, flags)
        };
        if set(TUN_F_CSUM | TUN_F_TSO4) == 0 {
            tun.offloads = true;
        } else if set(0) < 0 {
            return Err(format!(
                "cannot set offloads on {}: {}",
                cfg.name,
                std::io::Error::last_os_error()
            ));
        }
        if cfg.host.is_some() {
            set_txqueuelen(cfg.name, TXQUEUELEN)?;
        }
        Ok(tun)
    }

    /// One packet into `buf`: (offset of the IP packet, its end, what the
    /// virtio-net header said). `buf` must hold a 64 KB super-segment.
    pub fn recv(&self, buf: &mut [u8]) -> std::io::Result<(usize, usize, RxInfo)> {
        let n = self.dev.recv(buf)?;
        if n < VNET_HDR_LEN {
            return Err(std::io::Error::from(std::io::ErrorKind::InvalidData));
        }
        let flags = buf[0];
        let info = RxInfo {
            csum_ok: flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID) != 0,
        };
        Ok((VNET_HDR_LEN, n, info))
    }

    /// Write one packet behind its virtio-net header, in one writev().
    pub fn send(&self, pkt: &TxPacket) -> std::io::Result<usize> {
        let hdr = vnet_header(pkt);
        // SAFETY: the Tun owns this fd for its lifetime.
        let fd = unsafe { BorrowedFd::borrow_raw(self.as_raw_fd()) };
        nix::sys::uio::writev(fd, &[IoSlice::new(&hdr), IoSlice::new(&pkt.data)])
            .map_err(std::io::Error::from)
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
