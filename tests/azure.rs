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
                f.state.to_string(),
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
                d.kind.as_deref().unwrap_or_default().to_string(),
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
fn a_directory_object_without_a_text_id_is_a_warning_naming_file_and_record() {
    let text = r##"[{"@odata.type": "#microsoft.graph.user", "id": 42}, {"@odata.type": "#microsoft.graph.user", "id": "u-1"}]"##;
    let (snap, _) = import_files(&[], &[(&format!("members-{GROUP}.json"), text)], false);
    assert_eq!(memberships(&snap), vec![(GROUP.into(), "u-1".into())]);
    let warnings: Vec<String> = snap
        .warnings
        .iter()
        .map(|w| format!("{}: {}", w.file.rsplit('/').next().unwrap(), w.message))
        .collect();
    assert_eq!(
        warnings,
        vec![format!(
            "members-{GROUP}.json: record 1: directory object without a text `id`; skipped"
        )]
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

const SUB: &str = "/subscriptions/11111111-2222-3333-4444-555555555555";

/// The AzureHound view of the hand-made estate, with the custom role it cannot export.
fn hound_estate() -> (toxgraph::ingest::Snapshot, azure::ImportReport) {
    import_files(
        &[
            handmade("azurehound-rm.json"),
            handmade("az-role-definition-list.json"),
        ],
        &[],
        false,
    )
}

fn definition<'a>(
    snap: &'a toxgraph::ingest::Snapshot,
    id: &str,
) -> &'a toxgraph::ingest::Definition<'static> {
    snap.records
        .iter()
        .find_map(|r| match r {
            Record::Define(d) if d.id.eq_ignore_ascii_case(id) => Some(d),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{id} is not defined: {:?}", snap.records))
}

#[test]
fn azurehound_vm_gives_the_resource_its_identity_and_uses_identity() {
    let (snap, _) = hound_estate();
    let vm =
        format!("{SUB}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/vm-web01");
    let d = definition(&snap, &vm);
    assert_eq!(d.kind.as_deref(), Some("Microsoft.Compute/virtualMachines"));
    assert_eq!(d.name.as_deref(), Some("vm-web01"));
    let mi = definition(&snap, "aaaaaaaa-0000-4000-8000-000000000001");
    assert_eq!(mi.kind.as_deref(), Some("managed_identity"));
    let attached: Vec<String> = mi
        .attached_to
        .iter()
        .flatten()
        .map(|a| a.to_ascii_lowercase())
        .collect();
    assert_eq!(attached, vec![vm.to_ascii_lowercase()]);
    let g = build(snap, &BuildOptions::default()).graph;
    assert_eq!(g.stats().edges_by_kind[EdgeKind::UsesIdentity.as_str()], 1);
}

#[test]
fn azurehound_key_vault_and_storage_account_are_resources() {
    let (snap, _) = hound_estate();
    let kv = definition(
        &snap,
        &format!("{SUB}/resourceGroups/rg-web/providers/Microsoft.KeyVault/vaults/kv-web"),
    );
    assert_eq!(kv.kind.as_deref(), Some("Microsoft.KeyVault/vaults"));
    let st = definition(
        &snap,
        &format!(
            "{SUB}/resourceGroups/rg-web/providers/Microsoft.Storage/storageAccounts/stcustomers"
        ),
    );
    assert_eq!(
        st.kind.as_deref(),
        Some("Microsoft.Storage/storageAccounts")
    );
    let props: Value = serde_json::from_str(st.props.as_ref().unwrap().get()).unwrap();
    assert_eq!(props["sensitivity"], "high", "tag Sensitivity: High");
    assert_eq!(
        props["publicNetworkAccess"], "Disabled",
        "AzureHound writes it as properties.availabilitySet"
    );
    // Both deny public traffic: nothing is exposed.
    assert!(!snap
        .records
        .iter()
        .any(|r| matches!(r, Record::Exposure { .. })));
}

#[test]
fn azurehound_scopes_nest_through_management_group_descendants() {
    let (snap, report) = hound_estate();
    let mg = "/providers/Microsoft.Management/managementGroups/mg-contoso";
    let d = definition(&snap, mg);
    assert_eq!(
        (d.def_type, d.kind.as_deref(), d.parent.as_deref()),
        (
            toxgraph::ingest::DefType::Scope,
            Some("management_group"),
            None
        )
    );
    let d = definition(&snap, SUB);
    assert_eq!(d.kind.as_deref(), Some("subscription"));
    assert!(
        d.parent
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case(mg)),
        "the descendant gives the parent: {:?}",
        d.parent
    );
    let tags = d.tags.clone().unwrap_or_default();
    assert_eq!(tags, vec![("env".into(), "prod".into())]);
    let d = definition(&snap, &format!("{SUB}/resourceGroups/rg-web"));
    assert_eq!(d.kind.as_deref(), Some("resource_group"));
    assert_eq!(
        snap.meta.tenant.as_deref(),
        Some("99999999-0000-4000-8000-000000000000")
    );
    // What is not read is listed, with why.
    let skipped: Vec<(usize, &str)> = report
        .skipped
        .iter()
        .map(|s| (s.item, s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(skipped[0].1.contains("tenant other than the one collected"));
    assert!(skipped[1].1.contains("`AZDevice` is not read"));
    assert!(skipped[2]
        .1
        .contains("`AZRoleAssignment` is not read: Entra ID directory role"));
}

#[test]
fn azurehound_role_assignment_lists_give_each_principal_its_role_on_its_scope() {
    let (snap, _) = hound_estate();
    let mut got: Vec<(String, String, String)> = snap
        .records
        .iter()
        .filter_map(|r| match r {
            Record::RoleAssignment {
                principal,
                role,
                scope,
                ..
            } => Some((
                principal.to_ascii_lowercase(),
                role.rsplit('/').next().unwrap().to_ascii_lowercase(),
                scope.to_ascii_lowercase(),
            )),
            _ => None,
        })
        .collect();
    got.sort();
    let rg = format!("{SUB}/resourcegroups/rg-web");
    // The resource group's and the key vault's lists repeat inherited assignments: kept once.
    assert_eq!(
        got,
        vec![
            (
                "aaaaaaaa-0000-4000-8000-000000000001".into(),
                "ba92f5b4-2d11-453d-a403-e96b0029c9fe".into(),
                rg.clone()
            ),
            (
                "bbbbbbbb-0000-4000-8000-000000000002".into(),
                "cccccccc-0000-4000-8000-000000000003".into(),
                SUB.into()
            ),
            (
                "dddddddd-0000-4000-8000-000000000004".into(),
                "acdd72a7-3385-48ef-bd42-f606fba81ae7".into(),
                rg
            ),
        ]
    );
    // AzureHound keeps no principal type: a principal no other item describes is taken as
    // a service principal, and the managed identity stays one.
    let kinds = identity_kinds(&snap);
    assert_eq!(
        kinds["bbbbbbbb-0000-4000-8000-000000000002"],
        "service_principal"
    );
    assert_eq!(
        kinds["aaaaaaaa-0000-4000-8000-000000000001"],
        "managed_identity"
    );
    let g = build(snap, &BuildOptions::default()).graph;
    assert_eq!(g.stats().edges_by_kind[EdgeKind::HasRole.as_str()], 3);
}

/// An AzureHound folder and the ARM exports of the same estate give the same records, ids
/// compared case-insensitively (AzureHound v3 upper-cases them); AzureHound has no network
/// data, so its resources are a subset.
#[test]
fn azurehound_folder_gives_the_same_records_as_the_arm_exports() {
    let (hound, _) = import_files(
        &[
            handmade("azurehound.json"),
            handmade("azurehound-rm.json"),
            handmade("az-role-definition-list.json"),
        ],
        &[],
        false,
    );
    let (arm, _) = import_files(
        &[
            handmade("azurehound.json"),
            handmade("az-graph-resourcecontainers.json"),
            handmade("az-graph-resources.json"),
            handmade("az-role-assignment-list.json"),
            handmade("az-role-definition-list.json"),
        ],
        &[],
        false,
    );
    type Facts = std::collections::BTreeSet<String>;
    let lower = |s: &Option<std::borrow::Cow<str>>| s.as_deref().unwrap_or("").to_ascii_lowercase();
    let facts = |snap: &toxgraph::ingest::Snapshot| -> (Facts, Facts) {
        let mut graph = Facts::new();
        let mut resources = Facts::new();
        for r in &snap.records {
            let fact = match r {
                Record::Define(d) => {
                    let props: Value = d
                        .props
                        .as_ref()
                        .map(|p| serde_json::from_str(p.get()).unwrap())
                        .unwrap_or(Value::Null);
                    let mut attached: Vec<String> = d
                        .attached_to
                        .iter()
                        .flatten()
                        .map(|a| a.to_ascii_lowercase())
                        .collect();
                    attached.sort();
                    let fact = format!(
                        "{:?} {} {} parent={} tags={:?} sensitivity={} attached={attached:?}",
                        d.def_type,
                        d.id.to_ascii_lowercase(),
                        lower(&d.kind),
                        lower(&d.parent),
                        d.tags.clone().unwrap_or_default(),
                        props["sensitivity"],
                    );
                    if d.def_type == toxgraph::ingest::DefType::Resource {
                        resources.insert(fact);
                        continue;
                    }
                    fact
                }
                Record::Exposure { .. } | Record::Reach { .. } => continue,
                other => format!("{other:?}").to_ascii_lowercase(),
            };
            graph.insert(fact);
        }
        (graph, resources)
    };
    let (hound_graph, hound_resources) = facts(&hound);
    let (arm_graph, arm_resources) = facts(&arm);
    assert_eq!(hound_graph, arm_graph);
    assert_eq!(hound_resources.len(), 3, "{hound_resources:?}");
    assert!(
        hound_resources.is_subset(&arm_resources),
        "{:?}",
        hound_resources
            .difference(&arm_resources)
            .collect::<Vec<_>>()
    );
}

#[test]
fn azurehound_kinds_beyond_the_handmade_estate() {
    let s = "/SUBSCRIPTIONS/22222222-0000-4000-8000-000000000000";
    let ra = |principal: &str, role: &str, scope: &str| {
        format!(
            r#"{{"id": "{scope}/providers/Microsoft.Authorization/roleAssignments/{principal}", "name": "{principal}", "properties": {{"principalId": "{principal}", "roleDefinitionId": "{s}/providers/Microsoft.Authorization/roleDefinitions/{role}", "scope": "{scope}"}}, "type": "Microsoft.Authorization/roleAssignments"}}"#
        )
    };
    let owner = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    let uaa = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
    let items = [
        r#"{"kind": "AZUser", "data": {"id": "0C0C0C0C-0000-4000-8000-00000000000C", "displayName": "FRAN OWNER", "userPrincipalName": "fran@contoso.example"}}"#.to_string(),
        format!(r#"{{"kind": "AZSubscriptionOwner", "data": {{"owners": [{{"owner": {}, "subscriptionId": "{s}"}}], "subscriptionId": "{s}"}}}}"#, ra("0C0C0C0C-0000-4000-8000-00000000000C", owner, s)),
        format!(r#"{{"kind": "AZManagementGroupUserAccessAdmin", "data": {{"userAccessAdmins": [{{"userAccessAdmin": {}, "managementGroupId": "/PROVIDERS/MICROSOFT.MANAGEMENT/MANAGEMENTGROUPS/MG-CHILD"}}], "managementGroupId": "/PROVIDERS/MICROSOFT.MANAGEMENT/MANAGEMENTGROUPS/MG-CHILD"}}}}"#, ra("0C0C0C0C-0000-4000-8000-00000000000C", uaa, "/PROVIDERS/MICROSOFT.MANAGEMENT/MANAGEMENTGROUPS/MG-CHILD")),
        format!(r#"{{"kind": "AZWebAppRoleAssignment", "data": {{"assignees": [{{"assignee": {}, "objectId": "{s}/RESOURCEGROUPS/RG-APP/PROVIDERS/MICROSOFT.WEB/SITES/APP-ORDERS", "roleDefinitionId": "{owner}"}}], "objectId": "{s}/RESOURCEGROUPS/RG-APP/PROVIDERS/MICROSOFT.WEB/SITES/APP-ORDERS"}}}}"#, ra("0D0D0D0D-0000-4000-8000-00000000000D", owner, &format!("{s}/RESOURCEGROUPS/RG-APP/PROVIDERS/MICROSOFT.WEB/SITES/APP-ORDERS"))),
        // Descendants of the root group: a child group, and a subscription under it.
        r#"{"kind": "AZManagementGroupDescendant", "data": {"id": "/PROVIDERS/MICROSOFT.MANAGEMENT/MANAGEMENTGROUPS/MG-CHILD", "name": "mg-child", "properties": {"parent": {"id": "/PROVIDERS/MICROSOFT.MANAGEMENT/MANAGEMENTGROUPS/MG-ROOT"}}, "type": "Microsoft.Management/managementGroups"}}"#.to_string(),
        format!(r#"{{"kind": "AZManagementGroupDescendant", "data": {{"id": "{s}", "name": "22222222-0000-4000-8000-000000000000", "properties": {{"parent": {{"id": "/PROVIDERS/MICROSOFT.MANAGEMENT/MANAGEMENTGROUPS/MG-CHILD"}}}}, "type": "/subscriptions"}}}}"#),
        format!(r#"{{"kind": "AZVMScaleSet", "data": {{"id": "{s}/RESOURCEGROUPS/RG-APP/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINESCALESETS/VMSS-WORKERS", "identity": {{"type": "UserAssigned", "userAssignedIdentities": {{"/subscriptions/22222222-0000-4000-8000-000000000000/resourceGroups/rg-app/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-workers": {{"clientId": "1e1e1e1e-0000-4000-8000-00000000001e", "principalId": "0E0E0E0E-0000-4000-8000-00000000000E"}}}}}}, "location": "westeurope", "name": "vmss-workers", "type": "Microsoft.Compute/virtualMachineScaleSets"}}}}"#),
        format!(r#"{{"kind": "AZWebApp", "data": {{"id": "{s}/RESOURCEGROUPS/RG-APP/PROVIDERS/MICROSOFT.WEB/SITES/APP-ORDERS", "identity": {{"principalId": "0D0D0D0D-0000-4000-8000-00000000000D", "type": "SystemAssigned"}}, "kind": "app", "location": "westeurope", "name": "app-orders"}}}}"#),
        format!(r#"{{"kind": "AZStorageAccount", "data": {{"id": "{s}/RESOURCEGROUPS/RG-APP/PROVIDERS/MICROSOFT.STORAGE/STORAGEACCOUNTS/STPUBLIC", "identity": {{}}, "name": "stpublic", "properties": {{"availabilitySet": "Enabled", "networkAcls": {{"defaultAction": "Allow"}}}}, "type": "Microsoft.Storage/storageAccounts"}}}}"#),
        r#"{"kind": "AZApp", "data": {"id": "0F0F0F0F-0000-4000-8000-00000000000F", "appId": "1F1F1F1F-0000-4000-8000-00000000001F", "displayName": "APP-ORDERS"}}"#.to_string(),
        r#"{"kind": "AZGroupOwner", "data": {"owners": [], "groupId": "0A0A0A0A-0000-4000-8000-00000000000A"}}"#.to_string(),
        r#"{"kind": "AZKeyVaultAccessPolicy", "data": {"keyVaultId": "X", "accessPolicy": {}}}"#.to_string(),
        r#"{"kind": "AZSomethingNew", "data": {"id": "x"}}"#.to_string(),
        // Malformed: a VM without an id, an owner entry without its assignment, owners that
        // are not a list, a group member that is a device.
        r#"{"kind": "AZVM", "data": {"name": "vm-lost", "type": "Microsoft.Compute/virtualMachines"}}"#.to_string(),
        format!(r#"{{"kind": "AZSubscriptionOwner", "data": {{"owners": [{{"subscriptionId": "{s}"}}], "subscriptionId": "{s}"}}}}"#),
        format!(r#"{{"kind": "AZResourceGroupOwner", "data": {{"owners": "none", "resourceGroupId": "{s}/RESOURCEGROUPS/RG-APP"}}}}"#),
        r##"{"kind": "AZGroupMember", "data": {"groupId": "0A0A0A0A-0000-4000-8000-00000000000A", "members": [{"groupId": "0A0A0A0A-0000-4000-8000-00000000000A", "member": {"@odata.type": "#microsoft.graph.device", "id": "0B0B0B0B-0000-4000-8000-00000000000B"}}]}}"##.to_string(),
    ];
    let text = format!(
        "{{\"data\": [\n{}\n], \"meta\": {{\"type\": \"azure\", \"version\": 5, \"count\": {}}}}}",
        items.join(",\n"),
        items.len()
    );
    let (snap, report) = import_files(&[], &[("hound.json", &text)], false);

    let assignments: Vec<(String, String)> = snap
        .records
        .iter()
        .filter_map(|r| match r {
            Record::RoleAssignment {
                principal, scope, ..
            } => Some((principal.to_string(), scope.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(
        assignments,
        vec![
            (
                "0C0C0C0C-0000-4000-8000-00000000000C".to_string(),
                s.to_string()
            ),
            (
                "0C0C0C0C-0000-4000-8000-00000000000C".to_string(),
                "/PROVIDERS/MICROSOFT.MANAGEMENT/MANAGEMENTGROUPS/MG-CHILD".to_string()
            ),
            (
                "0D0D0D0D-0000-4000-8000-00000000000D".to_string(),
                format!("{s}/RESOURCEGROUPS/RG-APP/PROVIDERS/MICROSOFT.WEB/SITES/APP-ORDERS")
            ),
        ]
    );
    let kinds = identity_kinds(&snap);
    assert_eq!(kinds["0c0c0c0c-0000-4000-8000-00000000000c"], "user");
    assert_eq!(
        kinds["0d0d0d0d-0000-4000-8000-00000000000d"], "managed_identity",
        "the web app's system-assigned identity"
    );
    assert_eq!(
        definition(&snap, "0E0E0E0E-0000-4000-8000-00000000000E").attached_to,
        Some(vec![format!(
            "{s}/RESOURCEGROUPS/RG-APP/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINESCALESETS/VMSS-WORKERS"
        )]),
        "the scale set's user-assigned identity"
    );
    let web = definition(
        &snap,
        &format!("{s}/RESOURCEGROUPS/RG-APP/PROVIDERS/MICROSOFT.WEB/SITES/APP-ORDERS"),
    );
    assert_eq!(
        web.kind.as_deref(),
        Some("Microsoft.Web/sites"),
        "AzureHound left out the type"
    );
    // Scopes known only as descendants are defined, with their parents.
    let child = definition(
        &snap,
        "/providers/Microsoft.Management/managementGroups/mg-child",
    );
    assert_eq!(
        (child.kind.as_deref(), child.parent.as_deref()),
        (
            Some("management_group"),
            Some("/PROVIDERS/MICROSOFT.MANAGEMENT/MANAGEMENTGROUPS/MG-ROOT")
        )
    );
    let sub = definition(&snap, s);
    assert_eq!(
        (sub.kind.as_deref(), sub.parent.as_deref()),
        (
            Some("subscription"),
            Some("/PROVIDERS/MICROSOFT.MANAGEMENT/MANAGEMENTGROUPS/MG-CHILD")
        )
    );
    // Public network access on and the firewall open: exposed on 443.
    assert!(snap
        .records
        .iter()
        .any(|r| matches!(r, Record::Exposure { resource, .. } if resource.ends_with("STPUBLIC"))));
    assert!(memberships(&snap).is_empty(), "a device is no member");

    let skipped: Vec<(usize, &str)> = report
        .skipped
        .iter()
        .map(|s| (s.item, s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 5, "{skipped:?}");
    assert!(skipped[0]
        .1
        .contains("`AZApp` is not read: an app registration"));
    assert!(skipped[1].1.contains("`AZGroupOwner` is not read: owners"));
    assert!(skipped[2]
        .1
        .contains("`AZKeyVaultAccessPolicy` is not read"));
    assert!(skipped[3].1.contains("`AZSomethingNew` is not read"));
    assert_eq!(skipped[4].0, 14);
    assert!(skipped[4].1.contains("without an `id`"), "{}", skipped[4].1);
    let warnings: Vec<String> = snap
        .warnings
        .iter()
        .map(|w| format!("{}: {}", w.file.rsplit('/').next().unwrap(), w.message))
        .collect();
    assert_eq!(
        warnings,
        vec![
            "hound.json: record 15: AzureHound `AZSubscriptionOwner`: entry 1 of `owners` has no `owner` role assignment; skipped".to_string(),
            "hound.json: record 16: AzureHound `AZResourceGroupOwner` whose `owners` is not a list; skipped".to_string(),
            "hound.json: record 17: AzureHound `AZGroupMember`: 1 members are not users, groups or service principals (devices, contacts) and are left out".to_string(),
        ]
    );
}
