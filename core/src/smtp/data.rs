//! The DATA body's transparency (RFC 5321 §4.5.2), sans I/O: line ends made CRLF (a bare LF
//! or a bare CR becomes CRLF: SMTP forbids them alone), a dot added before every line that
//! starts with one, and the terminator, with the CRLF a message lacks at its end. It works a
//! chunk at a time and keeps two bits of state, so a message is never copied whole.

/// The encoder's state between chunks.
#[derive(Debug, Clone)]
pub(super) struct Stuffer {
    /// The next byte starts a line.
    at_line_start: bool,
    /// The last byte was a CR whose LF has not been seen yet.
    pending_cr: bool,
}

impl Default for Stuffer {
    fn default() -> Self {
        Stuffer {
            at_line_start: true,
            pending_cr: false,
        }
    }
}

impl Stuffer {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Appends `input`, encoded, to `out`.
    pub(super) fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 32 + 2);
        let mut start = 0;
        for (i, &b) in input.iter().enumerate() {
            match b {
                b'\r' | b'\n' => {}
                b'.' if self.at_line_start && !self.pending_cr => {}
                _ if self.pending_cr => {}
                _ => {
                    self.at_line_start = false;
                    continue;
                }
            }
            // A byte that needs work: flush the plain run before it.
            out.extend_from_slice(&input[start..i]);
            start = i + 1;
            match b {
                b'\r' => {
                    if self.pending_cr {
                        out.extend_from_slice(b"\r\n");
                    }
                    self.pending_cr = true;
                    self.at_line_start = true;
                }
                b'\n' => {
                    out.extend_from_slice(b"\r\n");
                    self.pending_cr = false;
                    self.at_line_start = true;
                }
                _ => {
                    if self.pending_cr {
                        out.extend_from_slice(b"\r\n");
                        self.pending_cr = false;
                    }
                    if b == b'.' {
                        out.push(b'.');
                    }
                    out.push(b);
                    self.at_line_start = false;
                }
            }
        }
        out.extend_from_slice(&input[start..]);
    }

    /// Appends the end of the body: a pending line end, a CRLF if the message did not end
    /// with one, then `.` CRLF. The encoder is then as new.
    pub(super) fn finish(&mut self, out: &mut Vec<u8>) {
        if self.pending_cr || !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        *self = Stuffer::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuff(chunks: &[&[u8]]) -> Vec<u8> {
        let mut s = Stuffer::new();
        let mut out = Vec::new();
        for c in chunks {
            s.encode(c, &mut out);
        }
        s.finish(&mut out);
        out
    }

    #[test]
    fn transparency_and_line_ends() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b".\r\n"),
            (b"a\r\n", b"a\r\n.\r\n"),
            (b"a", b"a\r\n.\r\n"),
            (b".a\r\n..b\r\n.\r\nc", b"..a\r\n...b\r\n..\r\nc\r\n.\r\n"),
            (b"a\nb\n", b"a\r\nb\r\n.\r\n"),
            (b"a\rb\r", b"a\r\nb\r\n.\r\n"),
            (b"a\r\r\nb", b"a\r\n\r\nb\r\n.\r\n"),
            (b"x\n.\n", b"x\r\n..\r\n.\r\n"),
            (b"\r\n.\r\n", b"\r\n..\r\n.\r\n"),
            (b"a.b\r\n", b"a.b\r\n.\r\n"),
            (b"\r.x", b"\r\n..x\r\n.\r\n"),
        ];
        for (input, want) in cases {
            assert_eq!(
                String::from_utf8_lossy(&stuff(&[input])),
                String::from_utf8_lossy(want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn any_split_gives_the_same_bytes() {
        let input: &[u8] = b".start\r\nmid\n.dot\r\r\n..two\rlast.";
        let whole = stuff(&[input]);
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let split = stuff(&[&input[..i], &input[i..j], &input[j..]]);
                assert_eq!(split, whole, "split at {i}, {j}");
            }
        }
    }
}
