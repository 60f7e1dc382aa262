"""WhatsApp adapter: the WhatsApp Cloud API sender (httpx), its webhooks, and E.164 numbers
(`phonenumbers`)."""

from adapters.whatsapp.events import WhatsAppCloudEvents
from adapters.whatsapp.phones import E164Numbers
from adapters.whatsapp.sender import GRAPH_API_BASE, GRAPH_API_VERSION, WhatsAppCloudSender

__all__ = [
    "GRAPH_API_BASE",
    "GRAPH_API_VERSION",
    "E164Numbers",
    "WhatsAppCloudEvents",
    "WhatsAppCloudSender",
]
