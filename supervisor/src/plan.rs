//! What a supervisor will start, decided before anything starts: the
//! registry checked for duplicate names, the selection (`only`, closed under
//! `after`), the dependency graph checked for unknown names and cycles, and
//! every selected service's `State<T>` types checked against the builder's.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Duplicate, Error};
use crate::spec::ServiceSpec;
use crate::state::States;

/// The services to start, in order of name, and who waits for whom.
pub(crate) struct Plan {
    pub(crate) services: Vec<Planned>,
}

/// One service to start.
pub(crate) struct Planned {
    pub(crate) spec: &'static ServiceSpec,
    /// Positions (in [`Plan::services`]) of the services it starts after.
    pub(crate) after: Vec<usize>,
    /// Positions of every service that depends on it, directly or not: it is
    /// stopped only once all of them have ended.
    pub(crate) dependants: Vec<usize>,
}

/// Builds the plan; any problem is an `Err`, and then nothing starts.
pub(crate) fn plan(
    mut specs: Vec<&'static ServiceSpec>,
    only: Option<&[String]>,
    states: &States,
) -> Result<Plan, Error> {
    specs.sort_by(|a, b| {
        (a.name(), a.file(), a.line(), a.column()).cmp(&(b.name(), b.file(), b.line(), b.column()))
    });
    let by_name = check_duplicates(&specs)?;
    let selected = select(&by_name, only)?;
    let services: Vec<&'static ServiceSpec> = selected.iter().map(|name| by_name[name]).collect();
    let position: BTreeMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(at, spec)| (spec.name(), at))
        .collect();
    // Every name in `after` is selected: `select` closed the selection.
    let after: Vec<Vec<usize>> = services
        .iter()
        .map(|spec| spec.after().iter().map(|name| position[name]).collect())
        .collect();
    if let Some(path) = find_cycle(&after) {
        return Err(Error::DependencyCycle {
            path: path
                .into_iter()
                .map(|at| services[at].name().to_string())
                .collect(),
        });
    }
    check_states(&services, states)?;
    let dependants = dependants(&after);
    Ok(Plan {
        services: services
            .into_iter()
            .zip(after)
            .zip(dependants)
            .map(|((spec, after), dependants)| Planned {
                spec,
                after,
                dependants,
            })
            .collect(),
    })
}

/// Names declared more than once, over the whole registry.
fn check_duplicates(
    specs: &[&'static ServiceSpec],
) -> Result<BTreeMap<&'static str, &'static ServiceSpec>, Error> {
    let mut by_name: BTreeMap<&'static str, Vec<&'static ServiceSpec>> = BTreeMap::new();
    for spec in specs {
        by_name.entry(spec.name()).or_default().push(spec);
    }
    let duplicates: Vec<Duplicate> = by_name
        .iter()
        .filter(|(_, specs)| specs.len() > 1)
        .map(|(name, specs)| Duplicate {
            name: (*name).to_string(),
            locations: specs.iter().map(|s| s.location()).collect(),
        })
        .collect();
    if !duplicates.is_empty() {
        return Err(Error::DuplicateNames { duplicates });
    }
    Ok(by_name
        .into_iter()
        .map(|(name, specs)| (name, specs[0]))
        .collect())
}

/// The names to start: those `only` names (all without it), plus what they
/// need through `after`, transitively.
fn select(
    by_name: &BTreeMap<&'static str, &'static ServiceSpec>,
    only: Option<&[String]>,
) -> Result<BTreeSet<&'static str>, Error> {
    let mut wanted: Vec<&'static str> = match only {
        None => by_name.keys().copied().collect(),
        Some(only) => {
            let mut unknown: Vec<String> = only
                .iter()
                .filter(|name| !by_name.contains_key(name.as_str()))
                .cloned()
                .collect();
            if !unknown.is_empty() {
                unknown.sort();
                unknown.dedup();
                return Err(Error::UnknownServices {
                    unknown,
                    known: by_name.keys().map(|name| (*name).to_string()).collect(),
                });
            }
            by_name
                .keys()
                .copied()
                .filter(|name| only.iter().any(|o| o == name))
                .collect()
        }
    };
    let mut selected = BTreeSet::new();
    while let Some(name) = wanted.pop() {
        if !selected.insert(name) {
            continue;
        }
        for dependency in by_name[name].after() {
            match by_name.get_key_value(dependency) {
                Some((dependency, _)) => wanted.push(dependency),
                None => {
                    return Err(Error::UnknownDependency {
                        service: name.to_string(),
                        dependency: (*dependency).to_string(),
                        known: by_name.keys().map(|name| (*name).to_string()).collect(),
                    })
                }
            }
        }
    }
    Ok(selected)
}

/// A cycle as the path that closes it (`a -> b -> a`, as positions), found
/// by a depth-first walk in order of name.
fn find_cycle(after: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; after.len()];
    for root in 0..after.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // The path from `root`, each entry with the next edge to follow.
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::OnPath;
        while let Some(&mut (node, ref mut edge)) = path.last_mut() {
            let Some(&next) = after[node].get(*edge) else {
                marks[node] = Mark::Done;
                path.pop();
                continue;
            };
            *edge += 1;
            match marks[next] {
                Mark::New => {
                    marks[next] = Mark::OnPath;
                    path.push((next, 0));
                }
                Mark::OnPath => {
                    let start = path.iter().position(|&(n, _)| n == next).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[start..].iter().map(|&(n, _)| n).collect();
                    cycle.push(next);
                    return Some(cycle);
                }
                Mark::Done => {}
            }
        }
    }
    None
}

/// For each service, every service that depends on it, directly or not.
fn dependants(after: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut direct = vec![Vec::new(); after.len()];
    for (service, dependencies) in after.iter().enumerate() {
        for &dependency in dependencies {
            direct[dependency].push(service);
        }
    }
    (0..after.len())
        .map(|service| {
            let mut seen = BTreeSet::new();
            let mut stack = direct[service].clone();
            while let Some(next) = stack.pop() {
                if seen.insert(next) {
                    stack.extend(&direct[next]);
                }
            }
            seen.into_iter().collect()
        })
        .collect()
}

/// Every `State<T>` a selected service takes was given to the builder.
fn check_states(services: &[&'static ServiceSpec], states: &States) -> Result<(), Error> {
    for spec in services {
        for key in spec.states {
            if !states.contains((key.id)()) {
                return Err(Error::MissingState {
                    service: spec.name().to_string(),
                    type_name: (key.name)(),
                    given: states.type_names(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_found_from_any_member_and_shown_closed() {
        // 0 -> 1 -> 2 -> 0, and 3 -> 0 outside the cycle.
        let after = vec![vec![1], vec![2], vec![0], vec![0]];
        assert_eq!(find_cycle(&after), Some(vec![0, 1, 2, 0]));
        assert_eq!(find_cycle(&[vec![0]]), Some(vec![0, 0]));
        assert_eq!(find_cycle(&[vec![1], vec![], vec![0, 1]]), None);
    }

    #[test]
    fn dependants_are_transitive() {
        // 2 after 1 after 0; 3 after 0.
        let after = vec![vec![], vec![0], vec![1], vec![0]];
        assert_eq!(
            dependants(&after),
            vec![vec![1, 2, 3], vec![2], vec![], vec![]]
        );
    }
}
