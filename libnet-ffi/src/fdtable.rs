//! libnet's descriptors: what it knows of each, keyed by the socketpair
//! end's (device, inode), so dup()ed and inherited descriptors find the
//! same entry.

use libc::c_int;
use netd_proto::SockRef;
use std::collections::{HashMap, HashSet};
use std::os::fd::{IntoRawFd, OwnedFd};
use std::sync::Mutex;

/// What libnet knows about one of its descriptors.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub sock: SockRef,
    pub stream: bool,
    /// connect() was called or the socket came from accept().
    pub connected: bool,
    pub listening: bool,
    /// shutdown(SHUT_RD) on a socket that was not connected (or on UDP):
    /// Linux says ENOTCONN but records it in `sk_shutdown`, and a recv()
    /// that finds nothing queued then returns 0, even after a later connect.
    pub rcv_shut: bool,
    /// The same for SHUT_WR: send() then fails with EPIPE.
    pub snd_shut: bool,
}

impl Entry {
    /// A socket as netd created it: unconnected, nothing shut.
    pub fn new(sock: SockRef, stream: bool) -> Entry {
        Entry {
            sock,
            stream,
            connected: false,
            listening: false,
            rcv_shut: false,
            snd_shut: false,
        }
    }
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

/// The table is not pruned below this many entries.
const PRUNE_MIN: usize = 1024;

/// libnet's sockets by (device, inode). close() cannot drop an entry (a
/// dup()ed descriptor may still use it), so entries of sockets the process
/// no longer holds are pruned against /proc/self/fd whenever the table has
/// doubled since the last prune: amortised O(1) per socket, and a server
/// that accepts forever keeps a table the size of its open sockets.
struct Table {
    map: HashMap<(u64, u64), Entry>,
    prune_at: usize,
}

impl Default for Table {
    fn default() -> Table {
        Table {
            map: HashMap::new(),
            prune_at: PRUNE_MIN,
        }
    }
}

impl Table {
    fn insert(&mut self, k: (u64, u64), e: Entry) {
        self.map.insert(k, e);
        if self.map.len() >= self.prune_at {
            if let Some(held) = held_socket_inodes() {
                self.map.retain(|(_, ino), _| held.contains(ino));
            }
            self.prune_at = (2 * self.map.len()).max(PRUNE_MIN);
        }
    }
}

fn with_table<R>(f: impl FnOnce(&mut Table) -> R) -> R {
    let mut t = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    f(t.get_or_insert_with(Table::default))
}

/// Inodes of the sockets this process has descriptors for ("socket:[N]"
/// links in /proc/self/fd); None if /proc cannot be read, so nothing is pruned.
fn held_socket_inodes() -> Option<HashSet<u64>> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    Some(
        dir.flatten()
            .filter_map(|ent| {
                let target = std::fs::read_link(ent.path()).ok()?;
                target
                    .to_str()?
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse()
                    .ok()
            })
            .collect(),
    )
}

/// A descriptor's (device, inode); EBADF if it is no open descriptor.
pub fn key(fd: c_int) -> Result<(u64, u64), c_int> {
    // SAFETY: fstat writes into a local stat buffer, which all-zero bytes
    // initialise validly.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `st` outlives the call.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(libc::EBADF);
    }
    Ok((st.st_dev, st.st_ino))
}

/// The entry of a libnet descriptor; ENOTSOCK for any other descriptor.
pub fn lookup(fd: c_int) -> Result<Entry, c_int> {
    lookup_key(fd).map(|(_, e)| e)
}

/// The entry and its (device, inode) key.
pub fn lookup_key(fd: c_int) -> Result<((u64, u64), Entry), c_int> {
    let k = key(fd)?;
    with_table(|t| t.map.get(&k).map(|e| (k, *e))).ok_or(libc::ENOTSOCK)
}

pub fn update(fd: c_int, f: impl FnOnce(&mut Entry)) {
    if let Ok(k) = key(fd) {
        with_table(|t| t.map.get_mut(&k).map(f));
    }
}

pub fn register(fd: c_int, e: Entry) -> Result<(), c_int> {
    register_key(key(fd)?, e);
    Ok(())
}

pub fn register_key(k: (u64, u64), e: Entry) {
    with_table(|t| t.insert(k, e));
}

/// Drop every entry of netd's socket `sock` (its socketpair was replaced).
pub fn forget(sock: SockRef) {
    with_table(|t| t.map.retain(|_, v| v.sock != sock));
}

/// Install a descriptor received from netd with the caller's flags.
pub fn adopt(fd: OwnedFd, flags: c_int) -> Result<c_int, c_int> {
    let raw = fd.into_raw_fd();
    // SAFETY: plain fcntl calls on a descriptor we own.
    unsafe {
        if flags & libc::SOCK_NONBLOCK != 0 {
            let fl = libc::fcntl(raw, libc::F_GETFL);
            libc::fcntl(raw, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        if flags & libc::SOCK_CLOEXEC == 0 {
            // Received with MSG_CMSG_CLOEXEC so no exec() can race us; clear it as asked.
            libc::fcntl(raw, libc::F_SETFD, 0);
        }
    }
    Ok(raw)
}

pub fn is_nonblocking(fd: c_int) -> bool {
    // SAFETY: F_GETFL reads descriptor flags.
    unsafe { libc::fcntl(fd, libc::F_GETFL) & libc::O_NONBLOCK != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// Sockets the process closed leave the table once it has doubled;
    /// sockets it still holds stay.
    #[test]
    fn the_table_forgets_sockets_the_process_no_longer_holds() {
        let entry = Entry::new(SockRef { id: 1, token: 1 }, true);
        let mut table = Table::default();
        let mut kept = Vec::new();
        for i in 0..2 * PRUNE_MIN {
            let (a, _b) = nix::sys::socket::socketpair(
                nix::sys::socket::AddressFamily::Unix,
                nix::sys::socket::SockType::Stream,
                None,
                nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            )
            .unwrap();
            let k = key(a.as_raw_fd()).unwrap();
            table.insert(k, entry);
            if i % 100 == 0 {
                kept.push((k, a));
            }
        }
        assert!(table.map.len() < PRUNE_MIN, "{}", table.map.len());
        for (k, _) in &kept {
            assert!(table.map.contains_key(k));
        }
    }
}
