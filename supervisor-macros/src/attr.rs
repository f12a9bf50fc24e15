//! Stage 1: the attribute's arguments (`name = "..."`, `restart = ...`,
//! `blocking`) into a [`ServiceAttr`].

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprCall, Lit, LitStr, Meta, Token};

use crate::Errors;

/// What the list of valid arguments looks like in messages.
const VALID_ARGUMENTS: &str = "`name = \"...\"`, `restart = never`, \
     `restart = backoff(MAX, \"BASE\")` and `blocking`";

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
    };
    // Which arguments were seen, even when their value was rejected, so a
    // second occurrence is always reported as such.
    let (mut seen_name, mut seen_restart, mut seen_blocking) = (false, false, false);

    for meta in &metas {
        let path = meta.path();
        let seen = if path.is_ident("name") {
            &mut seen_name
        } else if path.is_ident("restart") {
            &mut seen_restart
        } else if path.is_ident("blocking") {
            &mut seen_blocking
        } else {
            errors.push(syn::Error::new_spanned(
                path,
                format!(
                    "unknown argument `{}`; `#[supervised]` accepts {VALID_ARGUMENTS}",
                    path_text(path)
                ),
            ));
            continue;
        };
        let key = path_text(path);
        if std::mem::replace(seen, true) {
            errors.push(syn::Error::new_spanned(
                meta,
                format!("`{key}` is given twice; each argument of `#[supervised]` may appear at most once"),
            ));
            continue;
        }

        match key.as_str() {
            "name" => attr.name = parse_name(meta, errors),
            "restart" => attr.restart = parse_restart(meta, errors),
            _ => attr.blocking = Some(parse_flag(meta, errors)),
        }
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
    if text.is_empty() {
        errors.push(syn::Error::new_spanned(
            lit,
            "the service name is empty: give a non-empty name without whitespace, \
             e.g. `name = \"ticker\"`, or leave `name` out to use the function's name",
        ));
        None
    } else if text.chars().any(char::is_whitespace) {
        errors.push(syn::Error::new_spanned(
            lit,
            format!(
                "the service name {:?} contains whitespace: use a name without whitespace, \
                 e.g. {:?}",
                text,
                text.split_whitespace().collect::<Vec<_>>().join("-")
            ),
        ));
        None
    } else if let Some(control) = text.chars().find(|c| c.is_control()) {
        // Whitespace controls (`\n`, `\t`) were caught above; these are the
        // others, such as ESC or NUL, which a terminal or log would act on.
        let kept: String = text.chars().filter(|c| !c.is_control()).collect();
        let example = if kept.is_empty() { "ticker" } else { &kept };
        errors.push(syn::Error::new_spanned(
            lit,
            format!(
                "the service name {text:?} contains the control character {control:?}: \
                 use a name without whitespace or control characters, e.g. {example:?}"
            ),
        ));
        None
    } else {
        Some(lit.clone())
    }
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
    const ACCEPTED: &str =
        "a duration string such as `\"0s\"`, `\"500ms\"`, `\"1s\"` or `\"1m 30s\"`";
    let lit = string_literal(strip_group(expr), errors, || {
        format!("BASE of `backoff` must be {ACCEPTED}")
    })?;
    let message = match humantime::parse_duration(&lit.value()) {
        Ok(duration) => match u64::try_from(duration.as_nanos()) {
            Ok(nanos) => return Some(nanos),
            Err(_) => format!(
                "BASE of `backoff` is too long: at most {} nanoseconds (about 584 years) \
                 are accepted; write {ACCEPTED}",
                u64::MAX
            ),
        },
        Err(error) => {
            format!("BASE of `backoff` is not a valid duration ({error}); write {ACCEPTED}")
        }
    };
    errors.push(syn::Error::new(lit.span(), message));
    None
}

/// `blocking`: a flag without a value.
///
/// A flag given a value still counts as given, so the function is checked as
/// the user meant it and only the value is reported.
fn parse_flag(meta: &Meta, errors: &mut Errors) -> Span {
    match meta {
        Meta::Path(path) => path.span(),
        Meta::NameValue(syn::MetaNameValue { value, .. }) => {
            errors.push(syn::Error::new_spanned(
                value,
                "`blocking` is a flag and takes no value: write `blocking` to run a plain `fn` \
                 on its own thread, or leave it out for an `async fn`",
            ));
            meta.path().span()
        }
        Meta::List(list) => {
            errors.push(syn::Error::new(
                list.delimiter.span().join(),
                "`blocking` is a flag and takes no arguments: write `blocking` to run a plain \
                 `fn` on its own thread, or leave it out for an `async fn`",
            ));
            meta.path().span()
        }
    }
}

/// `expr` without the invisible groups a `macro_rules!` caller may wrap it in.
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
        assert!(errors[0].contains("`blocking`"), "{errors:?}");
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
