//! The page's share links as a SCENARIO: `dpo run 'https://…/#from=gamma-zero&z1=…'` (or the
//! hash alone, `'#z1=…'`) trains exactly what the page that wrote the link trains. The forms are
//! the page's (www/state.js, docs/scenario-format.md "Share links"):
//! `#preset=ID`, `#from=ID&z1=DATA`, `#z1=DATA` and the first links' `#s=TEXT`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dpo_playground::presets::Preset;
use dpo_playground::scenario::MAX_FILE_BYTES;

/// What a share link holds.
#[derive(Debug)]
pub enum Linked {
    /// A preset as shipped.
    Preset(Preset),
    /// A scenario's text.
    Text(String),
}

/// Whether `source` is a share link rather than a path: a URL or a bare hash that carries one of
/// the link forms.
pub fn is_link(source: &str) -> bool {
    let hash = match source.split_once('#') {
        Some((before, hash)) if before.is_empty() || before.contains("://") => hash,
        _ => return false,
    };
    fields(hash).any(|(key, _)| matches!(key, "preset" | "z1" | "s"))
}

/// The hash's `key=value` fields.
fn fields(hash: &str) -> impl Iterator<Item = (&str, &str)> {
    hash.split('&').filter_map(|field| field.split_once('='))
}

/// A field's value with its `%XX` escapes decoded (preset names are written escaped).
fn unescape(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("a broken %-escape in {value:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{value:?} is not UTF-8 once unescaped"))
}

fn preset_named(id: &str) -> Result<Preset, String> {
    Preset::find(id).ok_or_else(|| format!("it names a preset {id:?} that this dpo does not have"))
}

fn base64url(data: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(data.trim_end_matches('='))
        .map_err(|e| format!("its data is not base64url ({e})"))
}

/// Reads a share link (a URL or its hash); an error says why it could not be read.
pub fn read(source: &str) -> Result<Linked, String> {
    let hash = source.split_once('#').map_or("", |(_, hash)| hash);
    let find = |name: &str| fields(hash).find(|(key, _)| *key == name).map(|(_, v)| v);
    if let Some(id) = find("preset") {
        return Ok(Linked::Preset(preset_named(&unescape(id)?)?));
    }
    let text = if let Some(data) = find("z1") {
        let compressed = base64url(data)?;
        // Inflating stops past the largest scenario file: a small link cannot become a bomb.
        let bytes = miniz_oxide::inflate::decompress_to_vec_with_limit(
            &compressed,
            MAX_FILE_BYTES as usize,
        )
        .map_err(|e| format!("its data is not a compressed scenario ({:?})", e.status))?;
        String::from_utf8(bytes).map_err(|_| "its scenario is not UTF-8 text".to_string())?
    } else if let Some(data) = find("s") {
        String::from_utf8(base64url(data)?)
            .map_err(|_| "its scenario is not UTF-8 text".to_string())?
    } else {
        return Err("it holds no scenario (#preset=, #z1= or #s=)".into());
    };
    let Some(id) = find("from") else {
        return Ok(Linked::Text(text));
    };
    // An edited preset's link leaves out the preset's title and description.
    let base = preset_named(&unescape(id)?)?
        .scenario()
        .map_err(|e| e.to_string())?;
    let mut value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("its scenario is not JSON ({e})"))?;
    // The preset's exercise too, in its canonical form (runs by index), when the link has none.
    let canonical: serde_json::Value =
        serde_json::from_str(&base.to_json_pretty()).map_err(|e| e.to_string())?;
    if let Some(object) = value.as_object_mut() {
        for key in ["title", "description", "exercise"] {
            if let (false, Some(field)) = (object.contains_key(key), canonical.get(key)) {
                object.insert(key.to_string(), field.clone());
            }
        }
    }
    Ok(Linked::Text(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_told_from_paths() {
        assert!(is_link("https://example.org/dpo/#preset=simpo"));
        assert!(is_link("#z1=AAAA"));
        assert!(is_link(
            "http://127.0.0.1:8000/#from=default&z1=q1YqSS0uUbJSMDQwUNJRyk0"
        ));
        assert!(!is_link("scenario.json"));
        assert!(!is_link("dir#1/scenario.json"));
        assert!(!is_link("https://example.org/#about"));
    }

    #[test]
    fn every_form_reads() {
        assert!(matches!(read("#preset=simpo"), Ok(Linked::Preset(p)) if p.id == "simpo"));
        // {"a":1} in base64url, uncompressed and raw-DEFLATE compressed.
        let text = |link: &str| match read(link) {
            Ok(Linked::Text(text)) => text,
            other => panic!("{link}: {other:?}"),
        };
        assert_eq!(text("#s=eyJhIjoxfQ"), r#"{"a":1}"#);
        assert_eq!(text("#z1=q1ZKVLIyrAUA"), r#"{"a":1}"#);
        // An edited preset's link gets the preset's title back.
        assert!(text("#from=simpo&z1=q1ZKVLIyrAUA").contains("SimPO"));
        assert!(read("#preset=nope").unwrap_err().contains("\"nope\""));
        assert!(read("#z1=%%%").unwrap_err().contains("base64url"));
        assert!(read("#z1=AAAA").unwrap_err().contains("compressed"));
    }
}
