"""The embedded driver: the Redis driver's Lua scripts on an in-process fakeredis server.

``memory://`` brokers in one process share one server (``memory://name`` picks a
separate one), so a Client and a Worker in the same process see the same jobs.
"""

from queue_fakeredis.broker import open_memory_broker

__all__ = ["open_memory_broker"]
