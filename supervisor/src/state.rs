//! Application state handed to services: [`State<T>`] parameters, filled
//! from the values given to [`Builder::state`](crate::Builder::state).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// A value of type `T` given to the supervisor with
/// [`Builder::state`](crate::Builder::state), as a parameter of a
/// `#[supervised]` function.
///
/// Each run receives a fresh clone of the value (put shared, mutable things
/// behind an `Arc`: a connection pool, a channel's sender, a cache). The
/// function stays an ordinary function: a test calls it with `State(value)`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use supervisor::{supervised, Builder, State};
///
/// #[derive(Clone, Default)]
/// struct Hits(Arc<AtomicU64>);
///
/// #[supervised(name = "counter")]
/// async fn counter(State(hits): State<Hits>) {
///     hits.0.fetch_add(1, Ordering::SeqCst);
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), supervisor::Error> {
/// let hits = Hits::default();
/// let sup = Builder::new().only(["counter"]).state(hits.clone()).start()?;
/// sup.wait().await;
/// assert_eq!(hits.0.load(Ordering::SeqCst), 1);
///
/// // Called directly, as a unit test would:
/// counter(State(hits.clone())).await;
/// assert_eq!(hits.0.load(Ordering::SeqCst), 2);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct State<T>(pub T);

impl<T> Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for State<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&self.0).finish()
    }
}

/// The values given to the builder, one per type.
#[derive(Clone, Default)]
pub(crate) struct States {
    values: HashMap<TypeId, Value>,
}

/// One value, and its type's name.
#[derive(Clone)]
struct Value {
    value: Arc<dyn Any + Send + Sync>,
    type_name: &'static str,
}

impl States {
    /// Stores `value`, replacing an earlier value of the same type.
    pub(crate) fn insert<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
        self.values.insert(
            TypeId::of::<T>(),
            Value {
                value: Arc::new(value),
                type_name: std::any::type_name::<T>(),
            },
        );
    }

    /// A clone of the value of type `T`.
    pub(crate) fn get<T: Clone + 'static>(&self) -> Option<T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|value| value.value.downcast_ref::<T>())
            .cloned()
    }

    /// Whether a value of the type `id` was given.
    pub(crate) fn contains(&self, id: TypeId) -> bool {
        self.values.contains_key(&id)
    }

    /// The names of the types given, sorted (for error messages).
    pub(crate) fn type_names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.values.values().map(|v| v.type_name).collect();
        names.sort_unstable();
        names
    }
}

impl fmt::Debug for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.type_names()).finish()
    }
}
