//! SASL PLAIN (RFC 4616): `authzid NUL authcid NUL password`.

use super::SaslError;

/// The three fields of a PLAIN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    /// Authorization identity; empty means "the user itself".
    pub authzid: String,
    /// The user name.
    pub username: String,
    /// The password in the clear.
    pub password: String,
}

/// Parses a PLAIN message. An authzid is accepted only when empty or
/// naming the user itself (bare `user` or `user@domain`).
pub fn parse(message: &[u8], domain: &str) -> Result<PlainCredentials, SaslError> {
    let text = std::str::from_utf8(message).map_err(|_| SaslError::MalformedRequest)?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(username), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::MalformedRequest);
    };
    if username.is_empty() {
        return Err(SaslError::MalformedRequest);
    }
    if !authzid.is_empty() && authzid != username && authzid != format!("{username}@{domain}") {
        return Err(SaslError::InvalidAuthzid);
    }
    Ok(PlainCredentials {
        authzid: authzid.to_owned(),
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

/// The client's PLAIN message for `username`/`password` (empty authzid).
pub fn initial_response(username: &str, password: &str) -> Vec<u8> {
    format!("\0{username}\0{password}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_authzid() {
        let creds = parse(&initial_response("usera", "1"), "rayo.test").expect("valid");
        assert_eq!(creds.username, "usera");
        assert_eq!(creds.password, "1");
        assert!(parse(b"usera@rayo.test\0usera\0p", "rayo.test").is_ok());
        assert_eq!(
            parse(b"admin\0usera\0p", "rayo.test"),
            Err(SaslError::InvalidAuthzid)
        );
        assert_eq!(
            parse(b"\0usera", "rayo.test"),
            Err(SaslError::MalformedRequest)
        );
        assert_eq!(
            parse(b"\0\0p", "rayo.test"),
            Err(SaslError::MalformedRequest)
        );
        assert_eq!(
            parse(b"\0u\0p\0x", "rayo.test"),
            Err(SaslError::MalformedRequest)
        );
    }
}
