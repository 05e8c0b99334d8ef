//! Modified UTF-7 (RFC 3501 5.1.3), the encoding of IMAP4rev1 mailbox names outside
//! printable ASCII: decoded for folder roles (`sync::roles`) and for IMAP URLs, which name
//! mailboxes in UTF-8 (RFC 5092; Dovecot and Cyrus resolve nothing else). Pure.

/// Decodes a modified UTF-7 mailbox name (RFC 3501 5.1.3); `None` when it is not valid
/// modified UTF-7 (the caller then uses the name as sent).
pub fn decode_mutf7(name: &str) -> Option<String> {
    if !name.contains('&') {
        return Some(name.to_string());
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('-')?;
        let encoded = &after[..end];
        if encoded.is_empty() {
            out.push('&');
        } else {
            out.push_str(&decode_utf16_b64(encoded)?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Modified base64 (`,` for `/`, no padding) of UTF-16BE.
fn decode_utf16_b64(encoded: &str) -> Option<String> {
    let mut bits: u32 = 0;
    let mut count = 0u32;
    let mut bytes = Vec::with_capacity(encoded.len() * 3 / 4);
    for c in encoded.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b',' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push(((bits >> count) & 0xFF) as u8);
        }
    }
    if bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    String::from_utf16(&units).ok()
}
