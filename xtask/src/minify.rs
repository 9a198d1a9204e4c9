//! The shipped site's JavaScript, minified: `cargo xtask dist` rewrites every `.js` file it copies
//! (the page's modules and the wasm-bindgen glue) with oxc's minifier (compression and the
//! mangling of local names; exported names, property names and file names are kept, so the
//! modules still import each other, lazily too), and every `.css` without its comments and
//! indentation. `serve` serves the sources as written.

use oxc_allocator::Allocator;
use oxc_codegen::{Codegen, CodegenOptions};
use oxc_minifier::{Minifier, MinifierOptions};
use oxc_parser::Parser;
use oxc_span::SourceType;
use std::path::Path;

/// The file at `path` as the site ships it when it is minified (`.js`, `.css`), else `None`.
pub fn shipped(path: &Path) -> Result<Option<String>, String> {
    let minify: fn(&Path, &str) -> Result<String, String> =
        match path.extension().and_then(|e| e.to_str()) {
            Some("js") => module,
            Some("css") => stylesheet,
            _ => return Ok(None),
        };
    let source = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    minify(path, &source).map(Some)
}

/// `source` (an ES module read from `path`) minified; a syntax error names the file and the
/// place, since a module the browser cannot parse must not ship.
pub fn module(path: &Path, source: &str) -> Result<String, String> {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, SourceType::mjs()).parse();
    if parsed.panicked || parsed.diagnostics.has_errors() {
        let errors: Vec<String> = parsed.diagnostics.errors().map(|e| e.to_string()).collect();
        return Err(format!(
            "{}: not valid JavaScript: {}",
            path.display(),
            errors.join("; ")
        ));
    }
    let mut program = parsed.program;
    let minified = Minifier::new(MinifierOptions::default()).minify(&allocator, &mut program);
    Ok(Codegen::new()
        .with_options(CodegenOptions::minify())
        .with_scoping(minified.scoping)
        .with_private_member_mappings(minified.class_private_mappings)
        .build(&program)
        .code)
}

/// `source` (a stylesheet) without its comments, indentation and blank lines: nothing inside a
/// rule changes (the spaces in a selector such as `.dpo :focus` mean something). The page's
/// stylesheets hold no string with `/*` in it; a comment left open is an error.
pub fn stylesheet(path: &Path, source: &str) -> Result<String, String> {
    let mut text = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("/*") {
        text.push_str(&rest[..start]);
        let end = rest[start + 2..]
            .find("*/")
            .ok_or_else(|| format!("{}: a comment is never closed", path.display()))?;
        rest = &rest[start + 2 + end + 2..];
    }
    text.push_str(rest);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    Ok(lines.join("\n") + "\n")
}
