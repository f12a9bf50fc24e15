//! The `#[supervised]` attribute of the [`supervisor`](https://docs.rs/supervisor) crate.
//!
//! Use it through `supervisor::supervised`; this crate is an implementation
//! detail and the code it generates names `::supervisor` only.
//!
//! The macro is a small pipeline, one stage a file:
//!
//! - `attr`: the attribute's arguments into a `ServiceAttr`;
//! - `valid`: the function's signature checked into a `ServiceFn`;
//! - `expand`: the registration tokens.
//!
//! Every stage reports all of its mistakes at once; on any error the user's
//! function is still emitted unchanged next to the `compile_error!`s, so the
//! compiler shows our messages and nothing that follows from them.
#![deny(missing_docs)]

mod attr;
mod expand;
mod valid;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::ToTokens;

/// Declares a supervised service: registers the function with the supervisor
/// of whichever binary links it, and leaves the function itself unchanged
/// (it can still be called directly, e.g. from a unit test).
///
/// ```ignore
/// use supervisor::{supervised, Context};
///
/// #[supervised(name = "ticker", restart = backoff(3, "1s"))]
/// async fn ticker(ctx: Context) -> std::io::Result<()> {
///     ctx.cancelled().await;
///     Ok(())
/// }
///
/// #[supervised] // name = "migrate", restart = never
/// async fn migrate() {}
///
/// #[supervised(blocking)] // a plain fn on its own OS thread
/// fn crunch(ctx: Context) {
///     while !ctx.is_cancelled() { /* work */ }
/// }
/// ```
///
/// The example is not run here because it needs the `supervisor` runtime;
/// see the `supervisor` crate's documentation for runnable examples.
///
/// # Arguments
///
/// In any order, each at most once:
///
/// - `name = "..."`: the service's unique name, non-empty and without
///   whitespace or control characters; by default the function's name.
/// - `restart = never` (the default): run once.
/// - `restart = backoff(MAX, "BASE")`: restart a failed run after BASE,
///   2·BASE, 4·BASE … (each capped at 60 s), at most MAX times in a row.
///   MAX is an integer literal in `0..=u32::MAX`, BASE a duration string such
///   as `"500ms"` or `"1m 30s"`.
/// - `blocking`: the function is a plain `fn`, run on its own OS thread,
///   inside the supervisor's tokio runtime context (`Handle::current()`
///   works there).
///
/// # Accepted functions
///
/// `async fn NAME()` or `async fn NAME(ctx: Context)` (any pattern for the
/// parameter), or a plain `fn` of the same shapes with `blocking`, returning
/// `()` or `Result<(), E>` with `E: Into<Box<dyn Error + Send + Sync>>`.
/// The future of an `async fn` must be `Send + 'static`. Anything else is a
/// compile error pointing at the offending token.
#[proc_macro_attribute]
pub fn supervised(args: TokenStream, item: TokenStream) -> TokenStream {
    supervised_impl(args.into(), item.into()).into()
}

/// The whole macro on `proc_macro2` tokens, so it can be unit-tested.
fn supervised_impl(args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let func = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(func)) => func,
        Ok(other) => {
            let error = syn::Error::new_spanned(
                other,
                "`#[supervised]` applies to a function only: \
                 an `async fn`, or a plain `fn` with `#[supervised(blocking)]`",
            );
            return with_item(error, item);
        }
        // Not even an item: let the compiler report the syntax error itself.
        Err(_) => return item,
    };

    let mut errors = Errors::default();
    let attr = attr::parse(args, &mut errors);
    let blocking = attr.as_ref().map(|attr| attr.blocking.is_some());
    let service = valid::validate(&func, blocking, &mut errors);

    match (errors.finish(), attr) {
        (Ok(()), Some(attr)) => {
            let mut tokens = func.to_token_stream();
            tokens.extend(expand::expand(&attr, &service));
            tokens
        }
        (Err(error), _) => with_item(error, valid::sanitized(func).into_token_stream()),
        // A failed parse always records an error; should one ever not, still
        // answer with a compile error rather than a panic.
        (Ok(()), None) => with_item(
            syn::Error::new(
                proc_macro2::Span::call_site(),
                "`#[supervised]` could not read its arguments; accepted: `name = \"...\"`, \
                 `restart = never`, `restart = backoff(MAX, \"BASE\")`, `blocking`",
            ),
            func.into_token_stream(),
        ),
    }
}

/// The errors as `compile_error!`s, followed by the user's item.
fn with_item(error: syn::Error, item: TokenStream2) -> TokenStream2 {
    let mut tokens = error.to_compile_error();
    tokens.extend(item);
    tokens
}

/// Every error found so far, combined into one.
#[derive(Default)]
struct Errors {
    first: Option<syn::Error>,
}

impl Errors {
    /// Records one more error.
    fn push(&mut self, error: syn::Error) {
        match &mut self.first {
            Some(first) => first.combine(error),
            None => self.first = Some(error),
        }
    }

    /// `Err` with all recorded errors, or `Ok` when there were none.
    fn finish(self) -> syn::Result<()> {
        self.first.map_or(Ok(()), Err)
    }

    /// Whether nothing was recorded.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// The messages recorded, in order.
    #[cfg(test)]
    fn messages(&self) -> Vec<String> {
        self.first
            .iter()
            .flat_map(|error| error.clone().into_iter().map(|e| e.to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn valid_service_keeps_the_function_and_registers_it() {
        let out = supervised_impl(
            quote!(name = "t"),
            quote!(
                async fn t() {}
            ),
        )
        .to_string();
        assert!(out.starts_with("async fn t"), "{out}");
        assert!(out.contains("submit"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn errors_come_with_the_function_and_no_registration() {
        let out = supervised_impl(
            quote!(nmae = "t"),
            quote!(
                fn t(a: u8, b: u8) {}
            ),
        )
        .to_string();
        assert_eq!(out.matches("compile_error").count(), 4, "{out}");
        assert!(out.contains("fn t"), "{out}");
        assert!(!out.contains("submit"), "{out}");
    }

    #[test]
    fn non_function_item_is_rejected() {
        let out = supervised_impl(
            quote!(),
            quote!(
                struct S;
            ),
        )
        .to_string();
        assert!(out.contains("applies to a function only"), "{out}");
        assert!(out.contains("struct S"), "{out}");
    }
}
