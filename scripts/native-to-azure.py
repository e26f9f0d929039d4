#!/usr/bin/env python3
"""Converts a native toxgraph snapshot (e.g. from `toxgraph generate`) into a folder of
Azure export files in real shapes, for measuring `toxgraph import azure` at scale.

    scripts/native-to-azure.py q1.jsonl exports/

Scopes and resources become `az graph query` pages, identities and memberships AzureHound
output, roles and assignments `az role ...` rows, internet exposure of VMs a NIC, public IP
and NSG each, exposure of platform services their public-access properties, lateral reach
one virtual network per resource group, findings Defender assessments and alerts.
"""
import json
import sys
from collections import defaultdict
from pathlib import Path

BUILTIN = {
    "owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "user access administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "role based access control administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    "storage blob data owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "storage blob data contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "key vault administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "key vault secrets officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "key vault data access administrator": "8b54135c-b56d-4d72-a534-26097cfdc8d8",
    "reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "storage blob data reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "key vault secrets user": "4633458b-17de-408a-b874-0445c86b69e6",
    "virtual machine contributor": "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
}
PAGE = 50_000


def rg_of(rid):
    parts = rid.split("/")
    low = [p.lower() for p in parts]
    if "resourcegroups" in low:
        i = low.index("resourcegroups")
        return "/".join(parts[: i + 2])
    return None


def main(src, out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    recs = [json.loads(l) for l in open(src) if l.strip()]
    by_type = defaultdict(list)
    for r in recs:
        by_type[r["type"]].append(r)
    exposure = {}
    for e in by_type["exposure"]:
        f = e["from"].strip().lower()
        if f in ("internet", "*", "any", "0.0.0.0/0", "::/0"):
            exposure.setdefault(e["resource"].lower(), []).extend(e.get("ports") or ["*"])
    identity_of = defaultdict(list)
    kinds = {}
    for i in by_type["identity"]:
        kinds[i["id"].lower()] = i["kind"]
        for a in i.get("attached_to") or []:
            identity_of[a.lower()].append(i["id"])
    custom = {r["name"].lower(): r for r in by_type["role"]}

    containers = []
    for s in by_type["scope"]:
        row = {"id": s["id"], "name": s.get("name") or s["id"].rsplit("/", 1)[-1], "tags": s.get("tags") or {}}
        kind = s.get("kind")
        if kind == "management_group":
            row["type"] = "microsoft.management/managementgroups"
            row["properties"] = {"displayName": row["name"], "details": {"parent": {"id": s["parent"]} if s.get("parent") else None}}
        elif kind == "subscription":
            row["type"] = "microsoft.resources/subscriptions"
            chain = [{"name": s["parent"].rsplit("/", 1)[-1]}] if s.get("parent") else []
            row["properties"] = {"managementGroupAncestorsChain": chain}
        else:
            row["type"] = "microsoft.resources/subscriptions/resourcegroups"
        containers.append(row)
    json.dump({"count": len(containers), "data": containers, "skip_token": None, "total_records": len(containers)}, open(out / "resourcecontainers.json", "w"))

    rows = []
    vnet_members = defaultdict(list)
    for r in by_type["resource"]:
        rid, kind = r["id"], r["kind"]
        props = r.get("props") or {}
        tags = dict(r.get("tags") or {})
        if str(props.get("sensitivity", "")).lower() == "high":
            tags["sensitivity"] = "high"
        row = {"id": rid, "name": r.get("name") or rid.rsplit("/", 1)[-1], "type": kind.lower(), "location": props.get("location", "westeurope"), "tags": tags, "properties": {}}
        ids = identity_of.get(rid.lower(), [])
        if len(ids) == 1:
            row["identity"] = {"type": "SystemAssigned", "principalId": ids[0]}
        elif ids:
            row["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {f"{rg_of(rid)}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ua-{p[:8]}": {"principalId": p} for p in ids}}
        exposed = exposure.get(rid.lower())
        k = kind.lower()
        if k in ("microsoft.storage/storageaccounts", "microsoft.keyvault/vaults", "microsoft.web/sites"):
            row["properties"]["publicNetworkAccess"] = "Enabled" if exposed else "Disabled"
        elif k == "microsoft.app/containerapps":
            row["properties"]["configuration"] = {"ingress": {"external": bool(exposed)}}
        elif k in ("microsoft.compute/virtualmachines",) and rg_of(rid):
            rg = rg_of(rid)
            name = row["name"]
            nic = f"{rg}/providers/Microsoft.Network/networkInterfaces/nic-{name}"
            subnet = f"{rg}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default"
            ipc = {"subnet": {"id": subnet}, "privateIPAddress": f"10.0.{len(vnet_members[rg]) // 250}.{len(vnet_members[rg]) % 250 + 4}"}
            vnet_members[rg].append(nic)
            nic_row = {"id": nic, "name": f"nic-{name}", "type": "microsoft.network/networkinterfaces", "location": row["location"],
                       "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": ipc}], "virtualMachine": {"id": rid}}}
            if exposed:
                pip = f"{rg}/providers/Microsoft.Network/publicIPAddresses/pip-{name}"
                ipc["publicIPAddress"] = {"id": pip}
                rows.append({"id": pip, "name": f"pip-{name}", "type": "microsoft.network/publicipaddresses", "sku": {"name": "Basic"}, "properties": {}})
                nsg = f"{rg}/providers/Microsoft.Network/networkSecurityGroups/nsg-{name}"
                ports = [str(p) for p in exposed]
                nic_row["properties"]["networkSecurityGroup"] = {"id": nsg}
                rows.append({"id": nsg, "name": f"nsg-{name}", "type": "microsoft.network/networksecuritygroups", "properties": {"securityRules": [
                    {"name": "allow-internet", "properties": {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "Internet", "destinationPortRanges": ports}}]}})
            rows.append(nic_row)
        rows.append(row)
    for rg, nics in vnet_members.items():
        rows.append({"id": f"{rg}/providers/Microsoft.Network/virtualNetworks/vnet", "name": "vnet", "type": "microsoft.network/virtualnetworks",
                     "properties": {"subnets": [{"id": f"{rg}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default", "properties": {"addressPrefix": "10.0.0.0/16"}}]}})
    pages = [rows[i:i + PAGE] for i in range(0, len(rows), PAGE)] or [[]]
    for n, page in enumerate(pages, 1):
        token = None if n == len(pages) else f"page{n + 1}"
        json.dump({"count": len(page), "data": page, "skip_token": token, "total_records": len(rows)}, open(out / f"resources-{n}.json", "w"))

    hound = []
    members = defaultdict(list)
    for m in by_type["membership"]:
        members[m["group"]].append(m["member"])
    for i in by_type["identity"]:
        kind = {"user": "AZUser", "group": "AZGroup", "service_principal": "AZServicePrincipal"}.get(i["kind"])
        if kind:
            hound.append({"kind": kind, "data": {"id": i["id"], "displayName": i.get("name")}})
    for g, ms in members.items():
        hound.append({"kind": "AZGroupMember", "data": {"groupId": g, "members": [{"groupId": g, "member": {"id": m, "@odata.type": "#microsoft.graph." + {"group": "group", "user": "user"}.get(kinds.get(m.lower()), "servicePrincipal")}} for m in ms]}})
    json.dump({"data": hound, "meta": {"type": "azure", "version": 5, "count": len(hound)}}, open(out / "azurehound.json", "w"))

    defs = []
    for r in by_type["role"]:
        guid = (r.get("id") or "").rsplit("/", 1)[-1]
        perms = ["*"] if r.get("privileged") else ["*/read"]
        defs.append({"roleName": r["name"], "roleType": "CustomRole", "name": guid, "id": r.get("id"), "type": "Microsoft.Authorization/roleDefinitions",
                     "permissions": [{"actions": perms, "notActions": [], "dataActions": [], "notDataActions": []}]})
    json.dump(defs, open(out / "role-definitions.json", "w"))
    assigns = []
    ptype = {"user": "User", "group": "Group"}
    for n, a in enumerate(by_type["role_assignment"]):
        role = a["role"]
        guid = role.rsplit("/", 1)[-1]
        if len(guid) != 36:
            guid = BUILTIN.get(role.strip().lower()) or (custom.get(role.strip().lower(), {}).get("id") or "").rsplit("/", 1)[-1]
        assigns.append({"principalId": a["principal"], "principalType": ptype.get(kinds.get(a["principal"].lower()), "ServicePrincipal"),
                        "roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{guid}", "scope": a["scope"],
                        "id": f"{a['scope']}/providers/Microsoft.Authorization/roleAssignments/{n:08d}-0000-4000-8000-000000000000",
                        "type": "Microsoft.Authorization/roleAssignments"})
    json.dump(assigns, open(out / "role-assignments.json", "w"))

    assessments, alerts = [], []
    for f in by_type["finding"]:
        if f["class"].lower() == "recommendation":
            state = {"unhealthy": "Unhealthy", "healthy": "Healthy", "notapplicable": "NotApplicable"}.get((f.get("state") or "unhealthy").lower(), "Unhealthy")
            assessments.append({"id": f["id"], "name": f["id"].rsplit("/", 1)[-1], "type": "microsoft.security/assessments",
                                "properties": {"resourceDetails": {"source": "Azure", "id": f["resource"]}, "displayName": f["title"],
                                               "status": {"code": state, "statusChangeDate": f.get("last_seen") or "2026-03-30T00:00:00Z"},
                                               "metadata": {"severity": f["severity"].capitalize(), "categories": [f.get("category") or "Compute"]}}})
        else:
            alerts.append({"id": f["id"], "name": f["id"].rsplit("/", 1)[-1], "type": "Microsoft.Security/Locations/alerts",
                           "properties": {"alertDisplayName": f["title"], "severity": f["severity"].capitalize(), "status": (f.get("state") or "active").capitalize(),
                                          "techniques": f.get("techniques") or [], "startTimeUtc": f.get("first_seen"),
                                          "resourceIdentifiers": [{"type": "AzureResource", "azureResourceId": f["resource"]}]}})
    json.dump({"count": len(assessments), "data": assessments, "skip_token": None, "total_records": len(assessments)}, open(out / "assessments.json", "w"))
    json.dump({"value": alerts}, open(out / "alerts.json", "w"))
    print(f"{len(rows)} resource rows, {len(hound)} AzureHound items, {len(assigns)} role assignments, {len(assessments)} assessments, {len(alerts)} alerts -> {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: native-to-azure.py SNAPSHOT.jsonl OUT_DIR")
    main(sys.argv[1], sys.argv[2])
