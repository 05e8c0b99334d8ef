//! BODYSTRUCTURE to a flat list of parts: every leaf part and every message/rfc822 part, in
//! document order, with its IMAP section number (RFC 3501 section 6.4.5), type, encodings,
//! encoded size, disposition, decoded file name and Content-ID, and whether the UI should
//! list it as an attachment.
//!
//! Pure and bounded: recursion stops at [`MAX_DEPTH`] levels and the list at [`MAX_PARTS`]
//! entries, so a hostile structure can neither overflow the stack nor exhaust memory. It must
//! never decide what to download or touch the store; it only describes.

use imap_proto::{BodyContentCommon, BodyContentSinglePart, BodyStructure, ContentEncoding};

use super::{filename::declared_file_name, params::param};

/// Deepest nesting (multiparts and encapsulated messages) whose parts are listed; parts
/// below it are left out.
pub const MAX_DEPTH: usize = 32;
/// Most parts listed for one message; later parts are left out.
pub const MAX_PARTS: usize = 2_000;

/// One part of a message as BODYSTRUCTURE describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartInfo {
    /// IMAP section: "1" for a single-part message, "1", "2" for multipart children, "2.1"
    /// for the first part inside part 2 (a nested multipart or a message/rfc822).
    pub section: String,
    /// Lowercase `type/subtype`, e.g. "text/plain".
    pub mime_type: String,
    /// Lowercase `charset` parameter, as the server reports it (Dovecot reports "us-ascii"
    /// for text parts without a Content-Type).
    pub charset: Option<String>,
    /// Lowercase Content-Transfer-Encoding: "7bit", "8bit", "binary", "base64",
    /// "quoted-printable" or whatever else the server reports.
    pub encoding: Option<String>,
    /// Size of the body in octets, still transfer-encoded.
    pub size: u32,
    /// Line count, for text/* and message/rfc822 parts.
    pub lines: Option<u32>,
    /// Lowercase disposition type, e.g. "attachment" or "inline".
    pub disposition: Option<String>,
    /// Decoded file name: Content-Disposition `filename`, else Content-Type `name`. Exactly
    /// as sent; pass it through [`super::safe_file_name`] before using it on disk.
    pub filename: Option<String>,
    /// Content-ID without the angle brackets.
    pub content_id: Option<String>,
    /// Whether the part is listed as an attachment rather than shown as the body; see
    /// [`parts_from_bodystructure`] for the rule.
    pub is_attachment: bool,
}

/// Every leaf and message/rfc822 part of `bs`, in document order.
///
/// Sections follow RFC 3501: a non-multipart message's only part is "1"; the children of a
/// multipart at section S are "S.1", "S.2"... ("1", "2" at the top); a message/rfc822 part S
/// is followed by its encapsulated message's parts, numbered the same way under S ("S.1" for
/// a single-part body). Multipart containers themselves are not listed.
///
/// `is_attachment`, decided within the message that directly contains the part (the parts
/// of a forwarded message are classified within the forwarded message):
/// 1. message/rfc822 → true.
/// 2. Content-Disposition `attachment` → true.
/// 3. A part of a multipart/related that has a Content-ID or Content-Location (an inline
///    image or other resource the HTML body references) → false.
/// 4. text/plain or text/html directly in a multipart/alternative, or anywhere without a file
///    name → false: it is body text.
/// 5. Any other part with a file name → true.
/// 6. Any other part of a multipart/alternative (text/calendar, text/enriched...) → false:
///    another rendering of the body.
/// 7. Anything else → true: content the app cannot show as body text is offered as a file.
pub fn parts_from_bodystructure(bs: &BodyStructure<'_>) -> Vec<PartInfo> {
    let mut walker = Walker { parts: Vec::new() };
    walker.message_body(bs, "", 0);
    walker.parts
}

/// What contains a part, for the attachment rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Container {
    /// The part is a message's whole body.
    Message,
    Alternative,
    Related,
    /// multipart/mixed and every other multipart subtype.
    OtherMultipart,
}

impl Container {
    pub(super) fn of_multipart(subtype: &str) -> Container {
        if subtype.eq_ignore_ascii_case("alternative") {
            Container::Alternative
        } else if subtype.eq_ignore_ascii_case("related") {
            Container::Related
        } else {
            Container::OtherMultipart
        }
    }
}

struct Walker {
    parts: Vec<PartInfo>,
}

impl Walker {
    fn full(&self) -> bool {
        self.parts.len() >= MAX_PARTS
    }

    /// The body of a message (the top level, or a message/rfc822 part's content) whose parts
    /// are numbered under `prefix` ("" at the top).
    fn message_body(&mut self, node: &BodyStructure<'_>, prefix: &str, depth: usize) {
        match node {
            BodyStructure::Multipart { common, bodies, .. } => {
                self.children(common, bodies, prefix, depth)
            }
            _ => self.part(node, child_section(prefix, 1), Container::Message, depth),
        }
    }

    fn children(
        &mut self,
        common: &BodyContentCommon<'_>,
        bodies: &[BodyStructure<'_>],
        prefix: &str,
        depth: usize,
    ) {
        let container = Container::of_multipart(&common.ty.subtype);
        for (k, child) in bodies.iter().enumerate() {
            if self.full() {
                return;
            }
            self.part(child, child_section(prefix, k + 1), container, depth + 1);
        }
    }

    fn part(
        &mut self,
        node: &BodyStructure<'_>,
        section: String,
        container: Container,
        depth: usize,
    ) {
        if depth > MAX_DEPTH || self.full() {
            return;
        }
        match node {
            BodyStructure::Multipart { common, bodies, .. } => {
                self.children(common, bodies, &section, depth)
            }
            BodyStructure::Message {
                common,
                other,
                body,
                lines,
                ..
            } => {
                self.parts.push(describe(
                    common,
                    other,
                    Some(*lines),
                    section.clone(),
                    container,
                ));
                self.message_body(body, &section, depth + 1);
            }
            BodyStructure::Text {
                common,
                other,
                lines,
                ..
            } => {
                self.parts
                    .push(describe(common, other, Some(*lines), section, container));
            }
            BodyStructure::Basic { common, other, .. } => {
                self.parts
                    .push(describe(common, other, None, section, container));
            }
        }
    }
}

/// Section of child `k` (1-based) under `prefix`.
pub(super) fn child_section(prefix: &str, k: usize) -> String {
    let mut section = String::with_capacity(prefix.len() + 4);
    if !prefix.is_empty() {
        section.push_str(prefix);
        section.push('.');
    }
    crate::digits::push_decimal(&mut section, k as u64);
    section
}

fn describe(
    common: &BodyContentCommon<'_>,
    other: &BodyContentSinglePart<'_>,
    lines: Option<u32>,
    section: String,
    container: Container,
) -> PartInfo {
    let (ty, subtype) = (common.ty.ty.trim(), common.ty.subtype.trim());
    let mut mime_type = String::with_capacity(ty.len() + 1 + subtype.len());
    mime_type.push_str(ty);
    mime_type.push('/');
    mime_type.push_str(subtype);
    mime_type.make_ascii_lowercase();
    let charset = param(common.ty.params.as_deref(), "charset")
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty());
    let disposition = common
        .disposition
        .as_ref()
        .map(|d| d.ty.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty());
    let filename = declared_file_name(common);
    let content_id = other
        .id
        .as_deref()
        .map(strip_angle_brackets)
        .filter(|id| !id.is_empty());
    let referenced = content_id.is_some()
        || common
            .location
            .as_deref()
            .is_some_and(|l| !l.trim().is_empty());
    let is_attachment = attachment_rule(
        &mime_type,
        disposition.as_deref(),
        filename.is_some(),
        referenced,
        container,
    );
    PartInfo {
        section,
        mime_type,
        charset,
        encoding: Some(encoding_name(&other.transfer_encoding)),
        size: other.octets,
        lines,
        disposition,
        filename,
        content_id,
        is_attachment,
    }
}

/// The rule documented on [`parts_from_bodystructure`].
pub(super) fn attachment_rule(
    mime_type: &str,
    disposition: Option<&str>,
    has_name: bool,
    referenced: bool,
    container: Container,
) -> bool {
    let body_text = mime_type == "text/plain" || mime_type == "text/html";
    let in_alternative = container == Container::Alternative;
    if mime_type == "message/rfc822" || disposition == Some("attachment") {
        return true;
    }
    let inline_resource = container == Container::Related && referenced;
    let body = body_text && (in_alternative || !has_name);
    match (inline_resource || body, has_name) {
        (true, _) => false,
        (false, true) => true,
        (false, false) => !in_alternative,
    }
}

fn encoding_name(encoding: &ContentEncoding<'_>) -> String {
    match encoding {
        ContentEncoding::SevenBit => "7bit".to_string(),
        ContentEncoding::EightBit => "8bit".to_string(),
        ContentEncoding::Binary => "binary".to_string(),
        ContentEncoding::Base64 => "base64".to_string(),
        ContentEncoding::QuotedPrintable => "quoted-printable".to_string(),
        ContentEncoding::Other(other) => other.trim().to_ascii_lowercase(),
    }
}

fn strip_angle_brackets(id: &str) -> String {
    let id = id.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    let id = id.strip_suffix('>').unwrap_or(id);
    id.trim().to_string()
}

#[cfg(test)]
mod tests;
