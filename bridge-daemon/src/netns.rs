//! Network namespaces: the "different computers" of a page's private network (issue 18).
//!
//! A [`Netns`] is a new network namespace with its own loopback (up), its own ports and its own
//! routes, held by nothing but its file descriptor: dropping the [`Netns`] (or the daemon's death,
//! SIGKILL included) ends it, with no name in `/run/netns` left behind. A socket made in it
//! ([`Netns::socket`], made by a thread that stays in the namespace for it) stays in it for life,
//! whatever thread later uses it, so the daemon's tokio workers serve it as any other socket.
//!
//! Making a namespace needs CAP_SYS_ADMIN (root, or an unprivileged user namespace); where it is
//! not allowed, [`Netns::new`] says so, and the daemon keeps the shared loopback.
//!
//! ```no_run
//! use bridge_daemon::netns::Netns;
//! use socket2::{Domain, Type};
//! let host = Netns::new()?;
//! let listener = host.socket(Domain::IPV4, Type::STREAM)?;
//! listener.bind(&"0.0.0.0:80".parse::<std::net::SocketAddr>()?.into())?; // port 80, this host's own
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The hosts of a page's private network (`network`) are made with it.

use socket2::{Domain, Socket, Type};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Mutex, mpsc};

/// A network namespace, held by its file descriptor.
#[derive(Debug)]
pub struct Netns {
    fd: OwnedFd,
    /// A thread kept inside the namespace for [`Netns::run`], started on first use; it ends when
    /// the `Netns` is dropped (its channel closes), and holds no descriptor of the namespace.
    resident: Mutex<Option<mpsc::Sender<Job>>>,
}

/// Work for the resident thread.
type Job = Box<dyn FnOnce() + Send>;

/// The resident thread's stack: it makes sockets, nothing deep.
const RESIDENT_STACK: usize = 64 << 10;

impl Netns {
    /// Makes a new network namespace and brings its loopback up.
    ///
    /// The work happens on a thread of its own: `unshare` moves only the calling thread, and no
    /// thread of the daemon's may leave the daemon's namespace.
    pub fn new() -> io::Result<Netns> {
        Netns::new_with(|| Ok(())).map(|(netns, ())| netns)
    }

    /// Makes a new network namespace, brings its loopback up, and runs `setup` inside it (on the
    /// same thread of its own): what `setup` makes (devices, sockets, open `/proc` files) belongs
    /// to the namespace. If `setup` fails, the namespace is gone with the thread.
    pub fn new_with<T: Send + 'static>(
        setup: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<(Netns, T)> {
        Netns::create(None, setup)
    }

    /// As [`Netns::new_with`], made from inside this namespace: the new one takes this one's
    /// settings for the namespaces made from it (`net.ipv4.tcp_child_ehash_entries`: a TCP table
    /// of its own, of that size, instead of sharing the machine's).
    pub fn child_with<T: Send + 'static>(
        &self,
        setup: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<(Netns, T)> {
        Netns::create(Some(self.fd.try_clone()?), setup)
    }

    fn create<T: Send + 'static>(
        parent: Option<OwnedFd>,
        setup: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<(Netns, T)> {
        let made = std::thread::spawn(move || -> io::Result<(OwnedFd, T)> {
            if let Some(parent) = parent {
                // SAFETY: setns takes a namespace fd this thread holds, and moves this thread only.
                if unsafe { libc::setns(parent.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            // SAFETY: unshare takes flags only and changes this thread's namespace, which ends with it.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            loopback_up()?;
            let fd = File::open("/proc/thread-self/ns/net")?.into();
            Ok((fd, setup()?))
        });
        let (fd, made) = made.join().map_err(|_| io::Error::other("the namespace thread panicked"))??;
        Ok((Netns { fd, resident: Mutex::new(None) }, made))
    }

    /// Runs `f` inside the namespace, on a thread of its own, and returns what it returns. Sockets
    /// `f` makes belong to the namespace.
    pub fn enter<T: Send + 'static>(&self, f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
        let fd = self.fd.try_clone()?;
        let worker = std::thread::spawn(move || -> io::Result<T> {
            // SAFETY: setns takes a namespace file descriptor this thread holds open, and changes
            // this thread's namespace only, which ends with it.
            if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            f()
        });
        worker.join().map_err(|_| io::Error::other("the namespace thread panicked"))?
    }

    /// Runs `f` inside the namespace on the namespace's resident thread (started on first use),
    /// and returns what it returns: as [`Netns::enter`], without making a thread each time. The
    /// caller waits for it; `f` must be quick (it makes a socket).
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
        let (answer, answered) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = answer.send(f());
        });
        let mut resident = self.resident.lock().unwrap_or_else(|poison| poison.into_inner());
        let job = match resident.as_ref() {
            Some(tx) => tx.send(job).err().map(|mpsc::SendError(job)| job),
            None => Some(job),
        };
        if let Some(job) = job {
            let tx = self.resident_thread()?;
            tx.send(job).map_err(|_| io::Error::other("the namespace's thread ended"))?;
            *resident = Some(tx);
        }
        drop(resident);
        answered.recv().map_err(|_| io::Error::other("the namespace's thread ended"))?
    }

    /// Starts the resident thread: it enters the namespace, lets go of the descriptor, and runs
    /// jobs until its channel closes.
    fn resident_thread(&self) -> io::Result<mpsc::Sender<Job>> {
        let fd = self.fd.try_clone()?;
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready, entered) = mpsc::sync_channel(1);
        std::thread::Builder::new().name("netns".into()).stack_size(RESIDENT_STACK).spawn(move || {
            // SAFETY: setns takes a namespace file descriptor this thread holds open, and changes
            // this thread's namespace only, which ends with it.
            let result = if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            };
            drop(fd);
            let ok = result.is_ok();
            let _ = ready.send(result);
            if ok {
                for job in rx {
                    job();
                }
            }
        })?;
        entered.recv().map_err(|_| io::Error::other("the namespace's thread ended"))??;
        Ok(tx)
    }

    /// A new non-blocking, close-on-exec socket in the namespace.
    pub fn socket(&self, domain: Domain, ty: Type) -> io::Result<Socket> {
        self.run(move || Socket::new(domain, ty.nonblocking().cloexec(), None))
    }
}

/// Brings `lo` up in the calling thread's namespace (a new namespace's loopback starts down).
fn loopback_up() -> io::Result<()> {
    let probe = Socket::new(Domain::IPV4, Type::DGRAM.cloexec(), None)?;
    device_up(&probe, "lo")
}

/// An `ifreq` naming `device` (at most 15 bytes), the rest zero.
pub(crate) fn ifreq(device: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain data; zeroed is a valid value for it.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().take(libc::IFNAMSIZ - 1).zip(device.bytes()) {
        *slot = byte as libc::c_char;
    }
    request
}

/// Brings `device` up in the calling thread's namespace; `probe` is any socket made there.
pub(crate) fn device_up(probe: &Socket, device: &str) -> io::Result<()> {
    let mut request = ifreq(device);
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write the ifreq we own, for the named device.
    unsafe {
        if libc::ioctl(probe.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) != 0 {
            return Err(io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(probe.as_raw_fd(), libc::SIOCSIFFLAGS, &request) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};

    /// Whether this process may make namespaces (root here, as in CI).
    fn privileged() -> bool {
        // SAFETY: geteuid has no arguments and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn a_namespace_is_a_computer_of_its_own_or_a_clear_refusal() {
        let host = match Netns::new() {
            Ok(host) => host,
            Err(e) => {
                // Not root and no user namespace: the refusal is the kernel's, and says so.
                assert!(!privileged(), "root could not make a namespace: {e}");
                assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
                return;
            }
        };
        // Its own loopback, up, with its own ports: port 80 is free there and needs no rule.
        let server = host.socket(Domain::IPV4, Type::STREAM).unwrap();
        server.set_reuse_address(true).unwrap();
        server.bind(&"0.0.0.0:80".parse::<SocketAddr>().unwrap().into()).unwrap();
        server.listen(4).unwrap();
        // A client in the same namespace reaches it; one in the daemon's does not.
        let inside = host.socket(Domain::IPV4, Type::STREAM).unwrap();
        inside.set_nonblocking(false).unwrap();
        inside.connect(&"127.0.0.1:80".parse::<SocketAddr>().unwrap().into()).unwrap();
        server.set_nonblocking(false).unwrap();
        let (conn, _) = server.accept().unwrap();
        let mut conn: TcpStream = conn.into();
        let mut inside: TcpStream = inside.into();
        inside.write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        conn.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        // A listener on the daemon's own loopback is not on this host's: refused there.
        let outside = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = outside.local_addr().unwrap().port();
        let probe = host.socket(Domain::IPV4, Type::STREAM).unwrap();
        probe.set_nonblocking(false).unwrap();
        let refused = probe.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into()).unwrap_err();
        assert_eq!(refused.raw_os_error(), Some(libc::ECONNREFUSED), "{refused}");
        // Its only device is its loopback, and it has no route anywhere else.
        let (devices, routes) = host
            .enter(|| {
                let devices = std::fs::read_to_string("/proc/thread-self/net/dev")?;
                Ok((devices, std::fs::read_to_string("/proc/thread-self/net/route")?))
            })
            .unwrap();
        let names: Vec<&str> = devices.lines().skip(2).filter_map(|l| l.split(':').next()).map(str::trim).collect();
        assert_eq!(names, ["lo"]);
        assert_eq!(routes.lines().count(), 1, "only the header: {routes}");
    }

    #[test]
    fn the_resident_thread_serves_in_the_namespace_and_ends_with_it() {
        let Ok(host) = Netns::new() else {
            assert!(!privileged(), "root could not make a namespace");
            return;
        };
        // Two jobs, one thread, inside the namespace (its only device is lo).
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = || Ok(unsafe { libc::gettid() });
        let (first, second) = (host.run(tid).unwrap(), host.run(tid).unwrap());
        assert_eq!(first, second, "a thread per call");
        let devices = host.run(|| std::fs::read_to_string("/proc/thread-self/net/dev")).unwrap();
        assert_eq!(devices.lines().count(), 3, "{devices}");
        let server = host.socket(Domain::IPV4, Type::STREAM).unwrap();
        server.bind(&"0.0.0.0:80".parse::<SocketAddr>().unwrap().into()).unwrap();
        // Dropped: the thread ends (it would keep the namespace alive).
        drop(host);
        let task = format!("/proc/self/task/{first}");
        for _ in 0..200 {
            if !std::path::Path::new(&task).exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the namespace's thread outlived it");
    }

    #[test]
    fn the_namespace_ends_with_its_last_holder() {
        use std::os::unix::fs::MetadataExt;
        let Ok(host) = Netns::new() else {
            assert!(!privileged(), "root could not make a namespace");
            return;
        };
        let identity = |path: std::path::PathBuf| std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
        let namespace = identity(format!("/proc/self/fd/{}", host.fd.as_raw_fd()).into()).unwrap();
        let open = || {
            std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .flatten()
                .filter(|e| identity(e.path()) == Some(namespace))
                .count()
        };
        assert_eq!(open(), 1);
        // A socket made there keeps working after the Netns is dropped (the kernel keeps a
        // namespace while a socket is in it), and no descriptor of the namespace is left open:
        // nothing has a name for it, and no thread stays inside.
        let server = host.socket(Domain::IPV4, Type::STREAM).unwrap();
        drop(host);
        assert_eq!(open(), 0, "a file descriptor of the namespace is still open");
        server.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
        assert!(server.local_addr().is_ok());
    }
}
