"""The worker's task table: task name -> handler(container, args). The integration fills it
with each context's handlers (dispatch_event, send_message, send_reminder, deliver_webhook,
delete_media_asset); task names and their queues and retry policies are in
adapters.postgis.jobs.tasks."""

from __future__ import annotations

from entrypoints.worker.registry import Handler, PeriodicTask

HANDLERS: dict[str, Handler] = {}
PERIODIC: dict[str, PeriodicTask] = {}
