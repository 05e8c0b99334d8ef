//! The generator's vocabulary: people, subjects and sentences in several languages, and the
//! helpers that turn them into plain-text and HTML bodies (CRLF line endings, wrapped lines).
//!
//! Every language's text is representable in the charsets [`Lang::charsets`] offers for it;
//! Japanese uses only the phrases of the ISO-2022-JP table.

use rand::{Rng, seq::IndexedRandom};
use rand_chacha::ChaCha8Rng;

use super::encode::{Charset, JAPANESE_PHRASES};

/// A language of subjects and bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    English,
    /// English with curly quotes, dashes, ellipses and the euro sign (the Windows-1252 extras).
    Typographic,
    French,
    German,
    Russian,
    Japanese,
    /// English with emoji: UTF-8 only.
    Emoji,
}

impl Lang {
    pub(crate) fn pick(rng: &mut ChaCha8Rng) -> Lang {
        const WEIGHTED: [(Lang, u32); 7] = [
            (Lang::English, 40),
            (Lang::Typographic, 10),
            (Lang::French, 12),
            (Lang::German, 12),
            (Lang::Russian, 10),
            (Lang::Japanese, 8),
            (Lang::Emoji, 8),
        ];
        weighted(rng, &WEIGHTED)
    }

    /// Charsets a body in this language may be written in, the first being the most common.
    pub(crate) fn charsets(self) -> &'static [Charset] {
        match self {
            Lang::English => &[Charset::UsAscii, Charset::Utf8],
            Lang::Typographic => &[Charset::Windows1252, Charset::Utf8],
            Lang::French | Lang::German => &[Charset::Latin1, Charset::Windows1252, Charset::Utf8],
            Lang::Russian => &[Charset::Koi8R, Charset::Utf8],
            Lang::Japanese => &[Charset::Iso2022Jp, Charset::Utf8],
            Lang::Emoji => &[Charset::Utf8],
        }
    }

    fn sentences(self) -> &'static [&'static str] {
        match self {
            Lang::English => ENGLISH,
            Lang::Typographic => TYPOGRAPHIC,
            Lang::French => FRENCH,
            Lang::German => GERMAN,
            Lang::Russian => RUSSIAN,
            Lang::Japanese => &JAPANESE,
            Lang::Emoji => EMOJI,
        }
    }

    pub(crate) fn subjects(self) -> &'static [&'static str] {
        match self {
            Lang::English => &[
                "Quarterly report",
                "Lunch on Friday?",
                "Invoice 4821 for March",
                "Meeting notes from the planning session with the whole platform team and the two external contractors",
                "Your account statement",
                "Server maintenance window",
            ],
            Lang::Typographic => &[
                "“Final” budget – €12k",
                "Re-org… again?",
                "Q3 numbers — please review",
            ],
            Lang::French => &[
                "Réunion de lundi",
                "Compte rendu détaillé de la réunion du comité de pilotage élargi à l’équipe",
                "Facture n° 2024-17",
                "Déjeuner à la crêperie",
            ],
            Lang::German => &[
                "Grüße aus München",
                "Änderung der Öffnungszeiten",
                "Übergabeprotokoll für die Büroräume im dritten Obergeschoß",
            ],
            Lang::Russian => &["Отчёт за квартал", "Встреча в пятницу", "Счёт на оплату"],
            Lang::Japanese => &["会議の資料", "明日の打ち合わせについて", "見積書"],
            Lang::Emoji => &["Party 🎉 tonight", "Coffee ☕ later?", "We shipped it 🚀🚀"],
        }
    }

    fn greeting(self) -> &'static str {
        match self {
            Lang::English | Lang::Emoji => "Hi,",
            Lang::Typographic => "Hi all –",
            Lang::French => "Bonjour,",
            Lang::German => "Hallo zusammen,",
            Lang::Russian => "Здравствуйте!",
            Lang::Japanese => "お疲れ様です。",
        }
    }
}

const ENGLISH: &[&str] = &[
    "Please find the latest figures below.",
    "Let me know if anything is unclear.",
    "We should decide on the vendor before the end of the month.",
    "The deploy went out this morning without incident.",
    "Could you review the draft and send comments by Thursday?",
    "I moved the meeting to the large conference room.",
    "Thanks again for the quick turnaround on this.",
    "The numbers look better than last quarter, mostly thanks to the new pricing.",
    "I have attached the signed copy for your records.",
    "Nothing urgent, just keeping you in the loop.",
];
const TYPOGRAPHIC: &[&str] = &[
    "We’ll need the “final” numbers by Friday — no later.",
    "The budget is €1,200… give or take.",
    "Pages 10–14 are the ones that matter.",
    "Our product™ ships with a 2-year warranty.",
    "“Good enough” isn’t, this time.",
];
const FRENCH: &[&str] = &[
    "Voici le compte rendu de la réunion.",
    "Pourriez-vous vérifier les chiffres avant jeudi ?",
    "Le café de la crêperie était excellent.",
    "Nous avons reçu la facture hier après-midi.",
    "Merci d'avance pour votre réponse rapide.",
    "L'été dernier, le projet a pris du retard à cause des congés.",
];
const GERMAN: &[&str] = &[
    "Anbei die Unterlagen für das Gespräch.",
    "Die Übergabe ist für Donnerstag geplant.",
    "Bitte prüfen Sie die Änderungen bis Freitag.",
    "Wir müssen die Größe der Räume noch klären.",
    "Viele Grüße aus dem Büro in München.",
    "Das Straßenfest fällt dieses Jahr leider aus.",
];
const RUSSIAN: &[&str] = &[
    "Высылаю отчёт за прошлый месяц.",
    "Пожалуйста, проверьте цифры до пятницы.",
    "Встреча переносится на следующую неделю.",
    "Спасибо за быстрый ответ.",
    "Счёт уже оплачен, ждём подтверждения.",
    "Съешь ещё этих мягких французских булок да выпей же чаю.",
];
const JAPANESE: [&str; JAPANESE_PHRASES.len()] = {
    let mut out = [""; JAPANESE_PHRASES.len()];
    let mut k = 0;
    while k < out.len() {
        out[k] = JAPANESE_PHRASES[k].0;
        k += 1;
    }
    out
};
const EMOJI: &[&str] = &[
    "Great work everyone 🎉",
    "See you at the café ☕ at noon.",
    "Release is out 🚀 — thanks all!",
    "Weather looks good ☀️ for the picnic.",
    "Don't forget the cake 🎂.",
];

/// A correspondent: optional display name and address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Person<'a> {
    pub name: Option<&'a str>,
    pub email: &'a str,
}

pub(crate) const PEOPLE: &[Person<'static>] = &[
    Person {
        name: Some("Alice Martin"),
        email: "alice.martin@example.com",
    },
    Person {
        name: Some("Bob Stone"),
        email: "bob@example.org",
    },
    Person {
        name: Some("Jürgen Müller"),
        email: "j.mueller@firma.example.de",
    },
    Person {
        name: Some("Zoë Dupont"),
        email: "zoe.dupont@example.fr",
    },
    Person {
        name: Some("Иван Петров"),
        email: "ivan.petrov@example.ru",
    },
    Person {
        name: Some("Ольга Смирнова"),
        email: "olga@example.ru",
    },
    Person {
        name: Some("田中 太郎"),
        email: "tanaka@example.jp",
    },
    Person {
        name: Some("O'Brien, Sean"),
        email: "sean.obrien@example.ie",
    },
    Person {
        name: Some("Dr. Emily Chen"),
        email: "echen@lab.example.edu",
    },
    Person {
        name: Some("José García"),
        email: "jose.garcia@example.es",
    },
    Person {
        name: Some("Émilie “Mimi” Laurent"),
        email: "mimi@example.fr",
    },
    Person {
        name: Some("Sam 🚀 Rivera"),
        email: "sam@startup.example.io",
    },
    Person {
        name: None,
        email: "noreply@notifications.example.com",
    },
    Person {
        name: None,
        email: "billing@example.net",
    },
    Person {
        name: None,
        email: "team-list@lists.example.org",
    },
];

/// A uniformly chosen element; the tables are never empty.
pub(crate) fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    items.choose(rng).expect("non-empty table")
}

/// A choice by integer weights.
pub(crate) fn weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (item, weight) in items {
        if roll < *weight {
            return *item;
        }
        roll -= weight;
    }
    unreachable!("roll below the total weight")
}

/// Paragraphs of random sentences in `lang`.
pub(crate) fn paragraphs(rng: &mut ChaCha8Rng, lang: Lang) -> Vec<String> {
    let count = rng.random_range(1..=4);
    let joiner = if lang == Lang::Japanese { "" } else { " " };
    (0..count)
        .map(|_| {
            let sentences = rng.random_range(1..=4);
            lang.sentences()
                .choose_multiple(rng, sentences)
                .copied()
                .collect::<Vec<_>>()
                .join(joiner)
        })
        .collect()
}

/// One quoted sentence for a reply.
pub(crate) fn quote(rng: &mut ChaCha8Rng, lang: Lang) -> &'static str {
    pick::<&'static str>(rng, lang.sentences())
}

/// Splits a paragraph into lines of at most ~72 characters (Japanese: two phrases a line).
fn wrap(paragraph: &str, lang: Lang) -> Vec<String> {
    if lang == Lang::Japanese {
        let phrases: Vec<&str> = paragraph.split_inclusive('。').collect();
        return phrases.chunks(2).map(|c| c.concat()).collect();
    }
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in paragraph.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > 72 {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// A plain-text body: greeting, wrapped paragraphs, optional quoted lines, signature.
/// CRLF line endings, ending with CRLF.
pub(crate) fn plain_text(
    lang: Lang,
    paragraphs: &[String],
    quoted: &[String],
    signature: &str,
) -> String {
    let mut lines = vec![lang.greeting().to_string(), String::new()];
    for paragraph in paragraphs {
        lines.extend(wrap(paragraph, lang));
        lines.push(String::new());
    }
    lines.extend(quoted.iter().cloned());
    if !quoted.is_empty() {
        lines.push(String::new());
    }
    lines.push("-- ".to_string());
    lines.push(signature.to_string());
    let mut text = lines.join("\r\n");
    text.push_str("\r\n");
    text
}

/// An HTML body with one `<p>` per paragraph (long lines, as real mailers write them) and an
/// `<img src="cid:...">` per inline image.
pub(crate) fn html(
    lang: Lang,
    paragraphs: &[String],
    image_cids: &[String],
    charset: Charset,
) -> String {
    let mut lines = vec![
        "<!DOCTYPE html>".to_string(),
        format!(
            "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset={}\"></head>",
            charset.name()
        ),
        "<body>".to_string(),
        format!("<p>{}</p>", escape_html(lang.greeting())),
    ];
    lines.extend(
        paragraphs
            .iter()
            .map(|p| format!("<p style=\"margin:0 0 1em 0\">{}</p>", escape_html(p))),
    );
    lines.extend(
        image_cids
            .iter()
            .map(|cid| format!("<p><img src=\"cid:{cid}\" alt=\"image\" width=\"320\"></p>")),
    );
    lines.push("</body></html>".to_string());
    let mut text = lines.join("\r\n");
    text.push_str("\r\n");
    text
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
