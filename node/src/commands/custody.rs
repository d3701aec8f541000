//! `casemesh custody …`: a case's custody timeline (issue #13, item 4) and its export as
//! JSON-LD following the CASE/UCO ontology (item 6), for tools that read chain-of-custody
//! records in that form.

use super::{Out, opt, s, table, typed};
use crate::client::Client;
use anyhow::Context as _;
use casemesh_api_types::{CaseView, CustodyTimeline, EvidenceView};
use casemesh_model::timeline::Proof;
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::PathBuf;

/// `casemesh custody CASE` or `casemesh custody export CASE -o FILE`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct CustodyArgs {
    /// Record id (uuid) or case number: show its custody timeline.
    #[arg(required = true)]
    case: Option<String>,
    #[command(subcommand)]
    command: Option<CustodyCommand>,
}

/// `casemesh custody` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum CustodyCommand {
    /// Write the custody timeline as JSON-LD (CASE/UCO ontology) to a file.
    Export {
        /// Record id (uuid) or case number.
        case: String,
        /// The file to write (`.jsonld`), or `-` for standard output; refused if it exists,
        /// unless `--force`, and refused if it is not a regular file (a device, pipe, socket).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

pub(super) async fn run(args: CustodyArgs, client: &Client, out: Out) -> anyhow::Result<()> {
    match (args.command, args.case) {
        (
            Some(CustodyCommand::Export {
                case,
                output,
                force,
            }),
            _,
        ) => {
            let to_stdout = super::confirm::is_stdout(&output);
            if !to_stdout {
                super::confirm::check_output(&output, force)?;
            }
            let timeline: CustodyTimeline =
                typed(&client.get(&["v1", "cases", &case, "custody"]).await?)?;
            let shown: CaseView = typed(&client.get(&["v1", "cases", &case]).await?)?;
            let doc = case_uco(&timeline, &shown.evidence);
            let bytes = serde_json::to_vec_pretty(&doc)?;
            if to_stdout {
                // The document is the output: `--json` would only add a second one after it.
                crate::out::write_all(&bytes);
                crate::out::write_all(b"\n");
                return Ok(());
            }
            write_new(&output, &bytes, force)?;
            if !out.json(&json!({"path": output, "events": timeline.events.len()}))? {
                outln!(
                    "custody timeline of {} written to {} ({} events, CASE/UCO JSON-LD)",
                    s(&timeline.case_id),
                    output.display(),
                    timeline.events.len()
                );
            }
        }
        (None, Some(case)) => {
            let timeline = client.get(&["v1", "cases", &case, "custody"]).await?;
            if let Some(timeline) = out.answer::<CustodyTimeline>(&timeline)? {
                let rows: Vec<Vec<String>> = timeline
                    .events
                    .iter()
                    .map(|e| {
                        vec![
                            e.at.to_string(),
                            s(&e.kind),
                            s(&e.org),
                            opt(e.user.as_deref()),
                            e.evidence
                                .as_ref()
                                .map_or_else(|| "-".to_owned(), ToString::to_string),
                            match &e.proof {
                                Proof::Signed { signed_by, .. } => format!("signed by {signed_by}"),
                                Proof::Audit { seq, .. } => format!("audit #{seq}"),
                            },
                            s(&e.details),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "TIME", "KIND", "ORG", "USER", "EVIDENCE", "PROOF", "DETAILS",
                    ],
                    &rows,
                );
            }
        }
        (None, None) => anyhow::bail!("name a case: casemesh custody CASE"),
    }
    Ok(())
}

/// Write `bytes` to `path`, refusing to replace an existing file unless `force` (checked
/// again here: a file made since `check_output` is not overwritten).
fn write_new(path: &std::path::Path, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true);
    if force {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let mut file = open.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!("{} exists; pass --force to replace it", path.display())
        } else {
            anyhow::anyhow!("cannot write {}: {e}", path.display())
        }
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// JSON-LD namespaces of the CASE 1.x / UCO 1.x ontologies.
const CONTEXT: [(&str, &str); 8] = [
    ("kb", "urn:casemesh:kb:"),
    (
        "case-investigation",
        "https://ontology.caseontology.org/case/investigation/",
    ),
    (
        "uco-action",
        "https://ontology.unifiedcyberontology.org/uco/action/",
    ),
    (
        "uco-core",
        "https://ontology.unifiedcyberontology.org/uco/core/",
    ),
    (
        "uco-identity",
        "https://ontology.unifiedcyberontology.org/uco/identity/",
    ),
    (
        "uco-observable",
        "https://ontology.unifiedcyberontology.org/uco/observable/",
    ),
    (
        "uco-types",
        "https://ontology.unifiedcyberontology.org/uco/types/",
    ),
    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
];

/// The custody timeline `timeline` (the JSON of `GET /v1/cases/{case}/custody`) as a CASE/UCO
/// JSON-LD graph: the case is a `case-investigation:Investigation`; each evidence item a
/// `uco-observable:File` with its BLAKE3 hash and size and a `case-investigation:ProvenanceRecord`
/// under its display id; each organization a `uco-identity:Organization` and each user a
/// `uco-identity:Person`; each event a `case-investigation:InvestigativeAction` with its start
/// time, performer (the user, else the organization), the organization as participant, the
/// evidence as object, and its proof (audit chain hash or signature) in the description.
fn case_uco(timeline: &CustodyTimeline, evidence: &[EvidenceView]) -> Value {
    let case = &timeline.case;
    let mut graph = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut node = |graph: &mut Vec<Value>, id: String, v: Value| {
        if seen.insert(id) {
            graph.push(v);
        }
    };
    let file_id = |ev: &str| format!("kb:file-{ev}");
    for ev in evidence {
        let id = &ev.id.to_string();
        let hash_id = format!("kb:hash-{id}");
        node(
            &mut graph,
            file_id(id),
            json!({
                "@id": file_id(id),
                "@type": "uco-observable:File",
                "uco-core:name": ev.name,
                "uco-core:hasFacet": [
                    {
                        "@id": format!("kb:file-facet-{id}"),
                        "@type": "uco-observable:FileFacet",
                        "uco-observable:fileName": ev.name,
                        "uco-observable:sizeInBytes": {"@type": "xsd:integer", "@value": ev.size.to_string()},
                    },
                    {
                        "@id": format!("kb:content-facet-{id}"),
                        "@type": "uco-observable:ContentDataFacet",
                        "uco-observable:hash": [{
                            "@id": hash_id,
                            "@type": "uco-types:Hash",
                            "uco-types:hashMethod": "BLAKE3",
                            "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": ev.hash},
                        }],
                    },
                ],
            }),
        );
        node(
            &mut graph,
            format!("kb:provenance-{id}"),
            json!({
                "@id": format!("kb:provenance-{id}"),
                "@type": "case-investigation:ProvenanceRecord",
                "case-investigation:exhibitNumber": ev.display_id,
                "uco-core:object": [{"@id": file_id(id)}],
            }),
        );
    }
    let mut actions = Vec::new();
    for (n, e) in timeline.events.iter().enumerate() {
        let org = &e.org;
        let org_id = format!("kb:org-{}", slug(org));
        node(
            &mut graph,
            org_id.clone(),
            json!({"@id": org_id, "@type": "uco-identity:Organization", "uco-core:name": org}),
        );
        let performer = match &e.user {
            Some(user) => {
                let person = format!("kb:person-{}-{}", slug(org), slug(user));
                node(
                    &mut graph,
                    person.clone(),
                    json!({"@id": person, "@type": "uco-identity:Person", "uco-core:name": user}),
                );
                person
            }
            None => org_id.clone(),
        };
        let proof_text = match &e.proof {
            Proof::Signed {
                signed_by,
                signature,
                wire,
            } => format!("signed by {signed_by}: signature {signature}; statement {wire}"),
            Proof::Audit { seq, hash } => format!("audit entry {seq} (chain hash {hash})"),
        };
        let mut action = json!({
            "@id": format!("kb:action-{case}-{n}"),
            "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": e.kind,
            "uco-core:description": format!("{} — {proof_text}", e.details),
            "uco-action:startTime": {"@type": "xsd:dateTime", "@value": e.at.to_string()},
            "uco-action:performer": {"@id": performer},
            "uco-action:participant": [{"@id": org_id}],
        });
        if let Some(ev) = &e.evidence {
            action["uco-action:object"] = json!([{"@id": file_id(&ev.to_string())}]);
        }
        actions.push(json!({"@id": format!("kb:action-{case}-{n}")}));
        graph.push(action);
    }
    graph.insert(
        0,
        json!({
            "@id": format!("kb:investigation-{case}"),
            "@type": "case-investigation:Investigation",
            "uco-core:name": timeline.case_id,
            "uco-core:object": actions,
        }),
    );
    let context: serde_json::Map<String, Value> = CONTEXT
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    json!({"@context": context, "@graph": graph})
}

/// A name as an IRI-safe fragment: ASCII alphanumerics kept, everything else `_`.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_becomes_an_investigative_action_and_every_item_a_hashed_file() {
        let timeline: CustodyTimeline = serde_json::from_value(json!({
            "case": "7c2e4b1a-9d3f-4e6a-8b5c-1d0e2f3a4b5c", "case_id": "2026-CR-1",
            "events": [
                {"kind": "ingest", "org": "Metro PD", "user": "alice", "at": 1_700_000_000_000u64,
                 "evidence": "5f0e9a4c-3b7d-4b8e-9a41-0c2d6e7f8a90", "details": "added", "proof": {"type": "audit", "seq": 0, "hash": "ab"}},
                {"kind": "receipt", "org": "County DA", "user": null, "at": 1_700_000_100_000u64,
                 "evidence": null, "details": "share s: signed",
                 "proof": {"type": "signed", "signed_by": "12D3", "signature": "cd", "wire": "ef"}},
            ]
        }))
        .unwrap();
        let evidence: Vec<EvidenceView> = serde_json::from_value(json!([{
            "id": "5f0e9a4c-3b7d-4b8e-9a41-0c2d6e7f8a90", "case": "7c2e4b1a-9d3f-4e6a-8b5c-1d0e2f3a4b5c",
            "display_id": "EV-0001", "name": "cctv.mkv", "description": "", "category": null,
            "folder": "", "hash": "00ff".repeat(16), "size": 3,
            "media_type": "video/x-matroska", "added_at": "2023-11-14T22:13:20.000Z",
            "added_by": "alice", "transcripts": [], "do_not_disclose": false,
        }]))
        .unwrap();
        let doc = case_uco(&timeline, &evidence);
        let graph = doc["@graph"].as_array().unwrap();
        let of_type = |t: &str| graph.iter().filter(|n| n["@type"] == t).count();
        assert_eq!(of_type("case-investigation:InvestigativeAction"), 2);
        assert_eq!(of_type("uco-observable:File"), 1);
        assert_eq!(of_type("uco-identity:Organization"), 2);
        assert_eq!(of_type("uco-identity:Person"), 1);
        assert_eq!(graph[0]["uco-core:object"].as_array().unwrap().len(), 2);
        let receipt = graph
            .iter()
            .find(|n| n["uco-core:name"] == "receipt")
            .unwrap();
        assert_eq!(receipt["uco-action:performer"]["@id"], "kb:org-County_DA");
        assert!(
            receipt["uco-core:description"]
                .as_str()
                .unwrap()
                .contains("signed by 12D3")
        );
        assert_eq!(
            receipt["uco-action:startTime"]["@value"],
            "2023-11-14T22:15:00.000Z"
        );
    }
}
