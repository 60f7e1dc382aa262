"""The messaging context's public API: what entrypoints and other programs import.

Use cases (attrs classes; fields are the ports they use, built by the container or by
`adapters.memory.messaging.messaging_in_memory()`; called per job or request, returning
`Result[value, error]`), their inputs and outputs, the model, the errors and `PROBLEMS`. The
ports adapters implement are in `core.messaging.ports` (re-exported here for the composition
root).

Jobs: `DispatchEvent(event_id)` (dispatch_event), `SendMessage(message_id, final_attempt)`
(send_message), `SendReminder(booking_id, offset_minutes)` (send_reminder). Webhooks:
`RecordEmailReports`, `RecordWhatsAppNotice`, `ConfirmWhatsAppSubscription`. People:
`ListMyMessages`, `ListProviderMessages`, `ListAllMessages`, `ShowMessage`, `ResendMessage`,
`GetContactPreferences`, `SetContactPreferences`, `IssueCalendarFeed`,
`IssueProviderCalendarFeed`, `ReadCalendarFeed`. Providers' staff: `GetReminderPlan`,
`SetReminderPlan`.
"""

from core.messaging.calendar import entry_of, feed_bookings, token_digest
from core.messaging.dispatch import Dispatched, DispatchEvent, SendReminder
from core.messaging.errors import AddressUndeliverable, WebhookNotVerified
from core.messaging.feeds import (
    CalendarFeed,
    IssueCalendarFeed,
    IssueProviderCalendarFeed,
    ReadCalendarFeed,
)
from core.messaging.model import (
    CalendarEntry,
    CalendarMethod,
    Channel,
    ContactPreferences,
    Message,
    MessageId,
    MessageKind,
    MessageStatus,
    Purpose,
    ReminderPlan,
    SendFailedTemporarily,
    SendReceipt,
    SendRefused,
    StatusReport,
)
from core.messaging.planning import kind_of
from core.messaging.policy import DefaultConsentPolicy
from core.messaging.ports import (
    Attachment,
    BookingFacts,
    CalendarWriter,
    ConsentPolicy,
    Content,
    EmailEvents,
    EmailSender,
    Links,
    MessagingUnitOfWork,
    OutgoingEmail,
    OutgoingWhatsApp,
    Person,
    PhoneNumbers,
    ReminderPlans,
    RenderedEmail,
    Renderer,
    WhatsAppEvents,
    WhatsAppNotice,
    WhatsAppSender,
    WhatsAppTemplate,
)
from core.messaging.preferences import (
    LOCALES,
    GetContactPreferences,
    PreferencesChange,
    SetContactPreferences,
)
from core.messaging.problems import PROBLEMS
from core.messaging.reading import (
    ListAllMessages,
    ListMyMessages,
    ListProviderMessages,
    ResendMessage,
    ShowMessage,
)
from core.messaging.reminder_plans import (
    MAX_OFFSET_MINUTES,
    MAX_OFFSETS,
    MIN_OFFSET_MINUTES,
    GetReminderPlan,
    ProviderReminderPlan,
    SetReminderPlan,
    reminder_plan_of,
)
from core.messaging.reminders import DEFAULT_PLAN, reminder_instants
from core.messaging.sending import SERVICE_WINDOW, SendMessage
from core.messaging.webhooks import (
    ConfirmWhatsAppSubscription,
    Recorded,
    RecordEmailReports,
    RecordWhatsAppNotice,
)

__all__ = [
    "DEFAULT_PLAN",
    "LOCALES",
    "MAX_OFFSETS",
    "MAX_OFFSET_MINUTES",
    "MIN_OFFSET_MINUTES",
    "PROBLEMS",
    "SERVICE_WINDOW",
    "AddressUndeliverable",
    "Attachment",
    "BookingFacts",
    "CalendarEntry",
    "CalendarFeed",
    "CalendarMethod",
    "CalendarWriter",
    "Channel",
    "ConfirmWhatsAppSubscription",
    "ConsentPolicy",
    "ContactPreferences",
    "Content",
    "DefaultConsentPolicy",
    "DispatchEvent",
    "Dispatched",
    "EmailEvents",
    "EmailSender",
    "GetContactPreferences",
    "GetReminderPlan",
    "IssueCalendarFeed",
    "IssueProviderCalendarFeed",
    "Links",
    "ListAllMessages",
    "ListMyMessages",
    "ListProviderMessages",
    "Message",
    "MessageId",
    "MessageKind",
    "MessageStatus",
    "MessagingUnitOfWork",
    "OutgoingEmail",
    "OutgoingWhatsApp",
    "Person",
    "PhoneNumbers",
    "PreferencesChange",
    "ProviderReminderPlan",
    "Purpose",
    "ReadCalendarFeed",
    "RecordEmailReports",
    "RecordWhatsAppNotice",
    "Recorded",
    "ReminderPlan",
    "ReminderPlans",
    "RenderedEmail",
    "Renderer",
    "ResendMessage",
    "SendFailedTemporarily",
    "SendMessage",
    "SendReceipt",
    "SendRefused",
    "SendReminder",
    "SetContactPreferences",
    "SetReminderPlan",
    "ShowMessage",
    "StatusReport",
    "WebhookNotVerified",
    "WhatsAppEvents",
    "WhatsAppNotice",
    "WhatsAppSender",
    "WhatsAppTemplate",
    "entry_of",
    "feed_bookings",
    "kind_of",
    "reminder_instants",
    "reminder_plan_of",
    "token_digest",
]
