//! The record generator: realistic bot records built from real dialog lines.
//!
//! Text comes from `data/dialog.txt`, English dialog lines taken from the `chatterbot-corpus`
//! package (see the header of that file for source, version and license). A seeded RNG picks
//! and mixes the lines, so every record differs but a run is reproducible from its seed.
//! Each builder aims at a requested size in bytes of the serialised JSON: the variable text
//! is cut so that the record lands at (or just under) the target.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value as Json};
use std::sync::OnceLock;

/// The dialog corpus, with its header comment.
pub const DIALOG: &str = include_str!("../data/dialog.txt");

/// The dialog lines (comments and blank lines left out).
pub fn dialog_lines() -> &'static [&'static str] {
    static LINES: OnceLock<Vec<&'static str>> = OnceLock::new();
    LINES.get_or_init(|| {
        DIALOG
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

const NAMES: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Dennis",
    "Radia",
    "Leslie",
    "Tim",
    "Shafi",
    "John",
    "Katherine",
    "Linus",
    "Hedy",
    "Niklaus",
    "Sophie",
];
const CHANNELS: &[&str] = &["msteams", "webchat", "directline", "slack", "emulator"];
const LOCALES: &[&str] = &["en-US", "en-GB", "en-AU", "en-IN", "en-CA"];

/// A seeded generator of records.
pub struct Generator {
    rng: SmallRng,
    lines: &'static [&'static str],
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        Generator {
            rng: SmallRng::seed_from_u64(seed),
            lines: dialog_lines(),
        }
    }

    pub fn rng(&mut self) -> &mut SmallRng {
        &mut self.rng
    }

    /// One random dialog line.
    pub fn line(&mut self) -> &'static str {
        self.lines[self.rng.random_range(0..self.lines.len())]
    }

    /// Dialog lines joined by spaces, cut to at most `bytes` bytes (at least one character).
    pub fn text(&mut self, bytes: usize) -> String {
        let mut s = String::with_capacity(bytes + 240);
        while s.len() < bytes {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(self.line());
        }
        truncate(&mut s, bytes.max(1));
        s
    }

    /// A random id in UUID form.
    pub fn uuid(&mut self) -> String {
        let x: u128 = self.rng.random();
        let h = format!("{x:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.rng.random_range(0..xs.len())]
    }

    /// Build a record with `build(text)` and size its text so that the JSON is about `size`
    /// bytes (never more unless the fixed part alone is larger).
    fn sized(&mut self, size: usize, build: impl Fn(&str) -> Json) -> Json {
        let base = json_len(&build(""));
        let mut text = self.text(size.saturating_sub(base).max(1));
        loop {
            let v = build(&text);
            let n = json_len(&v);
            if n <= size || text.len() <= 1 {
                return v;
            }
            let cut = text.len().saturating_sub(n - size).max(1);
            truncate(&mut text, cut);
        }
    }

    /// A Bot Framework Activity-shaped message of about `size` bytes in conversation
    /// `conversation` (`user_turn`: from the user, otherwise the bot's reply).
    pub fn activity(&mut self, conversation: &str, user_turn: bool, size: usize) -> Json {
        let name = self.pick(NAMES);
        let channel = self.pick(CHANNELS);
        let locale = self.pick(LOCALES);
        let id = self.uuid();
        let reply_to = self.uuid();
        let client_id = self.uuid();
        let at = now_ms() - self.rng.random_range(0..86_400_000i64);
        let user =
            json!({"id": format!("user-{}", name.to_lowercase()), "name": name, "role": "user"});
        let bot = json!({"id": "bot-botstore", "name": "botstore-bench", "role": "bot"});
        let (from, recipient) = if user_turn { (user, bot) } else { (bot, user) };
        self.sized(size, |text| {
            json!({
                "type": "message",
                "id": id,
                "timestamp": rfc3339(at),
                "localTimestamp": rfc3339(at),
                "serviceUrl": "https://smba.trafficmanager.net/emea/",
                "channelId": channel,
                "from": from,
                "conversation": {"id": conversation, "isGroup": false, "conversationType": "personal"},
                "recipient": recipient,
                "textFormat": "plain",
                "locale": locale,
                "text": text,
                "replyToId": reply_to,
                "inputHint": if user_turn { "acceptingInput" } else { "expectingInput" },
                "channelData": {"clientActivityID": client_id},
                "entities": [{"type": "ClientCapabilities", "requiresBotState": true,
                              "supportsListening": false, "supportsTts": false}]
            })
        })
    }

    /// One turn of a conversation history: `{role, text, at}` with a real dialog line.
    pub fn turn(&mut self, user: bool) -> Json {
        let text = self.line();
        json!({"role": if user { "user" } else { "bot" }, "text": text, "at": now_ms()})
    }

    /// Conversation state (Bot Framework ConversationState + dialog stack + recent turns) of
    /// about `size` bytes.
    pub fn state(&mut self, conversation: &str, size: usize) -> Json {
        let name = self.pick(NAMES);
        let locale = self.pick(LOCALES);
        let mut turns = Vec::new();
        let mut v = state_shell(conversation, name, locale, &[], "");
        let mut len = json_len(&v);
        // Whole turns while they fit in about 3/4 of the size, then a summary for the rest.
        loop {
            let t = self.turn(turns.len() % 2 == 0);
            let n = json_len(&t) + 1;
            if len + n > size * 3 / 4 {
                break;
            }
            len += n;
            turns.push(t);
        }
        let summary_for = |text: &str| state_shell(conversation, name, locale, &turns, text);
        v = self.sized(size, summary_for);
        v
    }

    /// Modify a conversation state as a bot turn does: count the turn, push the new turn and
    /// drop the oldest one (so the size stays about the same).
    pub fn next_state(&mut self, state: &mut Json) {
        let user = self.rng.random_bool(0.5);
        let turn = self.turn(user);
        if let Some(obj) = state.as_object_mut() {
            let n = obj.get("turnCount").and_then(Json::as_u64).unwrap_or(0);
            obj.insert("turnCount".into(), json!(n + 1));
            obj.insert("lastActivityAt".into(), json!(rfc3339(now_ms())));
            if let Some(Json::Array(turns)) = obj.get_mut("recentTurns") {
                if !turns.is_empty() {
                    turns.remove(0);
                }
                turns.push(turn);
            }
        }
    }

    /// A LangChain-style chat message of about `size` bytes (`human` or `ai`).
    pub fn message(&mut self, human: bool, size: usize) -> Json {
        let id = self.uuid();
        let tokens_in: u32 = self.rng.random_range(20..4000);
        let tokens_out: u32 = self.rng.random_range(5..600);
        self.sized(size, |text| {
            if human {
                json!({"type": "human", "content": text, "id": id, "additional_kwargs": {},
                       "response_metadata": {}})
            } else {
                json!({"type": "ai", "content": text, "id": format!("run-{id}"),
                       "additional_kwargs": {},
                       "response_metadata": {"model_name": "gpt-4o-mini", "finish_reason": "stop"},
                       "usage_metadata": {"input_tokens": tokens_in, "output_tokens": tokens_out,
                                          "total_tokens": tokens_in + tokens_out}})
            }
        })
    }

    /// A LangGraph-style checkpoint of a thread at `step` holding `messages`.
    pub fn checkpoint(&mut self, thread: &str, step: u64, messages: &[Json]) -> Json {
        let id = self.uuid();
        json!({
            "v": 1,
            "id": id,
            "ts": rfc3339(now_ms()),
            "channel_values": {"messages": messages},
            "channel_versions": {"__start__": format!("{:032}.0", step), "messages": format!("{:032}.0", step)},
            "versions_seen": {"agent": {"messages": format!("{:032}.0", step.saturating_sub(1))}},
            "pending_sends": [],
            "metadata": {"source": "loop", "step": step, "thread_id": thread, "parents": {}}
        })
    }

    /// A generic item of about `size` bytes: a user-turn activity.
    pub fn record(&mut self, size: usize) -> Vec<u8> {
        let conv = self.uuid();
        let turn = self.rng.random_bool(0.5);
        serde_json::to_vec(&self.activity(&conv, turn, size)).unwrap_or_default()
    }

    /// `n` generic items of about `size` bytes (a pool to draw values from).
    pub fn pool(&mut self, n: usize, size: usize) -> Vec<Vec<u8>> {
        (0..n).map(|_| self.record(size)).collect()
    }
}

fn state_shell(
    conversation: &str,
    name: &str,
    locale: &str,
    turns: &[Json],
    summary: &str,
) -> Json {
    json!({
        "conversationId": conversation,
        "turnCount": turns.len(),
        "lastActivityAt": rfc3339(now_ms()),
        "userProfile": {"name": name, "locale": locale, "timezone": "Europe/London"},
        "dialogState": {"dialogStack": [
            {"id": "mainDialog", "state": {"options": {}, "values": {"instanceId": conversation},
             "stepIndex": 1}},
            {"id": "qnaPrompt", "state": {"options": {"prompt": "What else can I help with?"}}}
        ]},
        "recentTurns": turns,
        "summary": summary
    })
}

/// Serialised length of a JSON value.
pub fn json_len(v: &Json) -> usize {
    serde_json::to_vec(v).map_or(0, |b| b.len())
}

/// Cut `s` to at most `max` bytes on a character boundary.
fn truncate(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut i = max;
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    s.truncate(i);
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `2024-05-01T12:34:56.789Z` for milliseconds since the epoch.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        ms.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_real_and_varied() {
        let lines = dialog_lines();
        assert!(lines.len() >= 300, "{} lines", lines.len());
        let distinct: std::collections::HashSet<_> = lines.iter().collect();
        assert_eq!(distinct.len(), lines.len());
        assert!(DIALOG.starts_with("# "));
        assert!(DIALOG.contains("chatterbot-corpus"));
    }

    #[test]
    fn records_are_json_of_about_the_requested_size() {
        let mut g = Generator::new(7);
        for size in [1024usize, 2048, 4096] {
            for v in [
                g.activity("conv-1", true, size),
                g.state("conv-1", size),
                g.message(false, size),
            ] {
                let b = serde_json::to_vec(&v).unwrap();
                let back: Json = serde_json::from_slice(&b).unwrap();
                assert_eq!(back, v);
                assert!(
                    b.len() <= size && b.len() >= size * 9 / 10,
                    "{} bytes for {size}",
                    b.len()
                );
            }
            let r = g.record(size);
            assert!(serde_json::from_slice::<Json>(&r).is_ok());
            assert!(r.len() <= size && r.len() >= size * 9 / 10);
        }
        // Smaller than the fixed fields: the smallest record, still valid JSON.
        let tiny = serde_json::to_vec(&g.activity("c", true, 10)).unwrap();
        assert!(serde_json::from_slice::<Json>(&tiny).is_ok() && tiny.len() < 1024);
        // Records differ from one another.
        assert_ne!(g.record(1024), g.record(1024));
        // A state keeps about its size across turns.
        let mut s = g.state("c", 2048);
        for _ in 0..50 {
            g.next_state(&mut s);
        }
        let n = json_len(&s);
        assert!((1024..=4096).contains(&n), "{n}");
        assert_eq!(
            s["turnCount"],
            json!(s["recentTurns"].as_array().unwrap().len() + 50)
        );
    }

    #[test]
    fn same_seed_same_text() {
        assert_eq!(Generator::new(1).text(300), Generator::new(1).text(300));
        assert_ne!(Generator::new(1).text(300), Generator::new(2).text(300));
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_709_210_096_789), "2024-02-29T12:34:56.789Z");
    }
}
