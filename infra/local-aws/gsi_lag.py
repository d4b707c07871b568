"""Optional global secondary index lag for the moto wrapper (off unless asked for).

DynamoDB propagates base-table writes to a GSI asynchronously: a Query on a GSI may not yet
see an item written a moment ago. moto's GSIs are consistent, so code that relies on reading
its own fresh writes back through a GSI passes every test and still misses them in AWS. With a
delay set for an index, a Query (or Scan) on that GSI does not see items written (put or
updated) less than `seconds` ago: as if their latest write had not reached the index yet. An
approximation: DynamoDB would show the item's previous version; here it is simply absent. Base
table reads (GetItem, Query/Scan without an index) are unaffected, as are local indexes.

Delays are set per table and index, so tests sharing one emulator do not affect each other:

    POST /ctguard-api/gsi-delay  {"table": "<name>", "index": "<name>", "seconds": 3600}
         ("table" / "index" omitted or "*" = every table / index; "seconds": 0 removes it)
    GET  /ctguard-api/gsi-delay  -> {"delays": [{"table", "index", "seconds"}, ...]}

or for the whole server at start-up: CTGUARD_MOTO_GSI_DELAY="<seconds>" (every GSI) or
"<index>=<seconds>,<table>/<index>=<seconds>,...".

`install()` patches moto; the wrapper calls it once before starting the server.
"""

import inspect
import json
import os
import threading
import time

ENDPOINT = "/ctguard-api/gsi-delay"
ENV_VAR = "CTGUARD_MOTO_GSI_DELAY"
_STAMP = "_ctguard_written_at"  # on moto Item objects, kept by deep copies (transaction backups)

_delays = {}  # (table or "*", index or "*") -> seconds
_delays_lock = threading.Lock()


def set_delay(table, index, seconds):
    key = (table or "*", index or "*")
    with _delays_lock:
        if seconds > 0:
            _delays[key] = float(seconds)
        else:
            _delays.pop(key, None)


def delay_for(table, index):
    """The most specific delay that applies (exact table and index first)."""
    with _delays_lock:
        for key in ((table, index), (table, "*"), ("*", index), ("*", "*")):
            if key in _delays:
                return _delays[key]
    return 0.0


def parse_env(value):
    """`5` or `outbox=5,alerts-table/by-time=2.5` -> [(table, index, seconds)]."""
    settings = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        target, _, seconds = part.rpartition("=")
        table, _, index = target.rpartition("/")
        settings.append((table or "*", index or "*", float(seconds)))
    return settings


def _stamp(item):
    if item is not None:
        setattr(item, _STAMP, time.monotonic())
    return item


def _visible(items, seconds):
    cutoff = time.monotonic() - seconds
    return [i for i in items if getattr(i, _STAMP, 0.0) <= cutoff]


def _is_gsi(table, index_name):
    return any(i.name == index_name for i in (table.global_indexes or []))


def _with_lagging_index(method, index_parameter):
    """Runs a Table query/scan with the table's item lists reduced to what the index shows."""
    signature = inspect.signature(method)

    def lagging(self, *args, **kwargs):
        index_name = signature.bind(self, *args, **kwargs).arguments.get(index_parameter)
        seconds = delay_for(self.name, index_name) if index_name else 0.0
        if not seconds or not _is_gsi(self, index_name):
            return method(self, *args, **kwargs)
        # Instance attributes shadow the class methods for this one call. moto_server.py runs
        # every DynamoDB operation under one lock, so nothing else sees this table meanwhile.
        all_items = type(self).all_items
        has_idx_items = type(self).has_idx_items
        self.all_items = lambda: _visible(all_items(self), seconds)
        self.has_idx_items = lambda name: _visible(has_idx_items(self, name), seconds)
        try:
            return method(self, *args, **kwargs)
        finally:
            del self.all_items
            del self.has_idx_items

    return lagging


def _control(environ, start_response):
    try:
        if environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            seconds = float(body.get("seconds", 0))
            if seconds < 0:
                raise ValueError("seconds must be >= 0")
            set_delay(body.get("table"), body.get("index"), seconds)
        with _delays_lock:
            delays = [
                {"table": t, "index": i, "seconds": s} for (t, i), s in sorted(_delays.items())
            ]
        status, payload = "200 OK", {"delays": delays}
    except (ValueError, TypeError, AttributeError) as e:
        status, payload = "400 Bad Request", {"error": str(e)}
    data = json.dumps(payload).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    start_response(status, headers)
    return [data]


def install():
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    for table, index, seconds in parse_env(os.environ.get(ENV_VAR, "")):
        set_delay(table, index, seconds)

    # Every write path ends in one of these two: PutItem, BatchWriteItem and transactional
    # puts in Table.put_item; UpdateItem and transactional updates in the backend's update_item.
    put_item = Table.put_item
    Table.put_item = lambda self, *a, **kw: _stamp(put_item(self, *a, **kw))
    backend = dynamodb_models.DynamoDBBackend
    update_item = backend.update_item
    backend.update_item = lambda self, *a, **kw: _stamp(update_item(self, *a, **kw))

    # A cancelled transaction restores a deep copy of the table: its items keep their stamps.
    item_deepcopy = Item.__deepcopy__

    def deepcopy_with_stamp(self, memo):
        copied = item_deepcopy(self, memo)
        if hasattr(self, _STAMP):
            setattr(copied, _STAMP, getattr(self, _STAMP))
        return copied

    Item.__deepcopy__ = deepcopy_with_stamp

    Table.query = _with_lagging_index(Table.query, "index_name")
    Table.scan = _with_lagging_index(Table.scan, "index_name")

    dispatch = DomainDispatcherApplication.__call__

    def call(self, environ, start_response):
        if environ.get("PATH_INFO") == ENDPOINT:
            return _control(environ, start_response)
        return dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = call
