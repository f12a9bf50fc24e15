//! Stage 3: the registration of a checked service, as tokens.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::attr::{Readiness, Restart, ServiceAttr};
use crate::valid::{Param, ServiceFn};

/// The code that follows the user's (unchanged) function: a shim with the
/// signature the runtime stores, and the `ServiceSpec` submitted to the
/// registry, inside an anonymous `const` so nothing leaks into the module.
pub(crate) fn expand(attr: &ServiceAttr, service: &ServiceFn) -> TokenStream {
    let private = quote!(::supervisor::__private::v1);
    let ident = &service.ident;

    let name = attr.service_name(ident);
    // The policy as the runtime's own type, the duration already in
    // nanoseconds: nothing is flattened here and rebuilt there.
    let restart = match attr.restart {
        None | Some(Restart::Never) => quote!(#private::RestartPolicy::Never),
        Some(Restart::Backoff { max, base_nanos }) => quote! {
            #private::RestartPolicy::Backoff {
                max: #max,
                base_delay: #private::Duration::from_nanos(#base_nanos),
            }
        },
    };

    let after = &attr.after;
    let ready = match attr.ready {
        None | Some(Readiness::Started) => quote!(#private::Readiness::Started),
        Some(Readiness::Manual) => quote!(#private::Readiness::Manual),
        Some(Readiness::Completed) => quote!(#private::Readiness::Completed),
    };
    let critical = attr.critical.is_some();
    let every = match attr.every {
        None => quote!(::core::option::Option::None),
        Some(nanos) => quote! {
            ::core::option::Option::Some(#private::Duration::from_nanos(#nanos))
        },
    };

    // Each `State<T>` is taken from the context first, while the shim still
    // owns it. The runtime checks every type before it starts anything, so a
    // missing value is for a context that is not a supervisor's: the run
    // then fails at once with the error.
    let missing = if service.is_async {
        quote!(return #private::failed(error))
    } else {
        quote!(return ::core::result::Result::Err(error))
    };
    let mut take_states = TokenStream::new();
    let mut args = Vec::with_capacity(service.params.len());
    let mut state_keys = Vec::new();
    for (at, param) in service.params.iter().enumerate() {
        let (ty, inner) = match param {
            Param::Context => {
                args.push(quote!(__supervised_ctx));
                continue;
            }
            Param::State { ty, inner } => (ty, inner),
        };
        // Spanned on the user's `State<T>` (its first token: a span cannot
        // cover several tokens on stable), so a `T` that does not meet the
        // bounds of `Builder::state` is reported at `T`, and a `State` that
        // is not ours at the parameter's type. The variable is bound and read
        // with that one span (see `returned` below).
        let span = ty.span();
        let var = format_ident!("__supervised_state_{at}", span = span);
        let take = quote_spanned!(span=> ::supervisor::__private::v1::state::<#inner>);
        take_states.extend(quote! {
            let #var = match #take(&__supervised_ctx) {
                ::core::result::Result::Ok(state) => state,
                ::core::result::Result::Err(error) => #missing,
            };
        });
        args.push(quote!(#var));
        state_keys.push(quote_spanned! {span=>
            ::supervisor::__private::v1::StateKey {
                id: ::core::any::TypeId::of::<#inner>,
                name: ::core::any::type_name::<#inner>,
            }
        });
    }
    // Without a `Context` parameter the function is called without the
    // context, which is dropped at once: the service does not watch for
    // shutdown.
    let forget_ctx = if service.takes_context {
        quote!()
    } else {
        quote!(::core::mem::drop(__supervised_ctx);)
    };
    let takes_context = service.takes_context;

    // Spanned on the return type, so a type that is neither `()` nor
    // `Result<(), E>` is reported there by the trait's own message.
    // Every token of these calls carries the span (the crate path too: an
    // expression's span is taken from its first and last tokens). The trait
    // method is called rather than the `into_result` helper so the error has
    // no extra note about the helper's bound.
    //
    // The variable that holds what the function returned is bound and read
    // with this same span. The user's spans may come from different
    // `macro_rules!` expansions (the function's name from the caller, the
    // return type from the macro's body), and a name bound with one would
    // not be seen with the other.
    let returned = syn::Ident::new("__supervised_value", service.output_span);
    let into_result = quote_spanned! {service.output_span=>
        ::supervisor::__private::v1::IntoServiceResult::into_service_result(#returned)
    };

    let (shim, entry) = if service.is_async {
        // Spanned on the function's name, so a future that is not `Send`
        // is blamed on the user's function rather than on the attribute.
        let boxed = quote_spanned! {ident.span()=>
            ::supervisor::__private::v1::box_future(async move {
                let #returned = #ident(#(#args),*).await;
                #into_result
            })
        };
        (
            quote! {
                fn __supervised_factory(__supervised_ctx: #private::Context) -> #private::BoxFuture {
                    #take_states
                    #forget_ctx
                    #boxed
                }
            },
            quote! {
                #private::Entry::Async {
                    takes_context: #takes_context,
                    factory: __supervised_factory,
                }
            },
        )
    } else {
        (
            quote! {
                fn __supervised_run(
                    __supervised_ctx: #private::Context,
                ) -> ::core::result::Result<(), #private::BoxError> {
                    #take_states
                    #forget_ctx
                    let #returned = #ident(#(#args),*);
                    #into_result
                }
            },
            quote! {
                #private::Entry::Blocking {
                    takes_context: #takes_context,
                    run: __supervised_run,
                }
            },
        )
    };

    quote! {
        const _: () = {
            #shim
            ::supervisor::__private::inventory::submit! {
                #private::ServiceSpec {
                    name: #name,
                    restart: #restart,
                    entry: #entry,
                    location: #private::Location {
                        file: ::core::file!(),
                        line: ::core::line!(),
                        column: ::core::column!(),
                        module_path: ::core::module_path!(),
                    },
                    after: &[#(#after),*],
                    ready: #ready,
                    critical: #critical,
                    every: #every,
                    states: &[#(#state_keys),*],
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{attr, valid, Errors};
    use quote::quote;

    fn expand_text(args: TokenStream, func: syn::ItemFn) -> String {
        let mut errors = Errors::default();
        let attr = attr::parse(args, &mut errors).unwrap();
        let service = valid::validate(&func, Some(attr.blocking.is_some()), &mut errors);
        assert!(errors.is_empty(), "{:?}", errors.messages());
        expand(&attr, &service).to_string()
    }

    #[test]
    fn async_with_context_and_backoff() {
        let out = expand_text(
            quote!(restart = backoff(3, "1s")),
            syn::parse_quote!(
                async fn r#ticker(ctx: Context) {}
            ),
        );
        assert!(
            out.contains(
                "restart : :: supervisor :: __private :: v1 :: RestartPolicy :: Backoff { max : 3u32 , base_delay : :: supervisor :: __private :: v1 :: Duration :: from_nanos (1000000000u64) , }"
            ),
            "{out}"
        );
        assert!(out.contains("name : \"ticker\""), "{out}");
        assert!(
            out.contains("Entry :: Async { takes_context : true"),
            "{out}"
        );
        assert!(out.contains("r#ticker (__supervised_ctx) . await"), "{out}");
        assert!(!out.contains("drop"), "{out}");
    }

    #[test]
    fn blocking_without_context_drops_it() {
        let out = expand_text(
            quote!(name = "crunch", blocking),
            syn::parse_quote!(
                fn work() -> std::io::Result<()> {
                    Ok(())
                }
            ),
        );
        assert!(out.contains("name : \"crunch\""), "{out}");
        assert!(
            out.contains("restart : :: supervisor :: __private :: v1 :: RestartPolicy :: Never"),
            "{out}"
        );
        assert!(
            out.contains("Entry :: Blocking { takes_context : false"),
            "{out}"
        );
        assert!(
            out.contains(":: core :: mem :: drop (__supervised_ctx) ;"),
            "{out}"
        );
        assert!(out.contains("work () ;"), "{out}");
    }

    #[test]
    fn states_are_taken_before_the_context_moves() {
        let out = expand_text(
            quote!(),
            syn::parse_quote!(
                async fn api(State(db): State<Db>, ctx: Context, _c: supervisor::State<Cache>) {}
            ),
        );
        let db = out
            .find("let __supervised_state_0 = match :: supervisor :: __private :: v1 :: state :: < Db > (& __supervised_ctx)")
            .expect(&out);
        let cache = out
            .find("let __supervised_state_2 = match :: supervisor :: __private :: v1 :: state :: < Cache > (& __supervised_ctx)")
            .expect(&out);
        let call = out
            .find("api (__supervised_state_0 , __supervised_ctx , __supervised_state_2) . await")
            .expect(&out);
        assert!(db < cache && cache < call, "{out}");
        assert!(
            out.contains(
                "Err (error) => return :: supervisor :: __private :: v1 :: failed (error)"
            ),
            "{out}"
        );
        assert!(out.contains("takes_context : true"), "{out}");
        assert!(
            out.contains(
                "states : & [:: supervisor :: __private :: v1 :: StateKey { id : :: core :: any :: TypeId :: of :: < Db > , name : :: core :: any :: type_name :: < Db > , } , \
                 :: supervisor :: __private :: v1 :: StateKey { id : :: core :: any :: TypeId :: of :: < Cache > , name : :: core :: any :: type_name :: < Cache > , }]"
            ),
            "{out}"
        );
    }

    #[test]
    fn blocking_states_without_context() {
        let out = expand_text(
            quote!(blocking),
            syn::parse_quote!(
                fn stats(State(db): State<Db>) {}
            ),
        );
        let take = out.find("state :: < Db >").expect(&out);
        let drop = out
            .find(":: core :: mem :: drop (__supervised_ctx)")
            .expect(&out);
        assert!(take < drop, "{out}");
        assert!(
            out.contains("Err (error) => return :: core :: result :: Result :: Err (error)"),
            "{out}"
        );
        assert!(out.contains("stats (__supervised_state_0) ;"), "{out}");
        assert!(out.contains("takes_context : false"), "{out}");
    }

    #[test]
    fn no_parameters_no_states() {
        let out = expand_text(
            quote!(),
            syn::parse_quote!(
                async fn f() {}
            ),
        );
        assert!(out.contains("states : & []"), "{out}");
        assert!(!out.contains("__supervised_state"), "{out}");
    }

    #[test]
    fn defaults_of_the_application_arguments() {
        let out = expand_text(
            quote!(),
            syn::parse_quote!(
                async fn f() {}
            ),
        );
        assert!(
            out.contains(
                "after : & [] , ready : :: supervisor :: __private :: v1 :: Readiness :: Started , \
                 critical : false , every : :: core :: option :: Option :: None ,"
            ),
            "{out}"
        );
    }

    #[test]
    fn application_arguments() {
        let out = expand_text(
            quote!(
                after = ["db", "cache"],
                ready = completed,
                critical,
                every = "30s"
            ),
            syn::parse_quote!(
                async fn f() {}
            ),
        );
        assert!(
            out.contains(
                "after : & [\"db\" , \"cache\"] , \
                 ready : :: supervisor :: __private :: v1 :: Readiness :: Completed , \
                 critical : true , \
                 every : :: core :: option :: Option :: Some (:: supervisor :: __private :: v1 :: Duration :: from_nanos (30000000000u64)) ,"
            ),
            "{out}"
        );
        let out = expand_text(
            quote!(ready = manual),
            syn::parse_quote!(
                async fn f() {}
            ),
        );
        assert!(out.contains("Readiness :: Manual"), "{out}");
    }
}
