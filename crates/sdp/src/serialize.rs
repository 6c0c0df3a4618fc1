//! The serializer: CRLF line ends and the RFC 8866 §5 line order
//! (`v o s i u e p c b t r z k a`, then per media `m i c b k a`).

use std::fmt;
use std::net::IpAddr;

use crate::model::{Attribute, Bandwidth, Connection, Origin, SessionDescription};
use crate::parser::is_early_field;

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v=0\r\n")?;
        write!(f, "o={}\r\n", self.origin)?;
        write!(f, "s={}\r\n", self.session_name)?;
        if let Some(info) = &self.information {
            write!(f, "i={info}\r\n")?;
        }
        for field in self.extra.iter().filter(|e| is_early_field(e.kind)) {
            write!(f, "{}={}\r\n", field.kind, field.value)?;
        }
        if let Some(connection) = &self.connection {
            write!(f, "c={connection}\r\n")?;
        }
        write_common(f, &self.bandwidths, &[])?;
        write!(f, "t={} {}\r\n", self.timing.start, self.timing.stop)?;
        for field in self.extra.iter().filter(|e| !is_early_field(e.kind)) {
            write!(f, "{}={}\r\n", field.kind, field.value)?;
        }
        write_common(f, &[], &self.attributes)?;
        for media in &self.media {
            write!(f, "m={} {}", media.media, media.port)?;
            if let Some(count) = media.port_count {
                write!(f, "/{count}")?;
            }
            write!(f, " {}", media.proto)?;
            for format in &media.formats {
                write!(f, " {format}")?;
            }
            f.write_str("\r\n")?;
            if let Some(info) = &media.information {
                write!(f, "i={info}\r\n")?;
            }
            if let Some(connection) = &media.connection {
                write!(f, "c={connection}\r\n")?;
            }
            write_common(f, &media.bandwidths, &[])?;
            for field in &media.extra {
                write!(f, "{}={}\r\n", field.kind, field.value)?;
            }
            write_common(f, &[], &media.attributes)?;
        }
        Ok(())
    }
}

fn write_common(
    f: &mut fmt::Formatter<'_>,
    bandwidths: &[Bandwidth],
    attributes: &[Attribute],
) -> fmt::Result {
    for b in bandwidths {
        write!(f, "b={}:{}\r\n", b.kind, b.value)?;
    }
    for a in attributes {
        match &a.value {
            Some(value) => write!(f, "a={}:{value}\r\n", a.name)?,
            None => write!(f, "a={}\r\n", a.name)?,
        }
    }
    Ok(())
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.version,
            self.net_type,
            self.addr_type,
            self.address
        )
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            IpAddr::V4(a) => write!(f, "IN IP4 {a}"),
            IpAddr::V6(a) => write!(f, "IN IP6 {a}"),
        }
    }
}
