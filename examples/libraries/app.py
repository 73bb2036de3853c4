"""A function that uses one traced library per invocation, for the layer's library tests.

The event names the library, the case (``ok``: one real call; ``error``: a bad query,
a refused connection or a 500) and where the server is; an ``*-idioms`` case runs the
calls that library's own documentation teaches. Each library is imported
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


# Each library's documented idioms, one invocation per library.
# The tests name the documentation page of each idiom.


def case_sqlite3_idioms(event: Event) -> Any:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE movie(title, year, score)")
    db.executemany("INSERT INTO movie VALUES(?, ?, ?)", [("Monty", 1975, 8.2), ("Life", 1979, 8.0)])
    db.executescript("BEGIN; CREATE TABLE person(name); INSERT INTO person VALUES ('x'); COMMIT;")
    with db:  # commits, or rolls back on an exception
        db.execute("INSERT INTO movie VALUES(?, ?, ?)", ("Grail", 1975, 8.3))
    db.row_factory = sqlite3.Row
    row = db.execute("SELECT count(*) AS n FROM movie").fetchone()
    cursor = db.cursor()
    cursor.execute("SELECT title FROM movie ORDER BY year")
    titles = [r["title"] for r in cursor.fetchall()]
    db.close()
    return {"n": row["n"], "titles": titles}


def case_psycopg_idioms(event: Event) -> Any:
    import psycopg

    arguments = {"dbname": event["database"], **_postgres_arguments(event)}
    with psycopg.connect(**arguments) as conn:
        conn.execute("CREATE TEMP TABLE item (id int, name text)")
        with conn.cursor() as cur:
            cur.execute("INSERT INTO item VALUES (%s, %s)", (1, "one"))
        with conn.pipeline():
            conn.execute("INSERT INTO item VALUES (%s, %s)", (2, "two"))
            conn.execute("INSERT INTO item VALUES (%s, %s)", (3, "three"))
        with conn.cursor() as cur, cur.copy("COPY item (id, name) FROM STDIN") as copy:
            copy.write_row((4, "four"))
        count = conn.execute("SELECT count(*) FROM item").fetchone()[0]
        with conn.cursor(name="server_side") as named:  # a server-side cursor
            named.execute("SELECT id FROM item WHERE id > %s", (3,))
            count += len(named.fetchall())

    async def asynchronous() -> Any:
        aconn = await psycopg.AsyncConnection.connect(**arguments)
        async with aconn:
            async with aconn.cursor() as acur:
                await acur.execute("SELECT %s::int", (5,))
                five = (await acur.fetchone())[0]
                async with acur.copy("COPY (SELECT 6) TO STDOUT") as copy:
                    six = [int(bytes(data)) async for data in copy]
            async with aconn.cursor(name="async_server_side") as named:
                await named.execute("SELECT 7")
                seven = (await named.fetchone())[0]
            return [five, *six, seven]

    return [count, *asyncio.run(asynchronous())]


def case_psycopg_copy_error(event: Event) -> Any:
    """COPY into a table that is not there: psycopg raises UndefinedTable."""
    import psycopg

    with (
        psycopg.connect(dbname=event["database"], **_postgres_arguments(event)) as conn,
        conn.cursor() as cur,
        cur.copy("COPY no_such_table (id) FROM STDIN") as copy,
    ):
        copy.write_row((1,))


def case_psycopg2_idioms(event: Event) -> Any:
    import psycopg2
    import psycopg2.extras

    conn = psycopg2.connect(dbname=event["database"], **_postgres_arguments(event))
    with conn, conn.cursor() as cur:  # a transaction: committed at the end of the block
        cur.execute("CREATE TEMP TABLE item (id int, name text)")
        psycopg2.extras.execute_values(
            cur, "INSERT INTO item (id, name) VALUES %s", [(1, "one"), (2, "two")]
        )
    with conn, conn.cursor(name="server_side") as named:  # a server-side cursor
        named.execute("SELECT id FROM item ORDER BY id")
        ids = [row[0] for row in named.fetchall()]
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:  # dict rows
        cur.execute("SELECT name FROM item WHERE id = %s", (2,))
        ids.append(cur.fetchone()["name"])
    conn.close()
    return ids


def _mysql_idioms(conn: Any) -> list[Any]:
    with conn.cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE item (id int, name varchar(20))")
        cur.executemany("INSERT INTO item (id, name) VALUES (%s, %s)", [(1, "one"), (2, "two")])
        cur.execute("SELECT count(*) FROM item")
        return [cur.fetchone()[0]]


def case_pymysql_idioms(event: Event) -> Any:
    import pymysql

    conn = pymysql.connect(database=event["database"], **_postgres_arguments(event))
    with conn:
        result = _mysql_idioms(conn)
        conn.commit()
    return result


def case_mysql_idioms(event: Event) -> Any:
    import mysql.connector

    conn = mysql.connector.connect(database=event["database"], **_postgres_arguments(event))
    result = _mysql_idioms(conn)
    with conn.cursor(prepared=True) as prepared:
        prepared.execute("SELECT name FROM item WHERE id = %s", (2,))
        result.append(prepared.fetchone()[0])
    conn.commit()
    conn.close()
    return result


def case_sqlalchemy_idioms(event: Event) -> Any:
    import sqlalchemy
    from sqlalchemy import orm

    url = (
        f"postgresql+psycopg2://{event['user']}:{event['password']}"
        f"@127.0.0.1:{event['port']}/{event['database']}"
    )
    engine = sqlalchemy.create_engine(url)

    class Base(orm.DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = f"item_{event.get('suffix', 'x')}"
        # Without annotations: this module's are strings (__future__), read at class time.
        id = orm.mapped_column(sqlalchemy.Integer, primary_key=True)
        name = orm.mapped_column(sqlalchemy.String)

    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"INSERT INTO {Item.__tablename__} VALUES (1, 'one')"))
    with engine.connect() as conn:
        first = conn.execute(sqlalchemy.text(f"SELECT name FROM {Item.__tablename__}")).scalar()
    with orm.Session(engine) as session:
        session.add(Item(id=2, name="two"))
        session.commit()
        names = session.execute(sqlalchemy.select(Item.name).order_by(Item.id)).scalars().all()
    Base.metadata.drop_all(engine)
    engine.dispose()
    return [first, *names]


def case_sqlalchemy_async(event: Event) -> Any:
    import sqlalchemy
    from sqlalchemy.ext.asyncio import create_async_engine

    url = (
        f"postgresql+asyncpg://{event['user']}:{event['password']}"
        f"@127.0.0.1:{event['port']}/{event['database']}"
    )

    async def run() -> Any:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            one = (await conn.execute(sqlalchemy.text("SELECT 1"))).scalar()
        await engine.dispose()
        return one

    return asyncio.run(run())


def case_asyncpg_pool(event: Event) -> Any:
    """asyncpg's pool, several queries at once under asyncio.gather."""
    import asyncpg

    async def run() -> list[int]:
        async with asyncpg.create_pool(
            host="127.0.0.1",
            port=event["port"],
            user=event["user"],
            password=event["password"],
            database=event["database"],
            min_size=2,
            max_size=3,
        ) as pool:
            return list(
                await asyncio.gather(*(pool.fetchval("SELECT $1::int", n) for n in range(3)))
            )

    return asyncio.run(run())


def case_redis_idioms(event: Event) -> Any:
    import redis
    import redis.asyncio

    client = redis.Redis(host="127.0.0.1", port=event["port"], socket_connect_timeout=2)
    pipe = client.pipeline()  # a MULTI/EXEC transaction by default
    pipe.set("order:8", "placed").incr("orders:count").get("order:8")
    placed = pipe.execute()[2].decode()
    with client.pipeline(transaction=False) as plain:
        plain.get("order:8")
        plain.get("order:9")
        plain.execute()
    client.publish("orders", "placed")

    def count_one_more(pipe: Any) -> None:  # WATCH, GET, then MULTI/EXEC of the SET
        current = int(pipe.get("orders:count"))
        pipe.multi()
        pipe.set("orders:count", current + 1)

    client.transaction(count_one_more, "orders:count")

    async def asynchronous() -> Any:
        aclient = redis.asyncio.Redis(host="127.0.0.1", port=event["port"])
        await aclient.set("order:10", "paid")
        async with aclient.pipeline(transaction=True) as apipe:
            await apipe.get("order:10").incr("orders:count").execute()
        value = (await aclient.get("order:10")).decode()
        await aclient.aclose()
        return value

    return [placed, asyncio.run(asynchronous())]


def case_httpx_idioms(event: Event) -> Any:
    import httpx

    with httpx.Client(base_url=event["url"], timeout=5) as client:
        statuses = [client.get("/ok/base").status_code]
        with client.stream("GET", "/ok/stream") as response:
            statuses.append(sum(len(chunk) for chunk in response.iter_bytes()))

    async def gathered() -> list[int]:
        async with httpx.AsyncClient(base_url=event["url"], timeout=5) as aclient:
            responses = await asyncio.gather(*(aclient.get(f"/ok/{n}") for n in range(3)))
            async with aclient.stream("GET", "/ok/astream") as response:
                await response.aread()
            return [r.status_code for r in responses]

    return statuses + asyncio.run(gathered())


def case_aiohttp_idioms(event: Event) -> Any:
    import aiohttp

    async def fetch(session: Any, path: str) -> int:
        async with session.get(f"{event['url']}{path}") as response:
            await response.text()
            return int(response.status)

    async def run() -> list[int]:
        async with aiohttp.ClientSession() as session:
            return list(await asyncio.gather(*(fetch(session, f"/ok/{n}") for n in range(3))))

    return asyncio.run(run())


def case_urllib3_idioms(event: Event) -> Any:
    import urllib3

    http = urllib3.PoolManager()
    first = http.request("GET", f"{event['url']}/ok/pool").status
    response = http.request("GET", f"{event['url']}/ok/stream", preload_content=False)
    size = sum(len(chunk) for chunk in response.stream(32))
    response.release_conn()
    return [first, size]


def case_boto3_idioms(event: Event) -> Any:
    import boto3
    from boto3.s3.transfer import TransferConfig

    dynamodb = boto3.resource("dynamodb")
    table = dynamodb.Table(event["table"])
    table.put_item(Item={"order_id": "idiom-1", "total": 12})
    s3 = boto3.resource("s3")
    for key in ("receipts/r-1.txt", "receipts/r-2.txt"):
        s3.Object(event["bucket"], key).put(Body=b"receipt")
    client = boto3.client("s3")
    client.get_waiter("object_exists").wait(Bucket=event["bucket"], Key="receipts/r-1.txt")
    keys = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=event["bucket"], Prefix="receipts/", PaginationConfig={"PageSize": 1}
        )
        for item in page.get("Contents", [])
    ]
    # Multipart: 3 parts of 5 MiB (S3's smallest), run on s3transfer's worker threads.
    config = TransferConfig(multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20)
    with tempfile.TemporaryDirectory() as directory:
        source = f"{directory}/upload.bin"
        with open(source, "wb") as file:
            file.write(b"x" * (11 * 2**20))
        client.upload_file(source, event["bucket"], "uploads/big.bin", Config=config)
        client.download_file(event["bucket"], "uploads/big.bin", f"{directory}/d", Config=config)
        with open(f"{directory}/d", "rb") as file:
            size = len(file.read())
    return {"keys": keys, "size": size}


CASES: dict[str, Callable[[Event], Any]] = {
    name.removeprefix("case_").replace("_", "-"): function
    for name, function in globals().items()
    if name.startswith("case_")
}


if __name__ == "__main__":
    print(json.dumps(sorted(CASES)))
