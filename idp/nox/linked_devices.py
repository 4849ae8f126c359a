"""The devices linked to a customer, with the day NOX can steer each: for the account page and
for the supplier API's GET /api/v1/users/<supplier_user_id>/devices."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from idp.nox.registry import steerable_from
from idp.records import Device
from idp.security.clock import Clock
from idp.store.device_status import DeviceStatuses
from idp.store.links import Links
from idp.store.users import Users


@dataclass(frozen=True)
class LinkedDevice:
    device: Device
    steerable_from: dt.date
    steerable_now: bool  # NOX has had its 30 days of data
    # What NOX's webhooks last said (idp/nox/webhooks.py): None while NOX said nothing.
    steering: bool | None = None
    needs_reauthentication: bool = False

    @property
    def linked_on(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.device.linked_at, dt.UTC).date()


class LinkedDevices:
    def __init__(self, links: Links, users: Users, statuses: DeviceStatuses, clock: Clock) -> None:
        self.links = links
        self.users = users
        self.statuses = statuses
        self.clock = clock

    async def of_customer(self, user_id: int) -> list[LinkedDevice]:
        today = dt.datetime.fromtimestamp(self.clock.now(), dt.UTC).date()
        found = []
        linked = await self.links.devices_of(user_id)
        said = await self.statuses.of_devices([d.device_id for d in linked])
        for device in linked:
            ready = steerable_from(device.first_linked_at or device.linked_at)
            status = said.get(device.device_id, {})
            steering = None
            if status.get("steerable_status") == "being_steered":
                steering = bool(status.get("steerable"))
            found.append(
                LinkedDevice(
                    device,
                    ready,
                    ready <= today,
                    steering=steering,
                    needs_reauthentication=bool(status.get("needs_reauthentication")),
                )
            )
        return found

    async def disconnect(self, user_id: int, device_id: str) -> Device | None:
        """The customer ends the link of one of their devices here. NOX offers no call to
        unlink, so NOX keeps its side until the customer removes the device in NOX's app; the
        account page says so. None when the customer holds no such device."""
        return await self.links.disconnect(user_id, device_id, self.clock.now())

    async def of_supplier_user(self, supplier_user_id: str) -> list[LinkedDevice] | None:
        """None when no customer has this supplier_user_id (a disabled one is still listed)."""
        user = await self.users.by_supplier_user_id(supplier_user_id)
        return None if user is None else await self.of_customer(user.id)
