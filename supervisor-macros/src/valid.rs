//! Stage 2: the function's signature checked into a [`ServiceFn`].

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, PathArguments, ReturnType, Signature, Type};

use crate::attr::ServiceAttr;
use crate::Errors;

/// What the expansion needs to know about the user's function.
pub(crate) struct ServiceFn {
    /// The function's name, as written (possibly `r#...`).
    pub(crate) ident: syn::Ident,
    /// Its parameters, in the order they are declared.
    pub(crate) params: Vec<Param>,
    /// Whether it takes a `Context`.
    pub(crate) takes_context: bool,
    /// Whether it is an `async fn`.
    pub(crate) is_async: bool,
    /// Where the return type is written (the function's name without one):
    /// a wrong return type is reported there.
    pub(crate) output_span: Span,
}

/// One accepted parameter of the user's function.
pub(crate) enum Param {
    /// `Context`: the run's context, passed as is.
    Context,
    /// `State<T>`: a clone of the builder's value of type `T`.
    State {
        /// The whole `State<T>` type, as the user wrote it.
        ty: Box<Type>,
        /// `T`, as the user wrote it.
        inner: Box<Type>,
    },
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
    let params = check_inputs(sig, errors);
    let takes_context = params.iter().any(|param| matches!(param, Param::Context));

    let output_span = match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => sig.ident.span(),
    };
    ServiceFn {
        ident: sig.ident.clone(),
        params,
        takes_context,
        is_async: sig.asyncness.is_some(),
        output_span,
    }
}

/// A service cannot wait for itself: its own name in `after` is an error.
///
/// Its name is `name = "..."` or, without one, the function's name; when
/// `name` was given but rejected there is nothing to compare with.
pub(crate) fn check_after(attr: &ServiceAttr, ident: &syn::Ident, errors: &mut Errors) {
    if attr.name_rejected {
        return;
    }
    let own = attr.service_name(ident).value();
    let origin = if attr.name.is_some() {
        "given by `name`"
    } else {
        "the function's name, as no `name` is given"
    };
    for name in attr.after.iter().filter(|name| name.value() == own) {
        errors.push(syn::Error::new_spanned(
            name,
            format!(
                "{own:?} is this service's own name ({origin}): a service cannot start \
                 after itself; remove it from `after`"
            ),
        ));
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
             it takes at most one `Context` and any number of `State<T>`",
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

/// What a parameter may be, for messages.
const ACCEPTED_PARAMETERS: &str = "`ctx: Context` (at most one) and any number of \
     `State<T>`, e.g. `State(db): State<Db>` for a value given to `Builder::state`";

/// At most one `Context` and any number of `State<T>`, in any order; returns
/// the accepted ones in order (the rejected ones are left out).
fn check_inputs(sig: &Signature, errors: &mut Errors) -> Vec<Param> {
    let mut params = Vec::with_capacity(sig.inputs.len());
    let mut has_context = false;
    for input in &sig.inputs {
        let ty = match input {
            FnArg::Receiver(receiver) => {
                errors.push(syn::Error::new_spanned(
                    receiver.self_token,
                    format!(
                        "a `#[supervised]` function cannot take `self`: it must be a free \
                         function; its parameters may be {ACCEPTED_PARAMETERS}"
                    ),
                ));
                continue;
            }
            FnArg::Typed(typed) => &*typed.ty,
        };
        match classify(ty) {
            Ok(Param::Context) if has_context => errors.push(syn::Error::new_spanned(
                ty,
                "a second `Context`: a `#[supervised]` function takes at most one `Context`; \
                 remove this parameter and clone the first one where a second is needed",
            )),
            Ok(param) => {
                has_context |= matches!(param, Param::Context);
                params.push(param);
            }
            Err(error) => errors.push(error),
        }
    }
    params
}

/// What the parameter type `ty` is, or the error that says why it is
/// neither `Context` nor `State<T>`.
fn classify(ty: &Type) -> syn::Result<Param> {
    let ty = strip_group(ty);
    if let Some(last) = last_segment(ty) {
        if last.ident == "Context" {
            return if last.arguments.is_none() {
                Ok(Param::Context)
            } else {
                Err(syn::Error::new_spanned(
                    ty,
                    format!(
                        "`Context` takes no generic arguments: write `ctx: Context`, not `{}`",
                        tokens_text(ty)
                    ),
                ))
            };
        }
        if last.ident == "State" {
            return state_inner(ty, last).map(|inner| Param::State {
                ty: Box::new(ty.clone()),
                inner: Box::new(inner.clone()),
            });
        }
    }
    let message = match ty {
        Type::Reference(reference)
            if last_segment(strip_group(&reference.elem))
                .is_some_and(|last| last.ident == "Context" || last.ident == "State") =>
        {
            format!(
                "a `#[supervised]` function takes its parameters by value, not `{}`: \
                 remove the `{}` (each run gets its own)",
                tokens_text(ty),
                if reference.mutability.is_some() {
                    "&mut"
                } else {
                    "&"
                },
            )
        }
        _ => format!(
            "a parameter of a `#[supervised]` function must be `Context` or `State<T>`, \
             not `{}`; it may take {ACCEPTED_PARAMETERS}",
            tokens_text(ty)
        ),
    };
    Err(syn::Error::new_spanned(ty, message))
}

/// The `T` of `State<T>`, whose last segment is `last`: exactly one type
/// argument, a concrete type.
fn state_inner<'a>(ty: &Type, last: &'a syn::PathSegment) -> syn::Result<&'a Type> {
    const ACCEPTED: &str = "a `#[supervised]` function takes `State<T>`, where `T` is the \
         type of a value given to `Builder::state`; write e.g. `State(db): State<Db>`";
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        // `State(..)` is not even parsed as a parameter type: this is `State`.
        return Err(syn::Error::new_spanned(
            ty,
            format!("`{}` has no type argument: {ACCEPTED}", tokens_text(ty)),
        ));
    };
    match (args.args.len(), args.args.first()) {
        (1, Some(GenericArgument::Type(inner))) => match find_impl(inner.to_token_stream()) {
            None => Ok(inner),
            Some(impl_token) => Err(syn::Error::new_spanned(
                impl_token,
                "the `T` of `State<T>` must be a concrete type: `impl Trait` would make the \
                 function generic, and the supervisor looks the value up by its exact type; \
                 name the type given to `Builder::state`",
            )),
        },
        _ => Err(syn::Error::new_spanned(
            &last.arguments,
            format!(
                "`{}` is not accepted, `State` takes exactly one type argument: {ACCEPTED}",
                tokens_text(ty)
            ),
        )),
    }
}

/// The `impl` of an `impl Trait` anywhere inside `tokens` (in a type, the
/// keyword can mean nothing else).
fn find_impl(tokens: TokenStream) -> Option<proc_macro2::Ident> {
    tokens.into_iter().find_map(|token| match token {
        TokenTree::Ident(ident) if ident == "impl" => Some(ident),
        TokenTree::Group(group) => find_impl(group.stream()),
        _ => None,
    })
}

/// The last segment of a plain path type (no `<T as Trait>::` qualifier),
/// such as `Context`, `supervisor::Context` or `State<Db>`.
fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    }
}

/// `ty` without the invisible groups a `macro_rules!` caller may wrap it in.
fn strip_group(mut ty: &Type) -> &Type {
    while let Type::Group(group) = ty {
        ty = &group.elem;
    }
    ty
}

/// A type as a message shows it: closer to how it is written than the
/// tokens' own spacing (`&State<Db>`, not `& State < Db >`).
fn tokens_text(tokens: &impl ToTokens) -> String {
    let mut text = tokens.to_token_stream().to_string();
    for (spaced, tight) in [
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ::", "::"),
        (":: ", "::"),
        ("& ", "&"),
        (" ,", ","),
    ] {
        text = text.replace(spaced, tight);
    }
    text
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

    /// The parameters as short words: `ctx` or `State<T>` with its `T`.
    fn shapes(service: &ServiceFn) -> Vec<String> {
        service
            .params
            .iter()
            .map(|param| match param {
                Param::Context => "ctx".to_owned(),
                Param::State { inner, .. } => format!("State<{}>", tokens_text(inner)),
            })
            .collect()
    }

    #[test]
    fn accepted_forms() {
        let forms: [(ItemFn, bool, &[&str]); 6] = [
            (
                parse_quote!(
                    async fn f() {}
                ),
                false,
                &[],
            ),
            (
                parse_quote!(
                    async fn f(ctx: Context) {}
                ),
                false,
                &["ctx"],
            ),
            (
                parse_quote!(
                    async fn f(_: supervisor::Context) -> std::io::Result<()> {
                        Ok(())
                    }
                ),
                false,
                &["ctx"],
            ),
            (
                parse_quote!(
                    async fn f(mut _ctx: ::supervisor::Context) {}
                ),
                false,
                &["ctx"],
            ),
            (
                parse_quote!(
                    fn f() {}
                ),
                true,
                &[],
            ),
            (
                parse_quote!(
                    pub(crate) fn r#f(c: Context) -> Result<(), String> {
                        Ok(())
                    }
                ),
                true,
                &["ctx"],
            ),
        ];
        for (func, blocking, expected) in forms {
            let (service, errors) = check(func, blocking);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(shapes(&service), expected);
            assert_eq!(service.takes_context, !expected.is_empty());
            assert_eq!(service.is_async, !blocking);
        }
    }

    #[test]
    fn states_in_any_order_with_any_pattern() {
        for blocking in [false, true] {
            let mut func: ItemFn = parse_quote!(
                fn f(
                    State(db): State<Db>,
                    ctx: Context,
                    _s: supervisor::State<Vec<u8>>,
                    mut cache: ::supervisor::State<std::sync::Arc<Cache>>,
                ) {
                }
            );
            if !blocking {
                func.sig.asyncness = Some(Default::default());
            }
            let (service, errors) = check(func, blocking);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(
                shapes(&service),
                [
                    "State<Db>",
                    "ctx",
                    "State<Vec<u8>>",
                    "State<std::sync::Arc<Cache>>"
                ]
            );
            assert!(service.takes_context);
        }
        let (service, errors) = check(
            parse_quote!(
                async fn f(State(a): State<A>, State(b): State<B>, State(a2): State<A>) {}
            ),
            false,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(shapes(&service), ["State<A>", "State<B>", "State<A>"]);
        assert!(!service.takes_context);
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

    /// The errors for one async `func`.
    fn errors_of(func: ItemFn) -> Vec<String> {
        check(func, false).1
    }

    #[test]
    fn self_is_rejected() {
        let errors = errors_of(parse_quote!(
            async fn f(&self, ctx: Context) {}
        ));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("cannot take `self`"), "{errors:?}");
        assert!(errors[0].contains("State<T>"), "{errors:?}");
    }

    #[test]
    fn other_types_name_both_accepted_ones() {
        for func in [
            parse_quote!(
                async fn f(n: u32) {}
            ),
            parse_quote!(
                async fn f(ctx: <T as X>::Context) {}
            ),
            parse_quote!(
                async fn f(db: Db) {}
            ),
            parse_quote!(
                async fn f(s: impl Fn()) {}
            ),
        ] {
            let errors = errors_of(func);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(
                errors[0].contains("must be `Context` or `State<T>`"),
                "{errors:?}"
            );
        }
        // Each wrong parameter is reported; the right ones are kept.
        let (service, errors) = check(
            parse_quote!(
                async fn f(a: u8, ctx: Context, b: u8, State(s): State<S>) {}
            ),
            false,
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(shapes(&service), ["ctx", "State<S>"]);
    }

    #[test]
    fn context_at_most_once() {
        let errors = errors_of(parse_quote!(
            async fn f(a: Context, State(s): State<S>, b: supervisor::Context, c: Context) {}
        ));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors.iter().all(|e| e.contains("a second `Context`")),
            "{errors:?}"
        );
    }

    #[test]
    fn by_reference_or_with_generics() {
        for func in [
            parse_quote!(
                async fn f(ctx: &Context) {}
            ),
            parse_quote!(
                async fn f(ctx: &mut supervisor::Context) {}
            ),
            parse_quote!(
                async fn f(s: &State<Db>) {}
            ),
        ] {
            let errors = errors_of(func);
            assert!(errors[0].contains("by value"), "{errors:?}");
        }
        let errors = errors_of(parse_quote!(
            async fn f(ctx: Context<u8>) {}
        ));
        assert!(errors[0].contains("no generic arguments"), "{errors:?}");
    }

    #[test]
    fn state_needs_one_concrete_type() {
        for func in [
            parse_quote!(
                async fn f(s: State) {}
            ),
            parse_quote!(
                async fn f(s: supervisor::State) {}
            ),
        ] {
            let errors = errors_of(func);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].contains("has no type argument"), "{errors:?}");
        }
        for func in [
            // Written as a string: rustfmt would drop the empty `<>`.
            syn::parse_str("async fn f(s: State<>) {}").unwrap(),
            parse_quote!(
                async fn f(s: State<A, B>) {}
            ),
            parse_quote!(
                async fn f(s: State<'static>) {}
            ),
            parse_quote!(
                async fn f(s: State<'static, A>) {}
            ),
            parse_quote!(
                async fn f(s: State<3>) {}
            ),
        ] {
            let errors = errors_of(func);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(
                errors[0].contains("exactly one type argument"),
                "{errors:?}"
            );
        }
        for func in [
            parse_quote!(
                async fn f(s: State<impl Clone>) {}
            ),
            parse_quote!(
                async fn f(s: State<Vec<(u8, Box<impl Fn() + Send>)>>) {}
            ),
        ] {
            let errors = errors_of(func);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].contains("concrete type"), "{errors:?}");
        }
    }

    /// The errors of `check_after` for `args` on `func`.
    fn after_errors(args: proc_macro2::TokenStream, func: ItemFn) -> Vec<String> {
        let mut errors = Errors::default();
        let attr = crate::attr::parse(args, &mut errors).unwrap();
        let parse_errors = errors.messages();
        check_after(&attr, &func.sig.ident, &mut errors);
        errors.messages()[parse_errors.len()..].to_vec()
    }

    #[test]
    fn own_name_in_after() {
        use quote::quote;
        let errors = after_errors(
            quote!(name = "api", after = ["db", "api"]),
            parse_quote!(
                async fn serve() {}
            ),
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains(r#""api" is this service's own name (given by `name`)"#),
            "{errors:?}"
        );
        let errors = after_errors(
            quote!(after = ["type"]),
            parse_quote!(
                async fn r#type() {}
            ),
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("the function's name"), "{errors:?}");
        // The function's name is not the service's when `name` is given.
        assert!(after_errors(
            quote!(name = "api", after = ["serve"]),
            parse_quote!(
                async fn serve() {}
            ),
        )
        .is_empty());
        // Nor when `name` is given but rejected: that is the one error.
        assert!(after_errors(
            quote!(name = "", after = ["serve"]),
            parse_quote!(
                async fn serve() {}
            ),
        )
        .is_empty());
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
