"""Drives Fleetledger's Waldur dialect with the real `waldur-api-client`, the way a provider's
site agent and scripts do, parsing every response into the client's models.

Run by tests/tests/waldur.rs with WALDUR_URL, WALDUR_TOKEN (staff), WALDUR_VIEWER_TOKEN,
OFFERING, PLAN, PROJECT and OTHER_PROJECT set. Prints the ids it made as JSON on the last line.
"""

import datetime
import json
import os
import sys
from uuid import UUID

import httpx
from waldur_api_client import AuthenticatedClient, errors
from waldur_api_client.api.marketplace_component_usages import (
    marketplace_component_usages_list as usages_list,
    marketplace_component_usages_set_usage as set_usage,
)
from waldur_api_client.api.marketplace_orders import (
    marketplace_orders_approve_by_provider as approve_by_provider,
    marketplace_orders_create as orders_create,
    marketplace_orders_list as orders_list,
    marketplace_orders_reject_by_provider as reject_by_provider,
    marketplace_orders_retrieve as orders_retrieve,
    marketplace_orders_set_backend_id as order_set_backend_id,
    marketplace_orders_set_state_done as set_state_done,
    marketplace_orders_set_state_executing as set_state_executing,
)
from waldur_api_client.api.marketplace_provider_resources import (
    marketplace_provider_resources_count as count,
    marketplace_provider_resources_details_retrieve as details,
    marketplace_provider_resources_glauth_users_config_retrieve as glauth,
    marketplace_provider_resources_list as resources_list,
    marketplace_provider_resources_move_resource as move_resource,
    marketplace_provider_resources_offering_for_subresources_list as subresources,
    marketplace_provider_resources_offering_retrieve as offering_retrieve,
    marketplace_provider_resources_partial_update as partial_update,
    marketplace_provider_resources_plan_periods_list as plan_periods,
    marketplace_provider_resources_pull as pull,
    marketplace_provider_resources_refresh_last_sync as refresh_last_sync,
    marketplace_provider_resources_retrieve as retrieve,
    marketplace_provider_resources_set_as_erred as set_as_erred,
    marketplace_provider_resources_set_as_ok as set_as_ok,
    marketplace_provider_resources_set_backend_id as set_backend_id,
    marketplace_provider_resources_set_backend_metadata as set_backend_metadata,
    marketplace_provider_resources_set_downscaled as set_downscaled,
    marketplace_provider_resources_set_end_date_by_provider as end_date_by_provider,
    marketplace_provider_resources_set_end_date_by_staff as end_date_by_staff,
    marketplace_provider_resources_set_limits as set_limits,
    marketplace_provider_resources_set_paused as set_paused,
    marketplace_provider_resources_set_restrict_member_access as set_restrict,
    marketplace_provider_resources_set_slug as set_slug,
    marketplace_provider_resources_submit_report as submit_report,
    marketplace_provider_resources_team_list as team,
    marketplace_provider_resources_terminate as terminate,
    marketplace_provider_resources_unlink as unlink,
    marketplace_provider_resources_update as update,
    marketplace_provider_resources_update_options as update_options,
    marketplace_provider_resources_update_options_direct as update_options_direct,
)
from waldur_api_client.models import (
    ComponentUsageCreateRequest,
    GenericOrderAttributes,
    ComponentUsageItemRequest,
    MarketplaceOrdersListStateItem,
    MarketplaceProviderResourcesListFieldItem as Field,
    MarketplaceProviderResourcesListOItem as Order,
    MarketplaceProviderResourcesListStateItem as State,
    MoveResourceRequest,
    OrderBackendIDRequest,
    OrderCreateRequest,
    OrderCreateRequestLimits,
    PatchedResourceUpdateRequest,
    ProjectHyperlinkRequest,
    ReportSectionRequest,
    ResourceBackendIDRequest,
    ResourceBackendMetadataRequest,
    ResourceDownscaledRequest,
    ResourceEndDateByProviderRequest,
    ResourceOptionsRequest,
    ResourcePausedRequest,
    ResourceReportRequest,
    ResourceRestrictMemberAccessRequest,
    ResourceSetLimitsRequest,
    ResourceSetStateErredRequest,
    ResourceSlugRequest,
    ResourceTerminateRequest,
    ResourceUpdateRequest,
)
from waldur_api_client.models.resource import Resource
from waldur_api_client.models.resource_state import ResourceState

URL = os.environ["WALDUR_URL"]
client = AuthenticatedClient(base_url=URL, token=os.environ["WALDUR_TOKEN"])
viewer = AuthenticatedClient(base_url=URL, token=os.environ["WALDUR_VIEWER_TOKEN"])
OFFERING, PLAN = os.environ["OFFERING"], os.environ["PLAN"]
PROJECT, OTHER_PROJECT = os.environ["PROJECT"], os.environ["OTHER_PROJECT"]


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def refused(status, call, *args, **kwargs):
    """The call fails with `status` and a DRF body."""
    try:
        call(*args, **kwargs)
    except errors.UnexpectedStatus as e:
        check(e.status_code == status, f"{call.__module__}: {e.status_code} {e.content!r}, wanted {status}")
        body = json.loads(e.content)
        check(isinstance(body, dict) and body, f"a DRF body: {body}")
        return body
    raise AssertionError(f"{call.__module__} succeeded; wanted {status}")


def place_order(name):
    body = OrderCreateRequest(
        offering=f"{URL}/api/marketplace-public-offerings/{OFFERING}/",
        project=f"{URL}/api/projects/{PROJECT}/",
        plan=f"{URL}/api/marketplace-public-plans/{PLAN}/",
        attributes=GenericOrderAttributes.from_dict({"name": name}),
        limits=OrderCreateRequestLimits.from_dict({"cpu_k_hours": 100}),
    )
    order = orders_create.sync(client=client, body=body)
    check(order.state.value == "pending-provider", f"a new order waits for the provider: {order.state}")
    check(order.type_.value == "Create", order.type_)
    return order


def resource(uuid) -> Resource:
    return retrieve.sync(uuid=uuid, client=client)


# The site agent's loop: pending orders, approve, backend id, done: the resource is OK.
order = place_order("alloc-1")
pending = orders_list.sync(client=client, state=[MarketplaceOrdersListStateItem.PENDING_PROVIDER])
check(any(o.uuid == order.uuid for o in pending), "the new order is listed as pending")
uuid = order.marketplace_resource_uuid
check(resource(uuid).state == ResourceState.CREATING, "a resource being created")
check(resource(uuid).creation_order.uuid == order.uuid, "its creation order")
approve_by_provider.sync_detailed(uuid=order.uuid, client=client)
check(orders_retrieve.sync(uuid=order.uuid, client=client).state.value == "executing", "approved: executing")
refused(409, set_state_executing.sync_detailed, uuid=order.uuid, client=client)
order_set_backend_id.sync_detailed(uuid=order.uuid, client=client, body=OrderBackendIDRequest(backend_id="slurm-42"))
status = set_backend_id.sync(uuid=uuid, client=client, body=ResourceBackendIDRequest(backend_id="slurm-42"))
check(status.status == "Resource backend_id has been changed.", status)
status = set_backend_id.sync(uuid=uuid, client=client, body=ResourceBackendIDRequest(backend_id="slurm-42"))
check(status.status == "Resource backend_id is not changed.", status)
set_state_done.sync_detailed(uuid=order.uuid, client=client)
r = resource(uuid)
check(r.state == ResourceState.OK, f"done: OK, not {r.state}")
check(r.backend_id == "slurm-42" and r.limits.additional_properties == {"cpu_k_hours": 100}, r.to_dict())
check(r.order_in_progress is None, "no order in progress")

# Usage: a report for the same component and period replaces the earlier one.
def report(amount):
    body = ComponentUsageCreateRequest(resource=uuid, usages=[ComponentUsageItemRequest(type_="cpu_k_hours", amount=amount)])
    body.additional_properties["date"] = "2026-11-15T12:00:00+00:00"
    answer = set_usage.sync_detailed(client=client, body=body)
    check(answer.status_code == 201, answer.content)

report("10.5")
report("12.25")
usages = usages_list.sync(client=client, resource_uuid=UUID(uuid.hex))
check(len(usages) == 1 and str(usages[0].usage) == "12.25", (uuid, [u.to_dict() for u in usages_list.sync(client=client)], httpx.get(f"{URL}/v1/marketplace-resources/{uuid}/events", headers={"authorization": "Bearer " + os.environ["WALDUR_TOKEN"]}).text[-1500:]))
check(str(usages[0].billing_period) == "2026-11-01", usages[0].billing_period)
refused(400, set_usage.sync_detailed, client=client, body=ComponentUsageCreateRequest(resource=uuid, usages=[ComponentUsageItemRequest(type_="gpu", amount="1")]))

# Every provider action.
check(set_limits.sync(uuid=uuid, client=client, body=ResourceSetLimitsRequest(limits={"cpu_k_hours": 200})).status, "limits")
check(resource(uuid).limits.additional_properties == {"cpu_k_hours": 200}, "limits set")
refused(400, set_limits.sync, uuid=uuid, client=client, body=ResourceSetLimitsRequest(limits={"gpu": 1}))
in_a_month = datetime.date.today() + datetime.timedelta(days=30)
end_date_by_provider.sync_detailed(uuid=uuid, client=client, body=ResourceEndDateByProviderRequest(end_date=in_a_month))
check(resource(uuid).end_date == in_a_month, "end date by provider")
refused(400, end_date_by_provider.sync_detailed, uuid=uuid, client=client, body=ResourceEndDateByProviderRequest(end_date=datetime.date.today() + datetime.timedelta(days=2)))
end_date_by_staff.sync_detailed(uuid=uuid, client=client, body=ResourceEndDateByProviderRequest(end_date=None))
check(resource(uuid).end_date is None, "end date cleared by staff")
updated = update.sync(uuid=uuid, client=client, body=ResourceUpdateRequest(name="alloc-renamed", description="HPC allocation"))
check(updated.name == "alloc-renamed" and updated.description == "HPC allocation", updated.to_dict())
patched = partial_update.sync(uuid=uuid, client=client, body=PatchedResourceUpdateRequest(description="patched"))
check(patched.name == "alloc-renamed" and patched.description == "patched", patched.to_dict())
set_slug.sync_detailed(uuid=uuid, client=client, body=ResourceSlugRequest(slug="alloc-1"))
set_backend_metadata.sync(uuid=uuid, client=client, body=ResourceBackendMetadataRequest(backend_metadata={"runtime_state": "RUNNING"}))
set_paused.sync_detailed(uuid=uuid, client=client, body=ResourcePausedRequest(paused=True))
set_downscaled.sync_detailed(uuid=uuid, client=client, body=ResourceDownscaledRequest(downscaled=True))
set_restrict.sync_detailed(uuid=uuid, client=client, body=ResourceRestrictMemberAccessRequest(restrict_member_access=True))
submit_report.sync(uuid=uuid, client=client, body=ResourceReportRequest(report=[ReportSectionRequest(header="Usage", body="12.25 kCPUh")]))
refused(400, submit_report.sync, uuid=uuid, client=client, body=ResourceReportRequest(report=[]))
update_options_direct.sync(uuid=uuid, client=client, body=ResourceOptionsRequest(options={"qos": "high"}))
update_options.sync_detailed(uuid=uuid, client=client, body=ResourceOptionsRequest(options={"partition": "gpu"}))
refresh_last_sync.sync_detailed(uuid=uuid, client=client)
pulled = pull.sync_detailed(uuid=uuid, client=client)
check("scheduled" in json.loads(pulled.content)["detail"], pulled.content)
r = resource(uuid)
check(r.slug == "alloc-1" and r.paused and r.downscaled and r.restrict_member_access, r.to_dict())
check(r.backend_metadata.runtime_state == "RUNNING" and r.report[0].header == "Usage", r.to_dict())
check(r.options == {"qos": "high", "partition": "gpu"} and r.last_sync is not None, r.to_dict())
# The report was for November: the current month has none yet.
check(r.current_usages.to_dict() == {}, r.current_usages.to_dict())
set_as_erred.sync_detailed(uuid=uuid, client=client, body=ResourceSetStateErredRequest(error_message="node down"))
check(resource(uuid).state == ResourceState.ERRED and resource(uuid).error_message == "node down", "erred")
set_as_ok.sync_detailed(uuid=uuid, client=client)
check(resource(uuid).state == ResourceState.OK and resource(uuid).error_message == "", "OK again")
refused(409, set_as_ok.sync_detailed, uuid=uuid, client=client)
details.sync_detailed(uuid=uuid, client=client)
check("alloc-renamed" in glauth.sync_detailed(uuid=uuid, client=client).content.decode(), "glauth config")
check(subresources.sync(uuid=uuid, client=client) == [], "no sub-resource offerings")
offering = offering_retrieve.sync(uuid=uuid, client=client)
check(offering.uuid.hex == OFFERING.replace("-", "") and offering.components[0].type_ == "cpu_k_hours", offering.to_dict())
periods = plan_periods.sync(uuid=uuid, client=client)
check(len(periods) == 1 and periods[0].plan_uuid.hex == PLAN.replace("-", ""), [p.to_dict() for p in periods])
check(team.sync(uuid=uuid, client=client) == [], "no team")
moved = move_resource.sync(uuid=uuid, client=client, body=MoveResourceRequest(project=ProjectHyperlinkRequest(url=f"{URL}/api/projects/{OTHER_PROJECT}/")))
check(moved.project_uuid.hex == OTHER_PROJECT.replace("-", ""), moved.to_dict())
move_resource.sync(uuid=uuid, client=client, body=MoveResourceRequest(project=ProjectHyperlinkRequest(url=f"{URL}/api/projects/{PROJECT}/")))

# Lists: filters, ordering, fields, paging headers and HEAD for the count.
second = place_order("alloc-2")
listed = resources_list.sync_detailed(client=client, state=[State.OK, State.CREATING], o=[Order.VALUE_0], page_size=1)
check(listed.headers["x-result-count"] == "2", listed.headers)
check('rel="next"' in listed.headers["link"] and 'rel="last"' in listed.headers["link"], listed.headers["link"])
check(listed.parsed[0].name == "alloc-2", [r.name for r in listed.parsed])
only = resources_list.sync_detailed(client=client, field=[Field.UUID, Field.STATE], state=[State.OK])
check(len(only.parsed) == 1 and only.parsed[0].state == ResourceState.OK, only.content)
check([set(r) for r in json.loads(only.content)] == [{"uuid", "state"}], only.content)
check(len(resources_list.sync(client=client, paused=True, backend_id="slurm-42")) == 1, "flag filters")
check(len(resources_list.sync(client=client, query="alloc")) == 2, "query")
check(count.sync_detailed(client=client, state=[State.CREATING]).headers["x-result-count"] == "1", "HEAD count")

# Reject an order: the resource it would have created is terminated.
reject_by_provider.sync_detailed(uuid=second.uuid, client=client)
check(orders_retrieve.sync(uuid=second.uuid, client=client).state.value == "rejected", "rejected")
check(resource(second.marketplace_resource_uuid).state == ResourceState.TERMINATED, "refused creation")
refused(409, approve_by_provider.sync_detailed, uuid=second.uuid, client=client)

# Who may do what, and what is not there.
refused(403, set_slug.sync_detailed, uuid=uuid, client=viewer, body=ResourceSlugRequest(slug="x"))
check(resource(uuid).slug == "alloc-1", "a refused call changed nothing")
check(retrieve.sync(uuid=uuid, client=viewer).uuid == uuid, "support users read")
refused(404, retrieve.sync, uuid=UUID(int=7), client=client)
no_token = httpx.get(f"{URL}/api/marketplace-provider-resources/")
check(no_token.status_code == 401 and "detail" in no_token.json(), no_token.text)

# Terminate through an order.
order_uuid = terminate.sync(uuid=uuid, client=client, body=ResourceTerminateRequest()).order_uuid
check(resource(uuid).order_in_progress.uuid == order_uuid, "the termination is in progress")
refused(409, terminate.sync, uuid=uuid, client=client, body=ResourceTerminateRequest())
approve_by_provider.sync_detailed(uuid=order_uuid, client=client)
check(resource(uuid).state == ResourceState.TERMINATING, "terminating")
set_state_done.sync_detailed(uuid=order_uuid, client=client)
check(resource(uuid).state == ResourceState.TERMINATED, "terminated")
refused(409, set_limits.sync, uuid=uuid, client=client, body=ResourceSetLimitsRequest(limits={"cpu_k_hours": 1}))

# Unlink (staff): gone from every view.
third = place_order("alloc-3")
check(unlink.sync_detailed(uuid=third.marketplace_resource_uuid, client=client).status_code == 200, "unlinked")
refused(404, retrieve.sync, uuid=third.marketplace_resource_uuid, client=client)

print(json.dumps({"resource": str(uuid), "terminated_order": str(order_uuid)}))
