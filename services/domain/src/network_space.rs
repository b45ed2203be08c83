//! The network-space aggregate: a tenant's custom networks in one provider's region. Holding
//! them together makes "no two networks overlap" one decision on one history.
//!
//! A network is created (its CIDR valid and free), renamed, and deleted; a deleted network's
//! range is free again.

use std::net::Ipv4Addr;

pub use fleet_events::network_space::{CustomNetwork, NetworkSpaceEvent};
use uuid::Uuid;

use crate::{validate, Aggregate, DomainError};

/// The aggregate id of a provider's region.
pub fn id_of(cloud_provider: &str, region: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!(
            "network-space:{}:{}",
            cloud_provider,
            region.to_ascii_lowercase()
        )
        .as_bytes(),
    )
}

/// An IPv4 block in its network form: the first address and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub first: u32,
    pub prefix: u8,
}

impl Cidr {
    /// Reads `a.b.c.d/n`. Host bits set (`10.0.0.1/16`) are refused with the network form, so
    /// that a caller sees which range they meant; blocks wider than /8 or narrower than /28
    /// cannot hold a cloud network.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let bad = |why: String| DomainError::invalid("cidr", why);
        let (address, prefix) = text
            .split_once('/')
            .ok_or_else(|| bad(format!("{text} is not a CIDR block such as 10.0.0.0/16")))?;
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| bad(format!("{address} is not an IPv4 address")))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| bad(format!("/{prefix} is not a prefix length from 0 to 32")))?;
        if !(8..=28).contains(&prefix) {
            return Err(bad(format!("/{prefix} is outside /8 to /28")));
        }
        let bits = u32::from(address);
        let mask = u32::MAX << (32 - prefix);
        if bits & !mask != 0 {
            return Err(bad(format!(
                "{text} has host bits set; the block is {}/{prefix}",
                Ipv4Addr::from(bits & mask)
            )));
        }
        Ok(Self {
            first: bits,
            prefix,
        })
    }

    pub fn last(self) -> u32 {
        self.first | (u32::MAX >> self.prefix)
    }

    pub fn overlaps(self, other: Cidr) -> bool {
        self.first <= other.last() && other.first <= self.last()
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.first), self.prefix)
    }
}

#[derive(Debug, Clone)]
pub enum NetworkSpaceCommand {
    Create(Box<CustomNetwork>),
    Rename { network_id: String, name: String },
    Delete { network_id: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSpace {
    pub networks: Vec<CustomNetwork>,
}

impl NetworkSpace {
    fn find(&self, network_id: &str) -> Result<&CustomNetwork, DomainError> {
        self.networks
            .iter()
            .find(|n| n.network_id == network_id)
            .ok_or(DomainError::NotFound {
                aggregate: "custom network",
            })
    }
}

impl Aggregate for NetworkSpace {
    const TYPE: &'static str = fleet_events::network_space::AGGREGATE_TYPE;
    type Command = NetworkSpaceCommand;
    type Event = NetworkSpaceEvent;

    fn decide(&self, command: &NetworkSpaceCommand) -> Result<NetworkSpaceEvent, DomainError> {
        Ok(match command {
            NetworkSpaceCommand::Create(network) => {
                validate::required("name", &network.name, 200)?;
                validate::required("cloudProviderRegion", &network.region, 64)?;
                let cidr = Cidr::parse(&network.cidr)?;
                if self
                    .networks
                    .iter()
                    .any(|n| n.network_id == network.network_id)
                {
                    return Err(DomainError::AlreadyExists {
                        aggregate: "custom network",
                    });
                }
                if let Some(taken) = self
                    .networks
                    .iter()
                    .find(|n| Cidr::parse(&n.cidr).is_ok_and(|other| other.overlaps(cidr)))
                {
                    return Err(DomainError::invalid(
                        "cidr",
                        format!(
                            "{cidr} overlaps {} of network {} ({}) in {} {}",
                            taken.cidr,
                            taken.network_id,
                            taken.name,
                            taken.cloud_provider,
                            taken.region
                        ),
                    ));
                }
                NetworkSpaceEvent::CustomNetworkCreated {
                    network: CustomNetwork {
                        cidr: cidr.to_string(),
                        ..(**network).clone()
                    },
                }
            }
            NetworkSpaceCommand::Rename { network_id, name } => {
                validate::required("name", name, 200)?;
                if self.find(network_id)?.name == *name {
                    return Err(DomainError::Unchanged {
                        detail: format!("the network is named {name} already"),
                    });
                }
                NetworkSpaceEvent::CustomNetworkRenamed {
                    network_id: network_id.clone(),
                    name: name.clone(),
                }
            }
            NetworkSpaceCommand::Delete { network_id } => {
                self.find(network_id)?;
                NetworkSpaceEvent::CustomNetworkDeleted {
                    network_id: network_id.clone(),
                }
            }
        })
    }

    fn evolve(&mut self, event: &NetworkSpaceEvent) {
        match event {
            NetworkSpaceEvent::CustomNetworkCreated { network } => {
                self.networks.push(network.clone())
            }
            NetworkSpaceEvent::CustomNetworkRenamed { network_id, name } => {
                if let Some(n) = self
                    .networks
                    .iter_mut()
                    .find(|n| n.network_id == *network_id)
                {
                    n.name = name.clone();
                }
            }
            NetworkSpaceEvent::CustomNetworkDeleted { network_id } => {
                self.networks.retain(|n| n.network_id != *network_id)
            }
        }
    }

    fn exists(&self) -> bool {
        !self.networks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(id: &str, cidr: &str) -> NetworkSpaceCommand {
        NetworkSpaceCommand::Create(Box::new(CustomNetwork {
            network_id: id.into(),
            name: format!("net {id}"),
            cidr: cidr.into(),
            cloud_provider: "aws".into(),
            region: "us-east-1".into(),
            private_link: false,
            customer_id: None,
        }))
    }

    #[test]
    fn cidrs_are_read_in_their_network_form() {
        assert_eq!(
            Cidr::parse("10.0.0.0/16").unwrap().to_string(),
            "10.0.0.0/16"
        );
        for bad in [
            "10.0.0.1/16",
            "10.0.0.0",
            "10.0.0.0/33",
            "300.0.0.0/16",
            "10.0.0.0/4",
            "x/8",
        ] {
            assert!(
                matches!(
                    Cidr::parse(bad),
                    Err(DomainError::Invalid { field: "cidr", .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn overlapping_networks_are_refused_and_freed_ranges_reused() {
        let (_, last) = crate::run_commands::<NetworkSpace>(&[
            network("n1", "10.0.0.0/16"),
            network("n2", "10.0.128.0/17"),
        ]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid { field: "cidr", .. })
        ));
        let (state, last) = crate::run_commands::<NetworkSpace>(&[
            network("n1", "10.0.0.0/16"),
            network("n2", "10.1.0.0/16"),
            NetworkSpaceCommand::Delete {
                network_id: "n1".into(),
            },
            network("n3", "10.0.0.0/20"),
        ]);
        assert!(last.is_ok());
        assert_eq!(state.networks.len(), 2);
        let (_, last) = crate::run_commands::<NetworkSpace>(&[NetworkSpaceCommand::Delete {
            network_id: "n1".into(),
        }]);
        assert!(matches!(last, Err(DomainError::NotFound { .. })));
    }
}
