"""The Redis driver for queue-core (redis-py + Lua). Serves redis://, rediss:// and unix://."""

from queue_redis.broker import RedisBroker

__all__ = ["RedisBroker"]
