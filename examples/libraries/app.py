"""A function that uses one traced library per invocation, for the layer's library tests.

The event names the library, the case (``ok``: one real call; ``error``: a bad query,
a refused connection or a 500) and where the server is. Each library is imported
inside the handler, after the layer started: the layer instruments it on that first
import. No tracing code here.
"""

# Each library is imported in its case on purpose: the layer instruments it then.
# ruff: noqa: PLC0415

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]


def handler(event: Event, context: Any) -> Any:
    return CASES[event["library"]](event)


def _sql(event: Event, connection: Any) -> Any:
    cursor = connection.cursor()
    query = "SELECT 1" if event["case"] == "ok" else "SELEC 1 FROM nowhere"
    cursor.execute(query)
    rows = cursor.fetchall()
    connection.close()
    return [list(row) for row in rows]


def _postgres_arguments(event: Event) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": event["port"],
        "user": event["user"],
        "password": event["password"],
    }


def case_sqlite3(event: Event) -> Any:
    path = tempfile.NamedTemporaryFile(suffix=".db", delete=False).name  # noqa: SIM115
    return _sql(event, sqlite3.connect(path))


def case_psycopg2(event: Event) -> Any:
    import psycopg2

    return _sql(event, psycopg2.connect(dbname=event["database"], **_postgres_arguments(event)))


def case_psycopg(event: Event) -> Any:
    import psycopg

    return _sql(event, psycopg.connect(dbname=event["database"], **_postgres_arguments(event)))


def case_pg8000(event: Event) -> Any:
    import pg8000

    return _sql(event, pg8000.connect(database=event["database"], **_postgres_arguments(event)))


def case_pymysql(event: Event) -> Any:
    import pymysql

    return _sql(event, pymysql.connect(database=event["database"], **_postgres_arguments(event)))


def case_mysql(event: Event) -> Any:
    import mysql.connector

    return _sql(
        event, mysql.connector.connect(database=event["database"], **_postgres_arguments(event))
    )


def case_sqlalchemy(event: Event) -> Any:
    import sqlalchemy

    url = (
        f"postgresql+psycopg2://{event['user']}:{event['password']}"
        f"@127.0.0.1:{event['port']}/{event['database']}"
    )
    engine = sqlalchemy.create_engine(url)
    query = "SELECT 1" if event["case"] == "ok" else "SELEC 1 FROM nowhere"
    with engine.connect() as connection:
        rows = connection.execute(sqlalchemy.text(query)).fetchall()
    engine.dispose()
    return [list(row) for row in rows]


def case_redis(event: Event) -> Any:
    import redis

    client = redis.Redis(host="127.0.0.1", port=event["port"], socket_connect_timeout=2)
    client.set("order:7", "placed")
    return client.get("order:7").decode()


def case_pymongo(event: Event) -> Any:
    import pymongo

    client = pymongo.MongoClient(
        "127.0.0.1", event["port"], serverSelectionTimeoutMS=500, connectTimeoutMS=500
    )
    return client.shop.orders.find_one({"id": 7})


def case_pymongo_listeners(event: Event) -> Any:
    """The command listeners pymongo has registered (no MongoDB server to call here)."""
    import pymongo.monitoring

    return [type(listener).__name__ for listener in pymongo.monitoring._LISTENERS.command_listeners]


def case_urllib(event: Event) -> Any:
    import urllib.request

    with urllib.request.urlopen(event["url"], timeout=5) as response:
        return response.status


def case_httpx(event: Event) -> Any:
    import httpx

    return httpx.get(event["url"], timeout=5).status_code


def case_httpx_async(event: Event) -> Any:
    import httpx

    async def call() -> int:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(event["url"])).status_code

    return asyncio.run(call())


def case_aiohttp(event: Event) -> Any:
    import aiohttp

    async def call() -> int:
        async with aiohttp.ClientSession() as session, session.get(event["url"]) as response:
            return response.status

    return asyncio.run(call())


def case_pynamodb(event: Event) -> Any:
    from pynamodb.attributes import UnicodeAttribute
    from pynamodb.models import Model

    class Order(Model):
        class Meta:
            table_name = event["table"]
            host = event["endpoint"]
            region = "us-east-1"

        id = UnicodeAttribute(hash_key=True)

    if event["case"] == "ok":
        return Order.count()
    Order.Meta.table_name = "no-such-table"
    return Order.get("7").id


CASES: dict[str, Callable[[Event], Any]] = {
    name.removeprefix("case_").replace("_", "-"): function
    for name, function in globals().items()
    if name.startswith("case_")
}


if __name__ == "__main__":
    print(json.dumps(sorted(CASES)))
