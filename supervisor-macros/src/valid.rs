//! Stage 2: the function's signature checked into a [`ServiceFn`].

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType, Signature, Type};

use crate::Errors;

/// What the expansion needs to know about the user's function.
pub(crate) struct ServiceFn {
    /// The function's name, as written (possibly `r#...`).
    pub(crate) ident: syn::Ident,
    /// Whether it takes a `Context`.
    pub(crate) takes_context: bool,
    /// Whether it is an `async fn`.
    pub(crate) is_async: bool,
    /// Where the return type is written (the function's name without one):
    /// a wrong return type is reported there.
    pub(crate) output_span: Span,
}

/// Checks every rule on the signature, recording each broken one.
///
/// `blocking` is whether the attribute says `blocking`, `None` when the
/// arguments could not be read; then `async` is not checked.
pub(crate) fn validate(func: &ItemFn, blocking: Option<bool>, errors: &mut Errors) -> ServiceFn {
    let sig = &func.sig;
    check_qualifiers(sig, errors);
    match (blocking, &sig.asyncness) {
        (Some(false), None) => errors.push(syn::Error::new_spanned(
            sig.fn_token,
            "`#[supervised]` needs an `async fn`: write `async fn`, or add `blocking` \
             (`#[supervised(blocking)]`) to run this plain `fn` on its own OS thread",
        )),
        (Some(true), Some(asyncness)) => errors.push(syn::Error::new_spanned(
            asyncness,
            "a `blocking` service is a plain `fn`: remove `async`, \
             or remove `blocking` to run this `async fn` as an async service",
        )),
        _ => {}
    }
    check_generics(sig, errors);
    let takes_context = check_inputs(sig, errors);

    let output_span = match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => sig.ident.span(),
    };
    ServiceFn {
        ident: sig.ident.clone(),
        takes_context,
        is_async: sig.asyncness.is_some(),
        output_span,
    }
}

/// `const`, `unsafe`, `extern "ABI"` and `...` have no place in a service.
fn check_qualifiers(sig: &Signature, errors: &mut Errors) {
    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new_spanned(
            constness,
            "a `#[supervised]` function cannot be `const`: remove `const` \
             (write `async fn`, or `fn` with `blocking`)",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.push(syn::Error::new_spanned(
            unsafety,
            "a `#[supervised]` function cannot be `unsafe`: the supervisor calls it \
             without any safety contract; remove `unsafe` and use `unsafe` blocks inside",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            "a `#[supervised]` function cannot have an `extern` ABI: remove it \
             and write a plain Rust `async fn` (or `fn` with `blocking`)",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "a `#[supervised]` function cannot be variadic: \
             it takes nothing or one `Context`",
        ));
    }
}

/// The supervisor calls the function with no type arguments.
fn check_generics(sig: &Signature, errors: &mut Errors) {
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a `#[supervised]` function cannot be generic: the supervisor calls it \
             with no type or lifetime arguments; remove the generic parameters",
        ));
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        errors.push(syn::Error::new_spanned(
            where_clause,
            "a `#[supervised]` function cannot have a `where` clause: \
             it is not generic; remove the `where` clause",
        ));
    }
}

/// At most one parameter, of type `Context`; returns whether there is one.
fn check_inputs(sig: &Signature, errors: &mut Errors) -> bool {
    let mut inputs = sig.inputs.iter();
    let Some(first) = inputs.next() else {
        return false;
    };
    match first {
        FnArg::Receiver(receiver) => errors.push(syn::Error::new_spanned(
            receiver.self_token,
            "a `#[supervised]` function cannot take `self`: it must be a free function; \
             take `ctx: Context` or no parameter",
        )),
        FnArg::Typed(typed) => {
            if !is_context(&typed.ty) {
                errors.push(syn::Error::new_spanned(
                    &typed.ty,
                    format!(
                        "the parameter of a `#[supervised]` function must be a \
                         `supervisor::Context` taken by value, not `{}`; \
                         write `ctx: Context` or take no parameter",
                        typed.ty.to_token_stream()
                    ),
                ));
            }
        }
    }
    let extra: Vec<&FnArg> = inputs.collect();
    if !extra.is_empty() {
        let mut tokens = TokenStream::new();
        for (i, arg) in extra.iter().enumerate() {
            if i > 0 {
                <syn::Token![,]>::default().to_tokens(&mut tokens);
            }
            arg.to_tokens(&mut tokens);
        }
        errors.push(syn::Error::new_spanned(
            tokens,
            "a `#[supervised]` function takes at most one parameter, a `Context`; \
             remove the others (share state through statics or a `OnceLock`)",
        ));
    }
    true
}

/// Whether `ty` is a path ending in `Context` without generic arguments,
/// such as `Context` or `supervisor::Context`.
fn is_context(mut ty: &Type) -> bool {
    while let Type::Group(group) = ty {
        ty = &group.elem;
    }
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident == "Context" && last.arguments.is_none()),
        _ => false,
    }
}

/// The function as it can be emitted next to our errors without drawing
/// more errors from the compiler: a C-variadic `...` is only valid in
/// foreign functions, so it is removed.
pub(crate) fn sanitized(mut func: ItemFn) -> ItemFn {
    if func.sig.variadic.take().is_some() && func.sig.inputs.trailing_punct() {
        func.sig.inputs.pop_punct();
    }
    func
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn check(func: ItemFn, blocking: bool) -> (ServiceFn, Vec<String>) {
        let mut errors = Errors::default();
        let service = validate(&func, Some(blocking), &mut errors);
        (service, errors.messages())
    }

    #[test]
    fn accepted_forms() {
        let forms: [(ItemFn, bool, bool); 6] = [
            (
                parse_quote!(
                    async fn f() {}
                ),
                false,
                false,
            ),
            (
                parse_quote!(
                    async fn f(ctx: Context) {}
                ),
                false,
                true,
            ),
            (
                parse_quote!(
                    async fn f(_: supervisor::Context) -> std::io::Result<()> {
                        Ok(())
                    }
                ),
                false,
                true,
            ),
            (
                parse_quote!(
                    async fn f(mut _ctx: ::supervisor::Context) {}
                ),
                false,
                true,
            ),
            (
                parse_quote!(
                    fn f() {}
                ),
                true,
                false,
            ),
            (
                parse_quote!(
                    pub(crate) fn r#f(c: Context) -> Result<(), String> {
                        Ok(())
                    }
                ),
                true,
                true,
            ),
        ];
        for (func, blocking, takes_context) in forms {
            let (service, errors) = check(func, blocking);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(service.takes_context, takes_context);
            assert_eq!(service.is_async, !blocking);
        }
    }

    #[test]
    fn async_must_match_blocking() {
        let (_, errors) = check(
            parse_quote!(
                fn f() {}
            ),
            false,
        );
        assert!(errors[0].contains("needs an `async fn`"), "{errors:?}");
        let (_, errors) = check(
            parse_quote!(
                async fn f() {}
            ),
            true,
        );
        assert!(errors[0].contains("remove `async`"), "{errors:?}");
    }

    #[test]
    fn unknown_blocking_skips_the_async_check() {
        let mut errors = Errors::default();
        validate(
            &parse_quote!(
                fn f() {}
            ),
            None,
            &mut errors,
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn qualifiers_are_rejected() {
        let (_, errors) = check(
            parse_quote!(
                const unsafe extern "C" fn f() {}
            ),
            true,
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        let (_, errors) = check(
            parse_quote!(
                unsafe extern "C" fn f(ctx: Context, ...) {}
            ),
            true,
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[2].contains("variadic"), "{errors:?}");
    }

    #[test]
    fn generics_and_where_clauses_are_rejected() {
        let (_, errors) = check(
            parse_quote!(
                async fn f<T: Send>() {}
            ),
            false,
        );
        assert!(errors[0].contains("generic"), "{errors:?}");
        let (_, errors) = check(
            parse_quote!(
                async fn f()
                where
                    u8: Copy,
                {
                }
            ),
            false,
        );
        assert!(errors[0].contains("`where` clause"), "{errors:?}");
    }

    #[test]
    fn parameters() {
        let (_, errors) = check(
            parse_quote!(
                async fn f(&self) {}
            ),
            false,
        );
        assert!(errors[0].contains("`self`"), "{errors:?}");
        let (_, errors) = check(
            parse_quote!(
                async fn f(ctx: Context, n: u32, m: u8) {}
            ),
            false,
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("at most one parameter"), "{errors:?}");
        for func in [
            parse_quote!(
                async fn f(ctx: &Context) {}
            ),
            parse_quote!(
                async fn f(ctx: Context<u8>) {}
            ),
            parse_quote!(
                async fn f(ctx: u32) {}
            ),
            parse_quote!(
                async fn f(ctx: <T as X>::Context) {}
            ),
        ] {
            let (_, errors) = check(func, false);
            assert!(
                errors[0].contains("must be a `supervisor::Context`"),
                "{errors:?}"
            );
        }
    }

    #[test]
    fn variadic_is_removed_when_emitting_after_errors() {
        let func = sanitized(parse_quote!(
            unsafe extern "C" fn f(a: u8, ...) {}
        ));
        assert!(func.sig.variadic.is_none());
        assert_eq!(func.sig.inputs.len(), 1);
        assert!(!func.sig.inputs.trailing_punct());
    }
}
