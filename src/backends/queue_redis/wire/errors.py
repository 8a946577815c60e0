"""redis-py's exceptions turned into queue-core's, at the edge of the driver."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis
from redis.exceptions import AuthenticationError, NoPermissionError, RedisClusterException, ResponseError

from queue_core import BrokerAuthError, BrokerError, BrokerUnavailable, DamagedData


@contextlib.contextmanager
def mapped_errors() -> Iterator[None]:
    """Turn redis-py exceptions into queue-core ones, cause chained."""
    try:
        yield
    except AuthenticationError as exc:
        raise BrokerAuthError(f"Redis refused the credentials: {exc}") from exc
    except NoPermissionError as exc:  # redis-py strips the NOPERM code from its text
        raise BrokerAuthError(f"Redis refused the command (NOPERM): {exc}") from exc
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise BrokerUnavailable(f"Redis is unreachable: {exc}") from exc
    except ResponseError as exc:
        text = str(exc)
        if "NOAUTH" in text or "WRONGPASS" in text or "NOPERM" in text:
            raise BrokerAuthError(f"Redis refused the command: {text}") from exc
        if "LOADING" in text or "BUSY" in text or "MASTERDOWN" in text or "READONLY" in text:
            raise BrokerUnavailable(f"Redis cannot serve now: {text}") from exc
        if "WRONGTYPE" in text:
            raise DamagedData(f"a key holds a value of the wrong type: {text}") from exc
        raise BrokerError(f"Redis error: {text}") from exc
    except redis.RedisError as exc:
        raise BrokerError(f"Redis error: {exc}") from exc
    except RedisClusterException as exc:  # not a RedisError: no reachable node, or no slot map
        raise BrokerUnavailable(f"Redis Cluster is unreachable: {exc}") from exc
