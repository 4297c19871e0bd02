//! Lab services: the classic small Internet services, on loopback, for lessons to talk to with no
//! set-up. Each runs over TCP and UDP on a free port, reported to pages by `hello` as `labs`:
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

use bridge_protocol::Address;
use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
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
}

/// Starts every service on 127.0.0.1 and returns their addresses by name (`"echo_tcp"`, ...).
/// They stop when `stop` is cancelled; `tracker` knows their tasks.
pub(crate) async fn start(stop: &CancellationToken, tracker: &TaskTracker) -> io::Result<BTreeMap<String, Address>> {
    let mut labs = BTreeMap::new();
    for service in Service::ALL {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let listener = TcpListener::bind(loopback).await?;
        let udp = UdpSocket::bind(loopback).await?;
        labs.insert(format!("{}_tcp", service.name()), Address::from(listener.local_addr()?));
        labs.insert(format!("{}_udp", service.name()), Address::from(udp.local_addr()?));
        tracker.spawn(serve_tcp(service, listener, stop.clone(), tracker.clone()));
        tracker.spawn(serve_udp(service, udp, stop.clone()));
    }
    Ok(labs)
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
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let weekday = DAYS[(days % 7) as usize];
    let month_name = MONTHS[(month - 1) as usize];
    format!("{weekday}, {month_name} {day}, {year} {:02}:{:02}:{:02}-UTC\r\n", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_716), (2023, 12, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let t = UNIX_EPOCH + Duration::from_secs(1_795_426_867);
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
