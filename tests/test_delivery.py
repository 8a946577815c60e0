"""Delivery: what a handler sees of its attempt; decoding and the lease-fenced result write."""

from __future__ import annotations

import dataclasses
from typing import Any, TypedDict

import pytest

from queue_core import (
    JSON,
    Broker,
    Delivery,
    Job,
    JobRecord,
    Lease,
    LeaseLost,
    Progress,
    SerializationError,
    ValidationError,
)
from tests.worker_kit import NOW, fresh_broker


@dataclasses.dataclass
class Address:
    city: str
    zip: str = ""


@dataclasses.dataclass
class Customer:
    name: str
    address: Address
    tags: list[str] = dataclasses.field(default_factory=list)


def delivery_of(payload: Any, **record: Any) -> Delivery:
    fields = {"id": "j1", "type": "t", "queue": "default", "max_retries": 3, **record}
    lease = Lease(JobRecord(payload=JSON.dumps(payload), **fields), token="w:1", expires_at=NOW + 30)
    return Delivery(lease, broker=None, serializer=JSON)  # type: ignore[arg-type]


def test_metadata_comes_from_the_leased_record() -> None:
    delivery = delivery_of(None, retried=2, max_retries=5, headers={"h": "v"}, enqueued_at=NOW - 3)
    assert (delivery.id, delivery.type, delivery.queue) == ("j1", "t", "default")
    assert (delivery.attempt, delivery.retried, delivery.max_retries) == (3, 2, 5)
    assert delivery.headers == {"h": "v"} and delivery.enqueued_at == NOW - 3
    assert delivery.payload == b"null"
    assert "attempt=3" in repr(delivery)


def test_decode_without_a_type_returns_the_decoded_value() -> None:
    assert delivery_of({"a": [1, 2]}).decode() == {"a": [1, 2]}


def test_decode_builds_dataclasses_including_nested_ones() -> None:
    customer = delivery_of({"name": "Ada", "address": {"city": "London"}, "tags": ["vip"]}).decode(Customer)
    assert customer == Customer("Ada", Address("London"), ["vip"])


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"name": "Ada"}, "cannot build Customer"),  # a required field is missing
        ({"name": "Ada", "address": {"city": "x"}, "age": 3}, r"unknown field\(s\) \['age'\]"),
        (["not", "a", "mapping"], "expected a mapping"),
    ],
)
def test_decode_reports_a_payload_that_does_not_fit_the_dataclass(payload: Any, match: str) -> None:
    with pytest.raises(SerializationError, match=match):
        delivery_of(payload).decode(Customer)


def test_decode_checks_plain_types() -> None:
    assert delivery_of(3).decode(int) == 3
    assert delivery_of(3).decode(float) == 3.0
    assert delivery_of("s").decode(str) == "s"
    with pytest.raises(SerializationError, match="expected int"):
        delivery_of(True).decode(int)
    with pytest.raises(SerializationError, match="expected str"):
        delivery_of(1).decode(str)
    with pytest.raises(SerializationError, match="cannot build"):
        delivery_of(1).decode(complex)


def test_bytes_that_are_not_json_raise_a_serialization_error() -> None:
    lease = Lease(JobRecord(id="j", type="t", queue="q", payload=b"\xff", max_retries=0), "w:1", NOW)
    with pytest.raises(SerializationError):
        Delivery(lease, broker=None, serializer=JSON).decode()  # type: ignore[arg-type]


async def test_write_result_stores_the_serialized_value_under_the_lease(broker_url: str) -> None:
    async with fresh_broker(broker_url) as broker:
        delivery = await leased(broker)
        await delivery.write_result({"done": 1})
        assert await broker.job_result("default", delivery.id) == b'{"done":1}'


async def test_write_result_after_the_lease_was_lost_raises_lease_lost(broker_url: str) -> None:
    async with fresh_broker(broker_url) as broker:
        delivery = await leased(broker)
        recovered = await broker.recover_expired(["default"], NOW + 31, 5)
        assert recovered.requeued == [delivery.id]
        with pytest.raises(LeaseLost, match=delivery.id):
            await delivery.write_result("late")


async def test_write_result_rejects_a_value_the_serializer_cannot_encode(broker_url: str) -> None:
    async with fresh_broker(broker_url) as broker:
        delivery = await leased(broker)
        with pytest.raises(SerializationError):
            await delivery.write_result(object())


async def leased(broker: Broker) -> Delivery:
    await broker.enqueue([Job("t", retention=60).with_id()], NOW)
    (lease,) = await broker.dequeue(["default"], NOW, 30, "w", 1)
    return Delivery(lease, broker=broker, serializer=JSON)


class OrderLine(TypedDict):
    sku: str
    qty: int


class Order(OrderLine, total=False):
    note: str


def test_decode_checks_a_typed_dict_for_its_keys() -> None:
    assert delivery_of({"sku": "a1", "qty": 2}).decode(Order) == {"sku": "a1", "qty": 2}
    assert delivery_of({"sku": "a1", "qty": 2, "note": "gift"}).decode(Order)["note"] == "gift"
    with pytest.raises(SerializationError, match=r"missing key\(s\) \['qty'\]"):
        delivery_of({"sku": "a1"}).decode(Order)
    with pytest.raises(SerializationError, match=r"unknown key\(s\) \['price'\]"):
        delivery_of({"sku": "a1", "qty": 2, "price": 3}).decode(Order)
    with pytest.raises(SerializationError, match="expected a mapping"):
        delivery_of([1]).decode(Order)


def test_progress_is_kept_and_passed_on() -> None:
    seen: list[Progress] = []
    lease = Lease(JobRecord(id="j", type="t", queue="q", payload=b"null", max_retries=0), "w:1", NOW)
    delivery = Delivery(lease, broker=None, serializer=JSON, on_progress=seen.append)  # type: ignore[arg-type]
    assert delivery.last_progress is None
    delivery.progress(3, 4, "resized")
    delivery.progress(4)
    assert seen == [Progress(3, 4, "resized"), Progress(4)]
    assert delivery.last_progress == Progress(4.0, None, None)
    assert seen[0].fraction == 0.75 and seen[1].fraction is None


@pytest.mark.parametrize(("args", "field"), [((float("nan"),), "done"), ((1, "x"), "total"), ((1, 2, 3), "message")])
def test_progress_rejects_what_is_not_a_number_naming_it(args: tuple[Any, ...], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        delivery_of(None).progress(*args)
    assert caught.value.field == field


def test_retry_count_is_the_retries_used() -> None:
    assert delivery_of(None, retried=4).retry_count == 4
