//! Lab services: the classic small Internet services, for lessons to talk to with no set-up. Each
//! runs over TCP and UDP, on loopback on a free port (shared mode), or on its classic port on the
//! `lab` host of each private network; `hello` reports them to pages as `labs`:
//!
//! | service | RFC | TCP | UDP |
//! |---|---|---|---|
//! | echo | 862 | sends back what it receives | sends back each datagram |
//! | discard | 863 | reads and drops everything | drops each datagram |
//! | daytime | 867 | sends the date and time, then closes | answers each datagram with the date and time |
//! | chargen | 864 | sends lines of rotating characters until the client closes | answers each datagram with a few lines |
//!
//! They are bounded like everything else: at most [`MAX_CONNECTIONS`] TCP connections per service,
//! writes wait for the reader (TCP flow control), and a UDP answer is at most 512 bytes.

use crate::clock::{civil_from_days, days_and_seconds};
use crate::policy::rule::Proto;
use bridge_protocol::Address;
use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// TCP connections one service serves at once; more wait in the listen backlog.
pub(crate) const MAX_CONNECTIONS: usize = 32;

/// How long a TCP connection may sit idle before the service closes it.
const IDLE: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Echo,
    Discard,
    Daytime,
    Chargen,
}

impl Service {
    const ALL: [Service; 4] = [Service::Echo, Service::Discard, Service::Daytime, Service::Chargen];

    fn name(self) -> &'static str {
        match self {
            Service::Echo => "echo",
            Service::Discard => "discard",
            Service::Daytime => "daytime",
            Service::Chargen => "chargen",
        }
    }

    /// The port the service has in its RFC.
    fn port(self) -> u16 {
        match self {
            Service::Echo => 7,
            Service::Discard => 9,
            Service::Daytime => 13,
            Service::Chargen => 19,
        }
    }
}

/// Where the services listen.
#[derive(Debug, Default)]
pub(crate) struct Labs {
    /// By name (`"echo_tcp"`, ...), as `hello` reports them.
    pub(crate) names: BTreeMap<String, Address>,
    /// As the egress policy's `labs` set.
    pub(crate) addrs: Vec<(Proto, SocketAddr)>,
}

/// Starts every service on 127.0.0.1, each on a free port. They stop when `stop` is cancelled;
/// `tracker` knows their tasks.
pub(crate) async fn start(stop: &CancellationToken, tracker: &TaskTracker) -> io::Result<Labs> {
    let mut labs = Labs::default();
    for service in Service::ALL {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let listener = TcpListener::bind(loopback).await?;
        let udp = UdpSocket::bind(loopback).await?;
        labs.serve(service, listener, udp, stop, tracker)?;
    }
    Ok(labs)
}

/// Starts every service on a host of a private network, on its classic port (echo 7, discard 9,
/// daytime 13, chargen 19) at every address of the host. `hello` reports them at the host's LAN
/// address, which every host of the network reaches.
pub(crate) async fn start_in(
    netns: &crate::netns::Netns,
    ip: Ipv4Addr,
    stop: &CancellationToken,
    tracker: &TaskTracker,
) -> io::Result<Labs> {
    let mut labs = Labs::default();
    let sockets = netns.enter(|| {
        let mut made = Vec::new();
        for service in Service::ALL {
            let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, service.port()));
            let listener = std::net::TcpListener::bind(any)?;
            let udp = std::net::UdpSocket::bind(any)?;
            listener.set_nonblocking(true)?;
            udp.set_nonblocking(true)?;
            made.push((service, listener, udp));
        }
        Ok(made)
    })?;
    for (service, listener, udp) in sockets {
        labs.serve(service, TcpListener::from_std(listener)?, UdpSocket::from_std(udp)?, stop, tracker)?;
    }
    for addr in labs.names.values_mut() {
        if let Address::Inet { host, .. } = addr {
            *host = ip.to_string();
        }
    }
    Ok(labs)
}

impl Labs {
    /// Serves `service` on these sockets and lists it.
    fn serve(
        &mut self,
        service: Service,
        listener: TcpListener,
        udp: UdpSocket,
        stop: &CancellationToken,
        tracker: &TaskTracker,
    ) -> io::Result<()> {
        for (proto, addr) in [(Proto::Tcp, listener.local_addr()?), (Proto::Udp, udp.local_addr()?)] {
            self.names.insert(format!("{}_{proto}", service.name()), Address::from(addr));
            self.addrs.push((proto, addr));
        }
        tracker.spawn(serve_tcp(service, listener, stop.clone(), tracker.clone()));
        tracker.spawn(serve_udp(service, udp, stop.clone()));
        Ok(())
    }
}

async fn serve_tcp(service: Service, listener: TcpListener, stop: CancellationToken, tracker: TaskTracker) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            () = stop.cancelled() => return,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
        };
        let stream = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::debug!(service = service.name(), error = %e, "lab accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let stop = stop.clone();
        tracker.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                _ = tokio::time::timeout(IDLE, tcp_session(service, stream)) => {}
            }
            drop(slot);
        });
    }
}

async fn tcp_session(service: Service, mut stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 4096];
    match service {
        Service::Echo => loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            stream.write_all(&buf[..n]).await?;
        },
        Service::Discard => while stream.read(&mut buf).await? > 0 {},
        Service::Daytime => {
            stream.write_all(daytime(SystemTime::now()).as_bytes()).await?;
            stream.shutdown().await?;
        }
        Service::Chargen => {
            // Until the client closes: the write fails, or a read sees EOF.
            let (mut reader, mut writer) = stream.split();
            let mut line = 0;
            loop {
                let mut chunk = Vec::with_capacity(74 * 16);
                for _ in 0..16 {
                    chunk.extend_from_slice(&chargen_line(line));
                    line += 1;
                }
                tokio::select! {
                    written = writer.write_all(&chunk) => written?,
                    read = reader.read(&mut buf) => if read? == 0 { return Ok(()) },
                }
            }
        }
    }
    Ok(())
}

async fn serve_udp(service: Service, socket: UdpSocket, stop: CancellationToken) {
    let mut buf = vec![0u8; 65536];
    let mut line = 0;
    loop {
        let (n, from) = tokio::select! {
            () = stop.cancelled() => return,
            received = socket.recv_from(&mut buf) => match received {
                Ok(got) => got,
                Err(_) => continue,
            },
        };
        let reply = match service {
            Service::Echo => buf[..n].to_vec(),
            Service::Discard => continue,
            Service::Daytime => daytime(SystemTime::now()).into_bytes(),
            Service::Chargen => {
                let mut out = Vec::new();
                for _ in 0..6 {
                    out.extend_from_slice(&chargen_line(line));
                    line += 1;
                }
                out
            }
        };
        let _ = socket.send_to(&reply, from).await;
    }
}

/// Line `n` of the RFC 864 pattern: 72 printable characters starting one further along each
/// line, then CRLF.
fn chargen_line(n: usize) -> [u8; 74] {
    let mut line = [0u8; 74];
    for (i, byte) in line.iter_mut().take(72).enumerate() {
        *byte = b' ' + ((n + i) % 95) as u8;
    }
    line[72] = b'\r';
    line[73] = b'\n';
    line
}

/// The RFC 867 answer: the date and time in words, e.g. `Tuesday, November 25, 2026 09:41:07-UTC`.
fn daytime(now: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let (days, rest, _) = days_and_seconds(now);
    let (year, month, day) = civil_from_days(days as i64);
    let weekday = DAYS[(days % 7) as usize];
    let month_name = MONTHS[(month - 1) as usize];
    format!("{weekday}, {month_name} {day}, {year} {:02}:{:02}:{:02}-UTC\r\n", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_795_426_867);
        assert_eq!(daytime(t), "Monday, November 23, 2026 09:41:07-UTC\r\n");
    }

    #[test]
    fn chargen_rotates() {
        assert_eq!(&chargen_line(0)[..5], b" !\"#$");
        assert_eq!(&chargen_line(1)[..5], b"!\"#$%");
        assert_eq!(&chargen_line(0)[72..], b"\r\n");
        assert!(chargen_line(94).iter().take(72).all(|b| (b' '..=b'~').contains(b)));
    }
}
