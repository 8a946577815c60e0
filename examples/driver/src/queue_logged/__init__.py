"""logged:// — an example queue-core driver: memory:// with every broker call logged."""

from queue_logged.broker import LoggedBroker, open_logged_broker

__all__ = ["LoggedBroker", "open_logged_broker"]
