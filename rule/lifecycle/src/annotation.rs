//! Annotations: the reasons behind a verdict, most severe first, within Config's 256-character limit.

/// Config's limit on `Annotation` (PutEvaluations: length 1-256).
pub const MAX_ANNOTATION: usize = 256;

/// Why a function fails, in order of severity: the first one leads the annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// The rule parameters are unusable.
    Parameters,
    /// The item cannot be read well enough to judge it.
    Unreadable,
    Blocked,
    NotAllowed,
    Lifecycle,
    UnknownRuntime,
    UpdateMode,
    CodeAge,
    Exemption,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Fail(Rank),
    Warn,
    Info,
}

/// Reasons collected while checking one function.
#[derive(Debug, Default)]
pub struct Findings {
    items: Vec<(Level, String)>,
}

impl Findings {
    pub fn fail(&mut self, rank: Rank, text: String) {
        self.items.push((Level::Fail(rank), text));
    }

    pub fn warn(&mut self, text: String) {
        self.items.push((Level::Warn, text));
    }

    pub fn info(&mut self, text: String) {
        self.items.push((Level::Info, text));
    }

    pub fn any_failure(&self) -> bool {
        self.items
            .iter()
            .any(|(level, _)| matches!(level, Level::Fail(_)))
    }

    /// The sentences, most severe first (stable within a level), after an optional lead sentence.
    pub fn into_annotation(mut self, lead: Option<String>) -> String {
        self.items.sort_by_key(|(level, _)| *level);
        let sentences = lead
            .into_iter()
            .chain(self.items.into_iter().map(|(_, text)| text));
        fit(&sentences.collect::<Vec<_>>().join(" "))
    }
}

/// Cuts `text` to at most 256 UTF-16 code units (the strictest reading of Config's limit), marking a
/// cut with "...", and never returns an empty string.
pub fn fit(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "No finding.".into();
    }
    if text.encode_utf16().count() <= MAX_ANNOTATION {
        return text.to_string();
    }
    let mut out = String::new();
    let mut units = 0;
    for c in text.chars() {
        if units + c.len_utf16() > MAX_ANNOTATION - 3 {
            break;
        }
        units += c.len_utf16();
        out.push(c);
    }
    out.push_str("...");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_severe_first() {
        let mut findings = Findings::default();
        findings.info("info.".into());
        findings.fail(Rank::UpdateMode, "pinned.".into());
        findings.warn("warn.".into());
        findings.fail(Rank::Lifecycle, "deprecated.".into());
        assert_eq!(findings.into_annotation(None), "deprecated. pinned. warn. info.");
    }

    #[test]
    fn fits_the_limit() {
        assert_eq!(fit(""), "No finding.");
        assert_eq!(fit("  "), "No finding.");
        let long = "x".repeat(300);
        let cut = fit(&long);
        assert_eq!(cut.len(), 256);
        assert!(cut.ends_with("..."));
        let wide = "😀".repeat(200); // two UTF-16 units each
        let cut = fit(&wide);
        assert!(cut.encode_utf16().count() <= 256);
        assert_eq!(fit(&"y".repeat(256)), "y".repeat(256));
    }
}
