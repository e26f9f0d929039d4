//! Azure import: every public sample imports (or fails as it must), specific facts each
//! file yields, hand-written shapes with no public sample, and bad input.

use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use toxgraph::graph::{build, BuildOptions, EdgeKind};
use toxgraph::ingest::azure::{self, nsg::Source, ImportOptions};
use toxgraph::ingest::{PortRange, Record};

fn samples() -> PathBuf {
    fixture("azure/samples")
}

fn data_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            data_files(&p, out);
        } else if p.extension().is_some_and(|x| x != "md") {
            out.push(p);
        }
    }
}

/// Imports one file on its own.
fn import_one(file: &Path, keep_going: bool) -> toxgraph::Result<toxgraph::ingest::Snapshot> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(file, dir.path().join(file.file_name().unwrap())).unwrap();
    let opts = ImportOptions {
        keep_going,
        ..Default::default()
    };
    azure::import_dir(dir.path(), &opts).map(|(s, _)| s)
}

fn body(file: &str) -> Value {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(samples().join(file)).unwrap()).unwrap();
    v["responses"]["200"]["body"].clone()
}

#[test]
fn every_sample_imports_and_the_broken_one_says_where() {
    let mut files = Vec::new();
    data_files(&samples(), &mut files);
    files.sort();
    assert!(files.len() >= 20, "{files:?}");
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let strict = import_one(f, false);
        if name.contains("NOT-STRICT-JSON") {
            let err = strict.expect_err("not strict JSON").to_string();
            assert!(err.contains(&format!("{name}:33:4")), "{err}");
            assert!(err.contains("key must be a string"), "{err}");
            assert!(import_one(f, true).is_ok());
        } else if name.starts_with("RoleAssignments_") {
            // Their role definition is not built in and not in the folder.
            let err = strict.expect_err("unresolved role").to_string();
            assert!(err.contains("record 1: role definition `0b5fe924-9a61-425c-96af-cfe6e287ca2d` matches no role definition"), "{err}");
            assert!(import_one(f, true).is_ok());
        } else if name.starts_with("ResourcesFirstPageQuery") {
            // A first page whose skip token promises more: alone, the export is truncated.
            let err = strict.expect_err("truncated paging").to_string();
            assert!(err.contains("more results follow"), "{err}");
            assert!(import_one(f, true).is_ok());
        } else {
            assert!(strict.is_ok(), "{name}: {}", strict.err().unwrap());
        }
    }
}

#[test]
fn nsg_sample_allows_80_from_anywhere() {
    let nsg = body("arm-network/NetworkSecurityGroupGet.2024-05-01.json");
    assert_eq!(
        azure::nsg_allowed(&nsg, Source::Internet).unwrap(),
        vec![PortRange { lo: 80, hi: 80 }]
    );
    // Inside the network the default AllowVnetInBound rule admits everything.
    assert_eq!(
        azure::nsg_allowed(&nsg, Source::VirtualNetwork(None)).unwrap(),
        vec![PortRange::ALL]
    );
}

#[test]
fn effective_nsg_sample_opens_rdp_to_one_address_only() {
    let list = body("arm-network/NetworkInterfaceEffectiveNSGList.2025-03-01.json");
    let entry = &list["value"][0];
    assert!(azure::effective_allowed(entry, Source::Internet)
        .unwrap()
        .is_empty());
    let rdp_source = Source::VirtualNetwork(Some("1.1.1.1".parse().unwrap()));
    assert_eq!(
        azure::effective_allowed(entry, rdp_source).unwrap(),
        vec![PortRange { lo: 3389, hi: 3389 }]
    );
    let other = Source::VirtualNetwork(Some("0.0.0.0".parse().unwrap()));
    assert_eq!(
        azure::effective_allowed(entry, other).unwrap(),
        vec![PortRange { lo: 6579, hi: 6579 }]
    );
}

#[test]
fn role_assignment_sample_gives_this_principal_this_role_on_this_scope() {
    let snap = import_one(
        &samples().join("arm-authorization/RoleAssignments_ListForScope.2022-04-01.json"),
        true,
    )
    .unwrap();
    let found = snap.records.iter().any(|r| {
        matches!(r, Record::RoleAssignment { principal, role, scope, .. }
            if principal == "ce2ce14e-85d7-4629-bdbc-454d0519d987"
                && role.ends_with("/roleDefinitions/0b5fe924-9a61-425c-96af-cfe6e287ca2d")
                && scope == "/subscriptions/a925f2f7-5c63-4b7b-8799-25a5f97bc3b2")
    });
    assert!(found, "{:?}", snap.records);
    let user = snap.records.iter().any(|r| matches!(r, Record::Define(d) if d.id == "ce2ce14e-85d7-4629-bdbc-454d0519d987" && d.kind.as_deref() == Some("user")));
    assert!(user, "principalType User makes a user identity");
}

#[test]
fn assessment_samples_healthy_and_not_applicable() {
    let snap = import_one(
        &samples().join("arm-security/ListAssessments_example.2021-06-01.json"),
        false,
    )
    .unwrap();
    let states: Vec<(String, String)> = snap
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Finding(f) => Some((
                f.resource.rsplit('/').next().unwrap().to_string(),
                f.state.clone(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        vec![
            ("vmss1".into(), "healthy".into()),
            ("vmss2".into(), "notapplicable".into())
        ]
    );
    // Every source field is kept in the finding's props.
    let Some(Record::Finding(f)) = snap
        .records
        .iter()
        .find(|r| matches!(r, Record::Finding(_)))
    else {
        panic!()
    };
    let props: Value = serde_json::from_str(f.props.as_deref().unwrap()).unwrap();
    assert_eq!(props["properties"]["resourceDetails"]["source"], "Azure");
}

#[test]
fn whole_sample_folder_yields_these_counts() {
    let opts = ImportOptions {
        keep_going: true,
        ..Default::default()
    };
    let (snap, report) = azure::import_dir(&samples(), &opts).unwrap();
    assert!(report
        .skipped
        .iter()
        .any(|s| s.reason.contains("JSON Schema")));
    let g = build(snap, &BuildOptions::default()).graph;
    let s = g.stats();
    let by_kind = |k: EdgeKind| s.edges_by_kind[k.as_str()];
    // Seven findings, two with one id (the same assessment in two files): six kept.
    assert_eq!(
        (s.resources, s.defined_resources, s.identities, s.findings),
        (14, 8, 2, 6),
        "{s:?}"
    );
    assert_eq!(
        by_kind(EdgeKind::Exposes),
        1,
        "the sample NIC's VM has a public IP and no NSG in the folder"
    );
    assert_eq!(
        by_kind(EdgeKind::HasRole),
        0,
        "its one role definition is unknown: the assignments grant nothing"
    );
    assert_eq!(by_kind(EdgeKind::UsesIdentity), 0);
}

#[test]
fn handmade_shapes_give_their_combinations() {
    let (code, out, err) = run(
        &["scan", "fixtures/azure/handmade", "--format", "json"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let s = "/subscriptions/11111111-2222-3333-4444-555555555555";
    let vm =
        format!("{s}/resourcegroups/rg-web/providers/microsoft.compute/virtualmachines/vm-web01");
    assert_eq!(
        combination_lines(&out),
        vec![
            format!("TC001\t{vm}\t{s}/resourcegroups/rg-web/providers/microsoft.storage/storageaccounts/stcustomers"),
            format!("TC006\t{vm}\t{s}/resourcegroups/rg-web"),
            format!("TC007\tbbbbbbbb-0000-4000-8000-000000000002\t{s}"),
        ]
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["counts"]["warnings"], 0, "{}", v["warnings"]);
    // One AzureHound membership, and four members in `az ad group member list` output (one
    // of them the same membership, kept once; a device is no member).
    assert_eq!(
        v["counts"]["edges_by_kind"]["member_of"], 4,
        "AzureHound and az group memberships"
    );
    // Exposure follows the NSG: 443 allowed from Internet, 22 denied.
    let tc001 = &v["combinations"][0]["walk"][1];
    assert_eq!(tc001["ports"], serde_json::json!(["443"]));
}

#[test]
fn import_writes_a_native_snapshot_that_scans_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("estate.jsonl");
    let (code, _, err) = run(
        &[
            "import",
            "azure",
            "--from",
            "fixtures/azure/handmade",
            "-o",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let (_, direct, _) = run(
        &["scan", "fixtures/azure/handmade", "--format", "json"],
        None,
    );
    let (code, native, err) = run(&["scan", out.to_str().unwrap(), "--format", "json"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(combination_lines(&direct), combination_lines(&native));
    let first = std::fs::read_to_string(&out).unwrap();
    assert!(
        first.starts_with(r#"{"type":"snapshot","taken_at":"2026-09-30T01:00:00Z""#),
        "{}",
        &first[..120]
    );
}

fn import_dir_with(files: &[(&str, &str)], keep_going: bool) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let mut args = vec!["import", "azure", "--from", dir.path().to_str().unwrap()];
    if keep_going {
        args.push("--keep-going");
    }
    let (code, out, err) = run(&args, None);
    (code, out, err.replace(dir.path().to_str().unwrap(), "DIR"))
}

#[test]
fn bad_exports_name_the_file_and_record() {
    let truncated = (
        "resources.json",
        r#"{"count": 1, "data": [{"id": "/subscriptions/s/resourceGroups/g/providers/A/b/c", "type": "a/b""#,
    );
    let (code, _, err) = import_dir_with(&[truncated], false);
    assert_eq!(code, 2);
    assert!(err.contains("DIR/resources.json:1:"), "{err}");
    assert!(err.contains("is the file truncated?"), "{err}");

    let bad_csv = (
        "alerts.csv",
        "AlertName,ResourceId\n\"broken,/subscriptions/s\n",
    );
    let (code, _, err) = import_dir_with(&[bad_csv], false);
    assert_eq!(code, 2);
    assert!(
        err.contains("malformed CSV: a quoted cell is never closed"),
        "{err}"
    );
    assert!(err.contains("DIR/alerts.csv:2:1"), "{err}");

    let page = (
        "page1.json",
        r#"{"count": 0, "data": [], "skip_token": "ew0KICAiJGlkIjogIjEiLA0K"}"#,
    );
    let (code, _, err) = import_dir_with(&[page], false);
    assert_eq!(code, 2);
    assert!(
        err.contains("more results follow") && err.contains("DIR/page1.json"),
        "{err}"
    );
    let last = (
        "page2.json",
        r#"{"count": 0, "data": [], "skip_token": null}"#,
    );
    let (code, _, err) = import_dir_with(&[page, last], false);
    assert_eq!(code, 0, "{err}");

    let nsg = r#"[{"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/n", "type": "Microsoft.Network/networkSecurityGroups",
      "properties": {"securityRules": [{"name": "odd", "properties": {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "*", "destinationPortRange": "80-x"}}]}}]"#;
    let (code, _, err) = import_dir_with(&[("nsg.json", nsg)], false);
    assert_eq!(code, 2);
    assert!(
        err.contains("DIR/nsg.json")
            && err.contains("record 1: NSG rule `odd` has the port range `80-x`"),
        "{err}"
    );
    let (code, _, err) = import_dir_with(&[("nsg.json", nsg)], true);
    assert_eq!(code, 0);
    assert!(
        err.contains("warnings (--explain-skipped lists them)"),
        "{err}"
    );
}

#[test]
fn demo_tenant_exports_give_the_native_demos_combinations() {
    let (code, out, err) = run(
        &["scan", "fixtures/azure/demo-tenant", "--format", "json"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        combination_lines(&out),
        expected_lines(&fixture("demo/expected.tsv"))
    );
}

/// Regressions found building the demo tenant: deleted principals are not service
/// principals, `az`'s roleDefinitionName resolves a GUID missing from the exports, private
/// endpoints do not open connections, and peering is not transitive.
#[test]
fn importer_regressions_from_the_demo_tenant() {
    let s = "/subscriptions/00000000-0000-4000-8000-000000000001";
    let assignments = format!(
        r#"[{{"principalId": "deleted-1", "principalType": "Unknown", "roleDefinitionId": "{s}/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "scope": "{s}"}},
            {{"principalId": "sp-1", "principalType": "ServicePrincipal", "roleDefinitionId": "{s}/providers/Microsoft.Authorization/roleDefinitions/39bc4728-0917-49c7-9d2c-d95423bc2eb4", "roleDefinitionName": "Security Reader", "scope": "{s}"}}]"#
    );
    let vnet = |name: &str, prefix: &str, peer: Option<&str>| {
        let peering = peer.map_or(String::new(), |p| format!(r#", "virtualNetworkPeerings": [{{"properties": {{"remoteVirtualNetwork": {{"id": "{s}/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/{p}"}}, "peeringState": "Connected"}}}}]"#));
        format!(
            r#"{{"id": "{s}/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/{name}", "type": "Microsoft.Network/virtualNetworks", "properties": {{"subnets": [{{"id": "{s}/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/{name}/subnets/default", "properties": {{"addressPrefix": "{prefix}"}}}}]{peering}}}}}"#
        )
    };
    let nic = |name: &str, net: &str, ip: &str, vm: bool| {
        let owner = if vm {
            format!(
                r#", "virtualMachine": {{"id": "{s}/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/{name}"}}"#
            )
        } else {
            String::new()
        };
        format!(
            r#"{{"id": "{s}/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/nic-{name}", "type": "Microsoft.Network/networkInterfaces", "properties": {{"ipConfigurations": [{{"properties": {{"privateIPAddress": "{ip}", "subnet": {{"id": "{s}/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/{net}/subnets/default"}}}}}}]{owner}}}}}"#
        )
    };
    let pe = format!(
        r#"{{"id": "{s}/resourceGroups/g/providers/Microsoft.Network/privateEndpoints/pe-kv", "type": "Microsoft.Network/privateEndpoints", "properties": {{"privateLinkServiceConnections": [{{"properties": {{"privateLinkServiceId": "{s}/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv"}}}}], "networkInterfaces": [{{"id": "{s}/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/nic-pe"}}]}}}}"#
    );
    let resources = format!(
        "[{}, {}, {}, {}, {}, {}, {}]",
        vnet("hub", "10.0.0.0/16", Some("spoke1")),
        vnet("spoke1", "10.1.0.0/16", Some("spoke2")),
        vnet("spoke2", "10.2.0.0/16", None),
        nic("vm-hub", "hub", "10.0.0.4", true),
        nic("vm-s2", "spoke2", "10.2.0.4", true),
        nic("pe", "hub", "10.0.0.5", false),
        pe
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("assignments.json"), assignments).unwrap();
    std::fs::write(dir.path().join("resources.json"), resources).unwrap();
    let opts = ImportOptions {
        taken_at: Some("2026-09-30T00:00:00Z".into()),
        ..Default::default()
    };
    let (snap, _) =
        azure::import_dir(dir.path(), &opts).expect("a name resolves the unexported GUID");
    let identity = |id: &str| {
        snap.records
            .iter()
            .any(|r| matches!(r, Record::Define(d) if d.id == id))
    };
    assert!(
        !identity("deleted-1"),
        "a deleted principal is not defined as a service principal"
    );
    assert!(identity("sp-1"));
    assert!(snap
        .records
        .iter()
        .any(|r| matches!(r, Record::RoleAssignment { role, .. } if role == "Security Reader")));
    let reaches: Vec<(String, String)> = snap
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Reach { from, to, .. } => Some((
                from.rsplit('/').next().unwrap().to_string(),
                to.rsplit('/').next().unwrap().to_string(),
            )),
            _ => None,
        })
        .collect();
    // vm-hub reaches the key vault through its private endpoint; the endpoint reaches
    // nothing; hub and spoke2 are both peered with spoke1 only, so they do not pair.
    assert_eq!(
        reaches,
        vec![("vm-hub".to_string(), "kv".to_string())],
        "{reaches:?}"
    );
}

fn handmade(file: &str) -> PathBuf {
    fixture("azure/handmade").join(file)
}

/// Imports these files (fixture paths, or names with their text) from one folder, with
/// `taken_at` given so no timestamp warning is needed.
fn import_files(
    fixtures: &[PathBuf],
    inline: &[(&str, &str)],
    keep_going: bool,
) -> (toxgraph::ingest::Snapshot, azure::ImportReport) {
    let dir = tempfile::tempdir().unwrap();
    for f in fixtures {
        std::fs::copy(f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    for (name, text) in inline {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let opts = ImportOptions {
        keep_going,
        taken_at: Some("2026-09-30T00:00:00Z".into()),
        ..Default::default()
    };
    azure::import_dir(dir.path(), &opts).unwrap()
}

fn memberships(snap: &toxgraph::ingest::Snapshot) -> Vec<(String, String)> {
    let mut m: Vec<(String, String)> = snap
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Membership { group, member } => {
                Some((group.to_ascii_lowercase(), member.to_ascii_lowercase()))
            }
            _ => None,
        })
        .collect();
    m.sort();
    m
}

/// The kind each defined identity has, by lowercased id.
fn identity_kinds(snap: &toxgraph::ingest::Snapshot) -> std::collections::BTreeMap<String, String> {
    snap.records
        .iter()
        .filter_map(|r| match r {
            Record::Define(d) if d.def_type == toxgraph::ingest::DefType::Identity => Some((
                d.id.to_ascii_lowercase(),
                d.kind.clone().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

const GROUP: &str = "dddddddd-0000-4000-8000-000000000004";

#[test]
fn group_member_list_named_by_its_group_gives_memberships() {
    let file = handmade(&format!("group-members-{GROUP}.json"));
    let (snap, report) = import_files(&[file], &[], false);
    assert_eq!(
        memberships(&snap),
        vec![
            (GROUP.into(), "5a5a5a5a-0000-4000-8000-000000000008".into()),
            (GROUP.into(), "c0c0c0c0-0000-4000-8000-000000000007".into()),
            (GROUP.into(), "e1e1e1e1-0000-4000-8000-000000000006".into()),
            (GROUP.into(), "eeeeeeee-0000-4000-8000-000000000005".into()),
        ]
    );
    let kinds = identity_kinds(&snap);
    let kind = |id: &str| kinds.get(id).map(String::as_str);
    assert_eq!(kind(GROUP), Some("group"), "the group the file names");
    assert_eq!(kind("eeeeeeee-0000-4000-8000-000000000005"), Some("user"));
    assert_eq!(kind("e1e1e1e1-0000-4000-8000-000000000006"), Some("user"));
    assert_eq!(kind("c0c0c0c0-0000-4000-8000-000000000007"), Some("group"));
    assert_eq!(
        kind("5a5a5a5a-0000-4000-8000-000000000008"),
        Some("service_principal")
    );
    // The device is neither a member nor an identity, and the report says why.
    assert_eq!(kind("d3d3d3d3-0000-4000-8000-000000000009"), None);
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.item == 5 && s.reason.contains("#microsoft.graph.device")),
        "{:?}",
        report.skipped
    );
    assert_eq!(
        report.files[0].shape,
        format!("array, group members of {GROUP} (group id from the file name)")
    );
    assert_eq!((report.files[0].items, report.files[0].used), (5, 4));
}

#[test]
fn directory_objects_without_a_guid_in_their_path_are_principals_only() {
    let text = std::fs::read_to_string(handmade(&format!("group-members-{GROUP}.json"))).unwrap();
    let (snap, report) = import_files(&[], &[("users/members.json", &text)], false);
    assert!(memberships(&snap).is_empty(), "{:?}", snap.records);
    assert_eq!(identity_kinds(&snap).len(), 4, "the four principals");
    assert_eq!(report.files[0].shape, "array");
}

#[test]
fn group_id_from_the_folder_name_and_a_groups_own_object() {
    let g = "0a0a0a0a-0000-4000-8000-00000000000a";
    let members = r##"[{"@odata.type": "#microsoft.graph.servicePrincipal", "id": "0b0b0b0b-0000-4000-8000-00000000000b", "displayName": "id-func-orders", "servicePrincipalType": "ManagedIdentity"}]"##;
    // `az ad group show` saved under the same convention: the group itself, not a member.
    let own = format!(
        r##"{{"@odata.type": "#microsoft.graph.group", "id": "{g}", "displayName": "grp-ops", "securityEnabled": true}}"##
    );
    let (snap, report) = import_files(
        &[],
        &[
            (&format!("{g}/members.json"), members),
            (&format!("groups/group-{g}.json"), &own),
        ],
        false,
    );
    assert_eq!(
        memberships(&snap),
        vec![(g.into(), "0b0b0b0b-0000-4000-8000-00000000000b".into())]
    );
    let kinds = identity_kinds(&snap);
    assert_eq!(kinds[g], "group");
    assert_eq!(
        kinds["0b0b0b0b-0000-4000-8000-00000000000b"], "managed_identity",
        "servicePrincipalType ManagedIdentity"
    );
    let shapes: Vec<&str> = report.files.iter().map(|f| f.shape.as_str()).collect();
    assert!(
        shapes.contains(
            &format!("array, group members of {g} (group id from the folder name)").as_str()
        ),
        "{shapes:?}"
    );
}

#[test]
fn explain_skipped_says_where_the_group_id_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("group-members-{GROUP}.json");
    std::fs::copy(handmade(&name), dir.path().join(&name)).unwrap();
    let (code, _, err) = run(
        &[
            "import",
            "azure",
            "--from",
            dir.path().to_str().unwrap(),
            "--taken-at",
            "2026-09-30T00:00:00Z",
            "--explain-skipped",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "{name}  [array, group members of {GROUP} (group id from the file name)]  5 items, 4 used"
        )),
        "{err}"
    );
}
