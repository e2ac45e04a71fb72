//! `--plant BUG` on `weft run` and `weft sweep`: bugs planted on purpose into a scenario's
//! simulation, so tests can prove through the command line that an oracle failure fails the
//! run and that shrinking finds the faults a bug needs. Only builds with the `planted-bugs`
//! feature take the option; elsewhere there is nothing to plant.

use anyhow::Result;
#[cfg(feature = "planted-bugs")]
use anyhow::bail;
#[cfg(feature = "planted-bugs")]
use weft_sim::PlantedBug;
use weft_sim::SimBuilder;

/// The bugs to plant, as given (`NAME` or `NAME=ARG`) and parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plants {
    specs: Vec<String>,
    #[cfg(feature = "planted-bugs")]
    bugs: Vec<PlantedBug>,
}

/// The bugs `--plant` accepts, by name, with what each one's argument is (`None`: it takes
/// none). Not every [`PlantedBug`] is here: `SilentIcmpDrop`, `Misdeliver`,
/// `TcpForeignStream`, `DhcpSameAddress` and `DhcpOutsidePool` are planted by the engine's
/// own tests (`sim/tests`), which build the hosts and workloads they need. A name in this
/// table without an arm below is refused as unknown (the test
/// `plant_names_parse_to_their_bugs_and_back_to_arguments` parses every entry).
#[cfg(feature = "planted-bugs")]
const NAMES: [(&str, Option<&str>); 18] = [
    ("silent-drop", Some("N")),
    ("swallow-before-wire", Some("N")),
    ("silent-duplicate", Some("N")),
    ("corrupt-after-monitor", Some("N")),
    ("bad-ipv4-checksum", Some("N")),
    ("ignore-heal", None),
    ("nondeterminism", Some("N")),
    ("accept-stale-after-retry", None),
    ("tcp-impatient-client", Some("MILLISECONDSms")),
    ("tcp-bad-checksum", Some("N")),
    ("tcp-bad-header", Some("N")),
    ("tcp-ack-unsent", Some("N")),
    ("tcp-beyond-window", Some("N")),
    ("tcp-mss-inflated", None),
    ("tcp-early-fin", Some("N")),
    ("tcp-corrupt-after-monitor", Some("N")),
    ("tcp-reset-after-monitor", Some("N")),
    ("tcp-rst-seq", Some("N")),
];

#[cfg(feature = "planted-bugs")]
fn parse_one(spec: &str) -> Result<PlantedBug> {
    let (name, arg) = match spec.split_once('=') {
        Some((n, a)) => (n, Some(a)),
        None => (spec, None),
    };
    let Some((_, wants)) = NAMES.iter().find(|(n, _)| *n == name) else {
        let known: Vec<String> = NAMES
            .iter()
            .map(|(n, a)| a.map_or_else(|| n.to_string(), |a| format!("{n}={a}")))
            .collect();
        bail!(
            "--plant `{spec}`: unknown bug: expected one of {}",
            known.join(", ")
        );
    };
    let nth = || -> Result<u64> {
        match arg.map(str::parse::<u64>) {
            Some(Ok(n)) => Ok(n),
            _ => bail!("--plant `{spec}`: expected {name}=N, N a frame or segment count from 0"),
        }
    };
    Ok(match (name, wants, arg) {
        (_, None, Some(_)) => bail!("--plant `{spec}`: {name} takes no argument"),
        ("silent-drop", ..) => PlantedBug::SilentDrop { nth: nth()? },
        ("swallow-before-wire", ..) => PlantedBug::SwallowBeforeWire { nth: nth()? },
        ("silent-duplicate", ..) => PlantedBug::SilentDuplicate { nth: nth()? },
        ("corrupt-after-monitor", ..) => PlantedBug::CorruptAfterMonitor { nth: nth()? },
        ("bad-ipv4-checksum", ..) => PlantedBug::BadIpv4Checksum { nth: nth()? },
        ("ignore-heal", ..) => PlantedBug::IgnoreHeal,
        ("nondeterminism", ..) => PlantedBug::Nondeterminism { nth: nth()? },
        ("accept-stale-after-retry", ..) => PlantedBug::AcceptStaleAfterRetry,
        ("tcp-impatient-client", ..) => {
            let ms = arg
                .and_then(|a| a.strip_suffix("ms"))
                .and_then(|n| n.parse::<u64>().ok());
            let Some(ms) = ms else {
                bail!("--plant `{spec}`: expected {name}=MILLISECONDSms, like {name}=500ms");
            };
            PlantedBug::TcpImpatientClient {
                wait: weft_core::Duration::from_millis(ms),
            }
        }
        ("tcp-bad-checksum", ..) => PlantedBug::TcpBadChecksum { nth: nth()? },
        ("tcp-bad-header", ..) => PlantedBug::TcpBadHeader { nth: nth()? },
        ("tcp-ack-unsent", ..) => PlantedBug::TcpAckUnsent { nth: nth()? },
        ("tcp-beyond-window", ..) => PlantedBug::TcpBeyondWindow { nth: nth()? },
        ("tcp-mss-inflated", ..) => PlantedBug::TcpMssInflated,
        ("tcp-early-fin", ..) => PlantedBug::TcpEarlyFin { nth: nth()? },
        ("tcp-corrupt-after-monitor", ..) => PlantedBug::TcpCorruptAfterMonitor { nth: nth()? },
        ("tcp-reset-after-monitor", ..) => PlantedBug::TcpResetAfterMonitor { nth: nth()? },
        ("tcp-rst-seq", ..) => PlantedBug::TcpRstSeq { nth: nth()? },
        _ => bail!("--plant `{spec}`: unknown bug"),
    })
}

impl Plants {
    /// Parses `--plant` values.
    pub fn parse(specs: &[String]) -> Result<Plants> {
        #[cfg(feature = "planted-bugs")]
        {
            let bugs = specs
                .iter()
                .map(|s| parse_one(s))
                .collect::<Result<Vec<_>>>()?;
            Ok(Plants {
                specs: specs.to_vec(),
                bugs,
            })
        }
        #[cfg(not(feature = "planted-bugs"))]
        {
            if let Some(s) = specs.first() {
                anyhow::bail!(
                    "--plant `{s}`: this weft was built without the planted-bugs feature"
                );
            }
            Ok(Plants::default())
        }
    }

    /// True when nothing is planted.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The simulation with the bugs planted.
    pub fn apply(&self, b: SimBuilder) -> SimBuilder {
        #[cfg(feature = "planted-bugs")]
        {
            self.bugs.iter().fold(b, |b, bug| b.plant(*bug))
        }
        #[cfg(not(feature = "planted-bugs"))]
        {
            b
        }
    }

    /// The arguments that plant the same bugs (`--plant SPEC` each), for replay commands.
    pub fn args(&self) -> Vec<String> {
        self.specs
            .iter()
            .flat_map(|s| ["--plant".to_string(), s.clone()])
            .collect()
    }
}

#[cfg(all(test, feature = "planted-bugs"))]
mod tests {
    use super::*;

    #[test]
    fn plant_names_parse_to_their_bugs_and_back_to_arguments() {
        for (name, arg) in NAMES {
            let spec = match arg {
                None => name.to_string(),
                Some("N") => format!("{name}=3"),
                Some(_) => format!("{name}=500ms"),
            };
            assert!(parse_one(&spec).is_ok(), "{spec}");
        }
        let p =
            Plants::parse(&["tcp-impatient-client=500ms".into(), "ignore-heal".into()]).unwrap();
        assert_eq!(
            p.bugs,
            vec![
                PlantedBug::TcpImpatientClient {
                    wait: weft_core::Duration::from_millis(500)
                },
                PlantedBug::IgnoreHeal
            ]
        );
        assert_eq!(
            p.args(),
            [
                "--plant",
                "tcp-impatient-client=500ms",
                "--plant",
                "ignore-heal"
            ]
        );
        for (bad, why) in [
            ("explode", "unknown bug: expected one of silent-drop=N"),
            ("silent-drop", "expected silent-drop=N"),
            ("silent-drop=x", "expected silent-drop=N"),
            ("ignore-heal=1", "ignore-heal takes no argument"),
            (
                "tcp-impatient-client=5s",
                "expected tcp-impatient-client=MILLISECONDSms",
            ),
        ] {
            let e = parse_one(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
