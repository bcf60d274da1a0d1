"""Websocket for the portal's live pages: tells them which station changed."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from stations.services.live import STATIONS_GROUP


class LiveStationsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()
            return
        if not await self._allowed(user):
            await self.close()
            return
        await self.channel_layer.group_add(STATIONS_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(STATIONS_GROUP, self.channel_name)

    async def stations_changed(self, event: dict) -> None:
        await self.send_json({"stations": event["station_ids"]})

    @staticmethod
    async def _allowed(user) -> bool:
        from asgiref.sync import sync_to_async

        # Pushes carry station ids only; technicians get them for their work orders' pages.
        return await sync_to_async(_may_follow_stations)(user)


def _may_follow_stations(user) -> bool:
    return user.has_perm("stations.view_chargingstation") or user.has_perm("stations.send_onsite_command")
