//! Stage 1: the attribute's arguments (`name = "..."`, `restart = ...`,
//! `blocking`, `after = [...]`, `ready = ...`, `critical`, `every = "..."`)
//! into a [`ServiceAttr`].

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprCall, Lit, LitStr, Meta, Token};

use crate::Errors;

/// What the list of valid arguments looks like in messages.
pub(crate) const VALID_ARGUMENTS: &str = "`name = \"...\"`, `restart = never`, \
     `restart = backoff(MAX, \"BASE\")`, `blocking`, `after = [\"...\"]`, \
     `ready = started`, `ready = manual`, `ready = completed`, `critical` and `every = \"DUR\"`";

/// What `ready` accepts, for messages.
const READY_FORMS: &str = "`ready = started` (ready once a run starts, the default), \
     `ready = manual` (once the run calls `ctx.ready()`) or \
     `ready = completed` (once it has returned `Ok`)";

/// What `after` accepts, for messages.
const AFTER_FORM: &str = "`after = [\"db\", \"cache\"]` (the names of the services \
     this one starts after)";

/// Examples of duration strings for `every`, for messages.
const DURATIONS: &str = "a duration string such as `\"500ms\"`, `\"30s\"` or `\"1m 30s\"`";

/// Examples of duration strings for `backoff`, where `"0s"` is accepted.
const BACKOFF_DURATIONS: &str =
    "a duration string such as `\"0s\"`, `\"500ms\"`, `\"1s\"` or `\"1m 30s\"`";

/// What `restart` accepts, for messages.
const RESTART_FORMS: &str = "`restart = never` or `restart = backoff(MAX, \"BASE\")`, \
     e.g. `restart = backoff(3, \"1s\")`";

/// The arguments of one `#[supervised(...)]`, each one optional.
pub(crate) struct ServiceAttr {
    /// `name = "..."`, already checked to be non-empty, without whitespace or
    /// control characters.
    pub(crate) name: Option<LitStr>,
    /// `restart = ...`.
    pub(crate) restart: Option<Restart>,
    /// Where the `blocking` flag was given.
    pub(crate) blocking: Option<Span>,
    /// Whether `name` was given with a value that was rejected: then the
    /// service has no name to compare `after` with.
    pub(crate) name_rejected: bool,
    /// `after = [...]`: the names that passed every check, each once.
    pub(crate) after: Vec<LitStr>,
    /// `ready = ...`.
    pub(crate) ready: Option<Readiness>,
    /// Where the `critical` flag was given.
    pub(crate) critical: Option<Span>,
    /// `every = "..."`, in nanoseconds, non-zero.
    pub(crate) every: Option<u64>,
}

impl ServiceAttr {
    /// The service's name: `name = "..."`, or the function's name without
    /// its `r#`.
    pub(crate) fn service_name(&self, ident: &syn::Ident) -> LitStr {
        use syn::ext::IdentExt;
        match &self.name {
            Some(name) => name.clone(),
            None => LitStr::new(&ident.unraw().to_string(), ident.span()),
        }
    }
}

/// The value of `ready = ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// `started`.
    Started,
    /// `manual`.
    Manual,
    /// `completed`.
    Completed,
}

/// The value of `restart = ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restart {
    /// `never`.
    Never,
    /// `backoff(max, "base")`, with the base delay in nanoseconds.
    Backoff {
        /// MAX: how many consecutive failures are restarted.
        max: u32,
        /// BASE as nanoseconds.
        base_nanos: u64,
    },
}

/// Parses the attribute's tokens.
///
/// Returns `None` only when the tokens are not a comma-separated list of
/// `path`, `path = expr` or `path(...)` at all; every other mistake is
/// recorded in `errors` and the argument concerned is left out, so the rest
/// can still be checked.
pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Option<ServiceAttr> {
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(error) => {
            errors.push(syn::Error::new(
                error.span(),
                format!("{error}; `#[supervised]` accepts {VALID_ARGUMENTS}, separated by commas"),
            ));
            return None;
        }
    };

    let mut attr = ServiceAttr {
        name: None,
        restart: None,
        blocking: None,
        name_rejected: false,
        after: Vec::new(),
        ready: None,
        critical: None,
        every: None,
    };
    // Which arguments were seen, even when their value was rejected, so a
    // second occurrence is always reported as such.
    const KEYS: [&str; 7] = [
        "name", "restart", "blocking", "after", "ready", "critical", "every",
    ];
    let mut seen = [false; KEYS.len()];
    // Where `every` and `ready = manual` were given, to report them together.
    let (mut every_meta, mut manual) = (None, false);

    for meta in &metas {
        let path = meta.path();
        let Some(at) = KEYS.iter().position(|key| path.is_ident(key)) else {
            errors.push(syn::Error::new_spanned(
                path,
                format!(
                    "unknown argument `{}`; `#[supervised]` accepts {VALID_ARGUMENTS}",
                    path_text(path)
                ),
            ));
            continue;
        };
        let key = KEYS[at];
        if std::mem::replace(&mut seen[at], true) {
            errors.push(syn::Error::new_spanned(
                meta,
                format!("`{key}` is given twice; each argument of `#[supervised]` may appear at most once"),
            ));
            continue;
        }

        match key {
            "name" => {
                attr.name = parse_name(meta, errors);
                attr.name_rejected = attr.name.is_none();
            }
            "restart" => attr.restart = parse_restart(meta, errors),
            "blocking" => attr.blocking = Some(parse_flag(meta, errors, BLOCKING_USE)),
            "after" => attr.after = parse_after(meta, errors),
            "ready" => {
                attr.ready = parse_ready(meta, errors);
                manual = attr.ready == Some(Readiness::Manual);
            }
            "critical" => attr.critical = Some(parse_flag(meta, errors, CRITICAL_USE)),
            _ => {
                attr.every = parse_every(meta, errors);
                if attr.every.is_some() {
                    every_meta = Some(meta);
                }
            }
        }
    }

    if let (Some(every), true) = (every_meta, manual) {
        errors.push(syn::Error::new_spanned(
            every,
            "`every` cannot be combined with `ready = manual`: a periodic service is called \
             anew every period, so no call is the moment it becomes ready; \
             remove `every`, or use `ready = started` or `ready = completed`",
        ));
    }
    Some(attr)
}

/// The path of an argument as written, for messages.
fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    segments.join("::")
}

/// The value of `key = value`, or an error naming the expected form.
fn name_value<'a>(meta: &'a Meta, errors: &mut Errors, expected: &str) -> Option<&'a Expr> {
    match meta {
        Meta::NameValue(nv) => Some(strip_group(&nv.value)),
        Meta::Path(path) => {
            errors.push(syn::Error::new_spanned(
                path,
                format!("`{}` needs a value: write {expected}", path_text(path)),
            ));
            None
        }
        Meta::List(list) => {
            errors.push(syn::Error::new_spanned(
                list,
                format!(
                    "`{}` is written with `=`, not parentheses: write {expected}",
                    path_text(&list.path)
                ),
            ));
            None
        }
    }
}

/// `name = "..."`: a non-empty string literal without whitespace or control
/// characters.
fn parse_name(meta: &Meta, errors: &mut Errors) -> Option<LitStr> {
    const EXPECTED: &str =
        "`name = \"my-service\"` (a non-empty string without whitespace or control characters)";
    let value = name_value(meta, errors, EXPECTED)?;
    let lit = string_literal(value, errors, || {
        format!("`name` must be a string literal: write {EXPECTED}")
    })?;
    let text = lit.value();
    match name_rule_broken(&text) {
        None => return Some(lit.clone()),
        Some(NameRule::NotEmpty) => errors.push(syn::Error::new_spanned(
            lit,
            "the service name is empty: give a non-empty name without whitespace, \
             e.g. `name = \"ticker\"`, or leave `name` out to use the function's name",
        )),
        Some(NameRule::NoWhitespace) => errors.push(syn::Error::new_spanned(
            lit,
            format!(
                "the service name {:?} contains whitespace: use a name without whitespace, \
                 e.g. {:?}",
                text,
                text.split_whitespace().collect::<Vec<_>>().join("-")
            ),
        )),
        Some(NameRule::NoControl(control)) => {
            let kept: String = text.chars().filter(|c| !c.is_control()).collect();
            let example = if kept.is_empty() { "ticker" } else { &kept };
            errors.push(syn::Error::new_spanned(
                lit,
                format!(
                    "the service name {text:?} contains the control character {control:?}: \
                     use a name without whitespace or control characters, e.g. {example:?}"
                ),
            ));
        }
    }
    None
}

/// A rule of service names (`name = ...`, and the names in `after`).
enum NameRule {
    /// Not empty.
    NotEmpty,
    /// No whitespace.
    NoWhitespace,
    /// No control character: this is the first one found.
    NoControl(char),
}

/// The first rule `text` breaks as a service name, if any.
fn name_rule_broken(text: &str) -> Option<NameRule> {
    if text.is_empty() {
        Some(NameRule::NotEmpty)
    } else if text.chars().any(char::is_whitespace) {
        Some(NameRule::NoWhitespace)
    } else {
        // Whitespace controls (`\n`, `\t`) were caught above; these are the
        // others, such as ESC or NUL, which a terminal or log would act on.
        text.chars()
            .find(|c| c.is_control())
            .map(NameRule::NoControl)
    }
}

/// `after = ["a", "b"]`: an array of distinct service names as string
/// literals. Returns the names that pass every check.
fn parse_after(meta: &Meta, errors: &mut Errors) -> Vec<LitStr> {
    let Some(value) = name_value(meta, errors, AFTER_FORM) else {
        return Vec::new();
    };
    let elems = match value {
        Expr::Array(array) => &array.elems,
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => {
            errors.push(syn::Error::new_spanned(
                lit,
                format!(
                    "`after` takes a list of names in brackets, even for one name: \
                     write `after = [{}]`",
                    lit.to_token_stream()
                ),
            ));
            return Vec::new();
        }
        other => {
            errors.push(syn::Error::new_spanned(
                other,
                format!("`after` takes a list of service names: write {AFTER_FORM}"),
            ));
            return Vec::new();
        }
    };
    let mut names: Vec<LitStr> = Vec::with_capacity(elems.len());
    for elem in elems {
        let Some(lit) = string_literal(strip_group(elem), errors, || {
            "each name in `after` must be a string literal, e.g. `after = [\"db\"]`; \
             constants and expressions are not accepted"
                .to_owned()
        }) else {
            continue;
        };
        let text = lit.value();
        let message = match name_rule_broken(&text) {
            Some(NameRule::NotEmpty) => {
                "a name in `after` is empty: write the name of the service to start after, \
                 e.g. `after = [\"db\"]`"
                    .to_owned()
            }
            Some(NameRule::NoWhitespace) => format!(
                "the name {text:?} in `after` contains whitespace, which no service name \
                 has: write the service's name as declared, e.g. {:?}",
                text.split_whitespace().collect::<Vec<_>>().join("-")
            ),
            Some(NameRule::NoControl(control)) => format!(
                "the name {text:?} in `after` contains the control character {control:?}, \
                 which no service name has: write the service's name as declared"
            ),
            None if names.iter().any(|name| name.value() == text) => {
                format!("{text:?} is named twice in `after`: list each service once")
            }
            None => {
                names.push(lit.clone());
                continue;
            }
        };
        errors.push(syn::Error::new_spanned(lit, message));
    }
    names
}

/// `ready = started | manual | completed`.
fn parse_ready(meta: &Meta, errors: &mut Errors) -> Option<Readiness> {
    let value = name_value(meta, errors, READY_FORMS)?;
    let message = match value {
        Expr::Path(path) if path.qself.is_none() && path.path.get_ident().is_some() => {
            let word = path.path.get_ident().map(ToString::to_string);
            match word.as_deref() {
                Some("started") => return Some(Readiness::Started),
                Some("manual") => return Some(Readiness::Manual),
                Some("completed") => return Some(Readiness::Completed),
                _ => format!(
                    "unknown readiness `{}`; `ready` accepts {READY_FORMS}",
                    path.path.to_token_stream()
                ),
            }
        }
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) if matches!(lit.value().as_str(), "started" | "manual" | "completed") => format!(
            "`ready` takes a bare word, not a string: write `ready = {}`",
            lit.value()
        ),
        _ => format!("`ready` takes a bare word: {READY_FORMS}"),
    };
    errors.push(syn::Error::new_spanned(value, message));
    None
}

/// `every = "DUR"`: a non-zero duration string, parsed now into nanoseconds.
fn parse_every(meta: &Meta, errors: &mut Errors) -> Option<u64> {
    const EXPECTED: &str = "`every = \"30s\"` (the delay between two calls)";
    let value = name_value(meta, errors, EXPECTED)?;
    let lit = string_literal(value, errors, || {
        format!("`every` must be {DURATIONS}, in quotes: write {EXPECTED}")
    })?;
    let nanos = parse_duration(lit, "`every`", DURATIONS, errors)?;
    if nanos == 0 {
        errors.push(syn::Error::new_spanned(
            lit,
            format!(
                "`every` is zero: a periodic service waits this long between two calls, \
                 so it must be more than zero; write {DURATIONS}, or leave `every` out \
                 for a service that is called once"
            ),
        ));
        return None;
    }
    Some(nanos)
}

/// `restart = never` or `restart = backoff(MAX, "BASE")`.
fn parse_restart(meta: &Meta, errors: &mut Errors) -> Option<Restart> {
    let value = name_value(meta, errors, RESTART_FORMS)?;
    match value {
        Expr::Path(path) if path.qself.is_none() && path.path.is_ident("never") => {
            Some(Restart::Never)
        }
        Expr::Call(call) if is_ident(&call.func, "backoff") => parse_backoff(call, errors),
        other => {
            errors.push(syn::Error::new_spanned(
                other,
                format!("`restart` accepts {RESTART_FORMS}"),
            ));
            None
        }
    }
}

/// Whether `expr` is the plain identifier `ident`.
fn is_ident(expr: &Expr, ident: &str) -> bool {
    matches!(strip_group(expr), Expr::Path(path) if path.qself.is_none() && path.path.is_ident(ident))
}

/// The arguments of `backoff(MAX, "BASE")`.
fn parse_backoff(call: &ExprCall, errors: &mut Errors) -> Option<Restart> {
    if call.args.len() != 2 {
        let found = call.args.len();
        let message = format!(
            "`backoff` takes 2 arguments, MAX and BASE, but {found} {} given: \
             write `backoff(MAX, \"BASE\")`, e.g. `backoff(3, \"1s\")`",
            if found == 1 { "was" } else { "were" }
        );
        // Point at what is inside the parentheses, or at them when empty.
        let error = if call.args.is_empty() {
            syn::Error::new(call.paren_token.span.join(), message)
        } else {
            syn::Error::new_spanned(&call.args, message)
        };
        errors.push(error);
        return None;
    }
    let max = parse_max(&call.args[0], errors);
    let base_nanos = parse_base(&call.args[1], errors);
    Some(Restart::Backoff {
        max: max?,
        base_nanos: base_nanos?,
    })
}

/// MAX: an integer literal in `0..=u32::MAX`.
fn parse_max(expr: &Expr, errors: &mut Errors) -> Option<u32> {
    const ACCEPTED: &str = "an integer literal from 0 to 4294967295 (`u32::MAX`), e.g. `3`";
    let message = match strip_group(expr) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) => {
            if !matches!(int.suffix(), "" | "u32") {
                format!(
                    "MAX of `backoff` has the suffix `{}`; write {ACCEPTED}, without a suffix",
                    int.suffix()
                )
            } else {
                match int.base10_parse::<u32>() {
                    Ok(max) => return Some(max),
                    Err(_) => format!(
                        "MAX of `backoff` is too large: `{}` does not fit in a `u32`; write {ACCEPTED}",
                        int.base10_digits()
                    ),
                }
            }
        }
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            ..
        }) => {
            format!("MAX of `backoff` is negative; it counts restarts, so write {ACCEPTED}")
        }
        Expr::Lit(syn::ExprLit {
            lit: Lit::Float(_), ..
        }) => format!("MAX of `backoff` is not an integer; write {ACCEPTED}"),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(_), ..
        }) => format!("MAX of `backoff` is a string; write {ACCEPTED}, without quotes"),
        _ => format!(
            "MAX of `backoff` must be {ACCEPTED}; constants and expressions are not accepted"
        ),
    };
    errors.push(syn::Error::new_spanned(expr, message));
    None
}

/// BASE: a duration string, parsed now into nanoseconds.
fn parse_base(expr: &Expr, errors: &mut Errors) -> Option<u64> {
    let lit = string_literal(strip_group(expr), errors, || {
        format!("BASE of `backoff` must be {BACKOFF_DURATIONS}")
    })?;
    parse_duration(lit, "BASE of `backoff`", BACKOFF_DURATIONS, errors)
}

/// A duration string in nanoseconds; `what` names it in messages, and
/// `accepted` gives examples.
fn parse_duration(lit: &LitStr, what: &str, accepted: &str, errors: &mut Errors) -> Option<u64> {
    let message = match humantime::parse_duration(&lit.value()) {
        Ok(duration) => match u64::try_from(duration.as_nanos()) {
            Ok(nanos) => return Some(nanos),
            Err(_) => format!(
                "{what} is too long: at most {} nanoseconds (about 584 years) \
                 are accepted; write {accepted}",
                u64::MAX
            ),
        },
        Err(error) => {
            format!("{what} is not a valid duration ({error}); write {accepted}")
        }
    };
    errors.push(syn::Error::new(lit.span(), message));
    None
}

/// What the `blocking` flag does, for messages.
const BLOCKING_USE: &str = "write `blocking` to run a plain `fn` on its own thread, \
     or leave it out for an `async fn`";

/// What the `critical` flag does, for messages.
const CRITICAL_USE: &str = "write `critical` to shut the supervisor down when this service \
     ends, or leave it out";

/// A flag without a value (`blocking`, `critical`); `usage` says how to
/// write it.
///
/// A flag given a value still counts as given, so the function is checked as
/// the user meant it and only the value is reported.
fn parse_flag(meta: &Meta, errors: &mut Errors, usage: &str) -> Span {
    let key = path_text(meta.path());
    match meta {
        Meta::Path(path) => path.span(),
        Meta::NameValue(syn::MetaNameValue { value, .. }) => {
            errors.push(syn::Error::new_spanned(
                value,
                format!("`{key}` is a flag and takes no value: {usage}"),
            ));
            meta.path().span()
        }
        Meta::List(list) => {
            errors.push(syn::Error::new(
                list.delimiter.span().join(),
                format!("`{key}` is a flag and takes no arguments: {usage}"),
            ));
            meta.path().span()
        }
    }
}

/// The string literal `expr` is, or an error spanned on it with `message`.
fn string_literal<'a>(
    expr: &'a Expr,
    errors: &mut Errors,
    message: impl FnOnce() -> String,
) -> Option<&'a LitStr> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit),
        other => {
            errors.push(syn::Error::new_spanned(other, message()));
            None
        }
    }
}

/// `expr` without the invisible groups a `macro_rules!` caller may wrap it in.
fn strip_group(mut expr: &Expr) -> &Expr {
    while let Expr::Group(group) = expr {
        expr = &group.expr;
    }
    expr
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse_ok(args: TokenStream) -> ServiceAttr {
        let mut errors = Errors::default();
        let attr = parse(args, &mut errors).expect("parses");
        assert!(errors.is_empty(), "{:?}", errors.messages());
        attr
    }

    fn parse_err(args: TokenStream) -> Vec<String> {
        let mut errors = Errors::default();
        let _ = parse(args, &mut errors);
        errors.messages()
    }

    #[test]
    fn empty_arguments_are_all_defaults() {
        let attr = parse_ok(quote!());
        assert!(attr.name.is_none() && attr.restart.is_none() && attr.blocking.is_none());
        assert!(attr.after.is_empty() && attr.ready.is_none());
        assert!(attr.critical.is_none() && attr.every.is_none());
    }

    #[test]
    fn application_arguments_in_any_order() {
        let attr = parse_ok(quote!(
            every = "1m 30s",
            critical,
            name = "x",
            ready = completed,
            after = ["db", "cache",],
            blocking,
        ));
        let after: Vec<String> = attr.after.iter().map(LitStr::value).collect();
        assert_eq!(after, ["db", "cache"]);
        assert_eq!(attr.ready, Some(Readiness::Completed));
        assert!(attr.critical.is_some() && attr.blocking.is_some());
        assert_eq!(attr.every, Some(90_000_000_000));
        assert!(parse_ok(quote!(after = [])).after.is_empty());
        assert_eq!(
            parse_ok(quote!(ready = started)).ready,
            Some(Readiness::Started)
        );
        assert_eq!(
            parse_ok(quote!(ready = manual, restart = never)).ready,
            Some(Readiness::Manual)
        );
        // Every readiness but `manual` goes with `every`.
        assert_eq!(
            parse_ok(quote!(every = "1ns", ready = started)).every,
            Some(1)
        );
    }

    #[test]
    fn bad_after() {
        let errors = parse_err(quote!(after = "db"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains(r#"write `after = ["db"]`"#),
            "{errors:?}"
        );
        for args in [
            quote!(after = db),
            quote!(after = ("a", "b")),
            quote!(after = 1),
        ] {
            let errors = parse_err(args);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].contains("list of service names"), "{errors:?}");
        }
        assert!(parse_err(quote!(after))[0].contains("needs a value"));
        assert!(parse_err(quote!(after("db")))[0].contains("not parentheses"));

        // Each bad name is reported, the good ones are kept.
        let mut errors = Errors::default();
        let attr = parse(
            quote!(after = ["db", DB, "", "a b", "x\u{1b}", "db", 3, "cache"]),
            &mut errors,
        )
        .unwrap();
        let after: Vec<String> = attr.after.iter().map(LitStr::value).collect();
        assert_eq!(after, ["db", "cache"]);
        let errors = errors.messages();
        assert_eq!(errors.len(), 6, "{errors:?}");
        assert!(errors[0].contains("must be a string literal"), "{errors:?}");
        assert!(errors[1].contains("is empty"), "{errors:?}");
        assert!(errors[2].contains(r#"contains whitespace"#), "{errors:?}");
        assert!(errors[2].contains(r#"e.g. "a-b""#), "{errors:?}");
        assert!(errors[3].contains("control character"), "{errors:?}");
        assert!(errors[4].contains(r#""db" is named twice"#), "{errors:?}");
        assert!(errors[5].contains("must be a string literal"), "{errors:?}");
    }

    #[test]
    fn bad_ready() {
        let errors = parse_err(quote!(ready = manul));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("unknown readiness `manul`"),
            "{errors:?}"
        );
        for word in [
            "`ready = started`",
            "`ready = manual`",
            "`ready = completed`",
        ] {
            assert!(errors[0].contains(word), "{errors:?}");
        }
        let errors = parse_err(quote!(ready = "manual"));
        assert!(errors[0].contains("write `ready = manual`"), "{errors:?}");
        for args in [
            quote!(ready = "soon"),
            quote!(ready = 1),
            quote!(ready = Readiness::Manual),
            quote!(ready = true),
        ] {
            let errors = parse_err(args);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(
                errors[0].contains("bare word") || errors[0].contains("unknown readiness"),
                "{errors:?}"
            );
        }
        assert!(parse_err(quote!(ready))[0].contains("needs a value"));
    }

    #[test]
    fn critical_is_a_flag() {
        let errors = parse_err(quote!(critical = true));
        assert!(
            errors[0].contains("`critical` is a flag and takes no value"),
            "{errors:?}"
        );
        let errors = parse_err(quote!(critical()));
        assert!(
            errors[0].contains("`critical` is a flag and takes no arguments"),
            "{errors:?}"
        );
        let errors = parse_err(quote!(critical, critical));
        assert!(
            errors[0].contains("`critical` is given twice"),
            "{errors:?}"
        );
    }

    #[test]
    fn bad_every() {
        let errors = parse_err(quote!(every = "often"));
        assert!(
            errors[0].contains("`every` is not a valid duration"),
            "{errors:?}"
        );
        for zero in ["0s", "0ms", "0ns"] {
            let errors = parse_err(quote!(every = #zero));
            assert!(errors[0].contains("`every` is zero"), "{errors:?}");
        }
        assert!(parse_err(quote!(every = 30))[0].contains("in quotes"));
        assert!(parse_err(quote!(every = "1000000y"))[0].contains("too long"));
        assert!(parse_err(quote!(every))[0].contains("needs a value"));
    }

    #[test]
    fn every_with_manual_readiness() {
        for args in [
            quote!(every = "30s", ready = manual),
            quote!(ready = manual, critical, every = "30s"),
        ] {
            let errors = parse_err(args);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(
                errors[0].contains("`every` cannot be combined with `ready = manual`"),
                "{errors:?}"
            );
        }
        // A rejected `every` is reported once, for what is wrong with it.
        let errors = parse_err(quote!(every = "0s", ready = manual));
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn new_arguments_given_twice() {
        let errors = parse_err(quote!(
            after = ["a"],
            ready = started,
            every = "1s",
            after = ["b"],
            ready = manual,
            every = "0s"
        ));
        assert_eq!(errors.len(), 3, "{errors:?}");
        for (error, key) in errors.iter().zip(["after", "ready", "every"]) {
            assert!(
                error.contains(&format!("`{key}` is given twice")),
                "{errors:?}"
            );
        }
    }

    #[test]
    fn all_arguments_in_any_order() {
        let attr = parse_ok(quote!(blocking, restart = backoff(3, "1m 30s"), name = "x",));
        assert_eq!(attr.name.unwrap().value(), "x");
        assert!(attr.blocking.is_some());
        assert_eq!(
            attr.restart,
            Some(Restart::Backoff {
                max: 3,
                base_nanos: 90_000_000_000
            })
        );
    }

    #[test]
    fn never_and_extreme_backoffs() {
        assert_eq!(
            parse_ok(quote!(restart = never)).restart,
            Some(Restart::Never)
        );
        assert_eq!(
            parse_ok(quote!(restart = backoff(0, "0s"))).restart,
            Some(Restart::Backoff {
                max: 0,
                base_nanos: 0
            })
        );
        assert_eq!(
            parse_ok(quote!(restart = backoff(4294967295u32, "500ms"))).restart,
            Some(Restart::Backoff {
                max: u32::MAX,
                base_nanos: 500_000_000
            })
        );
    }

    #[test]
    fn unknown_argument_lists_the_valid_ones() {
        let errors = parse_err(quote!(nmae = "x"));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("unknown argument `nmae`"), "{errors:?}");
        for argument in [
            "`blocking`",
            "`after = [",
            "`ready = manual`",
            "`critical`",
            "`every = ",
        ] {
            assert!(errors[0].contains(argument), "{errors:?}");
        }
    }

    #[test]
    fn duplicate_is_reported_once_even_when_values_are_bad() {
        let errors = parse_err(quote!(name = "a", blocking, name = "b", name = ""));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().all(|e| e.contains("`name` is given twice")));
    }

    #[test]
    fn bad_names() {
        assert!(parse_err(quote!(name = ""))[0].contains("empty"));
        assert!(parse_err(quote!(name = "a b"))[0].contains("whitespace"));
        for name in ["a\u{1b}[31m", "nul\0", "bell\u{7}", "c1\u{9b}", "\u{7f}"] {
            let errors = parse_err(quote!(name = #name));
            assert_eq!(errors.len(), 1, "{name:?}: {errors:?}");
            assert!(errors[0].contains("control character"), "{errors:?}");
        }
        // Only the control character is left out of the suggestion.
        let errors = parse_err(quote!(name = "db\u{1b}-main"));
        assert!(errors[0].contains(r#"e.g. "db-main""#), "{errors:?}");
        // Other Unicode is fine.
        assert_eq!(
            parse_ok(quote!(name = "数据库-🚀")).name.unwrap().value(),
            "数据库-🚀"
        );
        assert!(parse_err(quote!(name = 5))[0].contains("string literal"));
        assert!(parse_err(quote!(name))[0].contains("needs a value"));
    }

    #[test]
    fn bad_restarts() {
        for args in [
            quote!(restart = always),
            quote!(restart = backoff),
            quote!(restart = retry(3, "1s")),
            quote!(restart = "never"),
        ] {
            let errors = parse_err(args);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].contains("`restart` accepts"), "{errors:?}");
        }
        assert!(parse_err(quote!(restart = backoff(3)))[0].contains("2 arguments"));
        assert!(parse_err(quote!(restart = backoff()))[0].contains("2 arguments"));
        assert!(parse_err(quote!(restart(never)))[0].contains("not parentheses"));
    }

    #[test]
    fn bad_max() {
        assert!(parse_err(quote!(restart = backoff(-1, "1s")))[0].contains("negative"));
        assert!(parse_err(quote!(restart = backoff(1.5, "1s")))[0].contains("not an integer"));
        assert!(parse_err(quote!(restart = backoff("3", "1s")))[0].contains("is a string"));
        assert!(parse_err(quote!(restart = backoff(4294967296, "1s")))[0].contains("too large"));
        assert!(parse_err(quote!(restart = backoff(3u8, "1s")))[0].contains("suffix"));
        assert!(parse_err(quote!(restart = backoff(N, "1s")))[0].contains("expressions"));
    }

    #[test]
    fn bad_base() {
        let errors = parse_err(quote!(restart = backoff(3, "1 parsec")));
        assert!(errors[0].contains("not a valid duration"), "{errors:?}");
        assert!(parse_err(quote!(restart = backoff(3, 1)))[0].contains("duration string"));
        assert!(parse_err(quote!(restart = backoff(3, "1000000y")))[0].contains("too long"));
    }

    #[test]
    fn both_backoff_arguments_are_checked() {
        assert_eq!(parse_err(quote!(restart = backoff(-1, "soon"))).len(), 2);
    }

    #[test]
    fn blocking_is_a_flag() {
        assert!(parse_err(quote!(blocking = true))[0].contains("takes no value"));
        assert!(parse_err(quote!(blocking(true)))[0].contains("takes no arguments"));
        // The flag still counts, so the function is not also called "not async".
        let mut errors = Errors::default();
        let attr = parse(quote!(blocking = true), &mut errors).unwrap();
        assert!(attr.blocking.is_some());
    }

    #[test]
    fn syntax_error_gives_none() {
        let mut errors = Errors::default();
        assert!(parse(quote!(name = ), &mut errors).is_none());
        assert!(errors.messages()[0].contains("accepts"));
    }
}
