//! The server's namespaces: those registered by name, and the children of dynamic namespaces
//! created by the first CONNECT to a name their predicate accepts. Each is created with its
//! cluster side, which is then given the namespace's local side.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{Map, Value};

use crate::cluster::SingleNode;
use crate::config::Config;
use crate::local::Local;
use crate::namespace::{Namespace, NsHandlers};

type NamespacePredicate = Arc<dyn Fn(&str, &Map<String, Value>) -> bool + Send + Sync>;

struct Dynamic {
    predicate: NamespacePredicate,
    handlers: Arc<NsHandlers>,
}

pub(crate) struct Namespaces {
    config: Config,
    by_name: RwLock<HashMap<String, Namespace>>,
    dynamic: RwLock<Vec<Dynamic>>,
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

impl Namespaces {
    pub(crate) fn new(config: Config) -> Self {
        Namespaces {
            config,
            by_name: RwLock::new(HashMap::new()),
            dynamic: RwLock::new(Vec::new()),
        }
    }

    /// The namespace `name`, created (with `handlers`) if it does not exist.
    fn get_or_create(&self, name: &str, handlers: impl FnOnce() -> Arc<NsHandlers>) -> Namespace {
        if let Some(ns) = read(&self.by_name).get(name) {
            return ns.clone();
        }
        let mut map = write(&self.by_name);
        if let Some(ns) = map.get(name) {
            return ns.clone();
        }
        let cluster = self.config.cluster_for(name);
        let ns = Namespace::new(
            name.to_owned(),
            cluster.clone(),
            handlers(),
            self.config.ack_timeout,
            self.config.recovery.clone(),
        );
        cluster.init(Local::of(&ns));
        map.insert(name.to_owned(), ns.clone());
        ns
    }

    /// The namespace `name`, created if it does not exist.
    pub(crate) fn of(&self, name: &str) -> Namespace {
        self.get_or_create(name, Arc::default)
    }

    /// A dynamic namespace: its handlers are those registered on the returned template.
    pub(crate) fn dynamic(
        &self,
        predicate: impl Fn(&str, &Map<String, Value>) -> bool + Send + Sync + 'static,
    ) -> Namespace {
        let handlers: Arc<NsHandlers> = Arc::default();
        write(&self.dynamic).push(Dynamic {
            predicate: Arc::new(predicate),
            handlers: handlers.clone(),
        });
        // A detached namespace object on which to register the shared handlers.
        Namespace::new(
            "(dynamic)".into(),
            Arc::new(SingleNode),
            handlers,
            self.config.ack_timeout,
            None,
        )
    }

    /// The namespace a CONNECT to `name` goes to: a registered one, or a new child of the
    /// first dynamic namespace whose predicate accepts it.
    pub(crate) fn namespace_for(&self, name: &str, auth: &Map<String, Value>) -> Option<Namespace> {
        if let Some(ns) = read(&self.by_name).get(name) {
            return Some(ns.clone());
        }
        let handlers = read(&self.dynamic)
            .iter()
            .find(|d| (d.predicate)(name, auth))
            .map(|d| d.handlers.clone())?;
        Some(self.get_or_create(name, || handlers))
    }
}
