"""Runs moto's server with two fixes that change its speed and memory, not its behaviour.

1. Model-instance tracking only for the services whose state the tests read from
   /moto-api/data.json (SES mail, SNS notifications). moto otherwise keeps a reference to every
   model instance it ever created (every DynamoDB item of every test, even after its table is
   deleted) and /moto-api/data.json serialises them all: after a few parallel test runs the
   server held 1.4 GB and data.json took minutes.

2. One table backup per TransactWriteItems instead of one per item. Before applying a
   transaction moto deep-copies the target table once PER ITEM of the transaction (the same
   table up to 100 times) so it can roll back; writing N items in transactions of 100 then costs
   O(N^2) item copies (10,000 alerts took hours). Here the backup loop's repeated copies of the
   same table are served from a per-transaction cache. The backup is identical (nothing writes
   while the loop runs: it is the first thing transact_write_items does), the rollback restores
   it as before, so all-or-nothing is unchanged. Only Table objects are cached, with a strong
   reference held for the transaction (no id reuse), and only inside transact_write_items.

And one fix that makes it behave like DynamoDB:

3. DynamoDB operations are serialised. DynamoDB applies a conditional write atomically per
   item; moto's threaded server checks the condition and applies the update without a lock, so
   two concurrent conditional updates of one item can both pass (seen: two runs recording the
   two channels of one alert at once both kept the outbox marker, because each saw the other
   still queued). The store's compare-and-set, leases and outbox rely on that atomicity, so every
   DynamoDB backend operation runs under one lock.

Optionally, GSI lag like DynamoDB's (off by default): see gsi_lag.py.
"""

import copy as _copy
import functools
import sys
import threading
import types

from moto.core import common_models

TRACKED_SERVICES = {"ses", "sesv2", "sns"}


def _tracked_new(cls, *args, **kwargs):
    instance = super(common_models.BaseModel, cls).__new__(cls)
    module = cls.__module__.split(".")
    if len(module) > 1 and module[1] in TRACKED_SERVICES:
        cls.instances_tracked.append(instance)
    return instance


# Assigned after class creation, __new__ must be wrapped as a staticmethod explicitly.
common_models.BaseModel.__new__ = staticmethod(_tracked_new)

import moto.dynamodb.models as dynamodb_models  # noqa: E402  (after the patch, on purpose)

import gsi_lag  # noqa: E402  (this directory is on sys.path: it holds the script)

gsi_lag.install()


class _TableCopiedOncePerTransaction:
    """Stands in for the `copy` module inside moto.dynamodb.models."""

    def __init__(self):
        self._local = threading.local()

    def __getattr__(self, name):
        return getattr(_copy, name)

    def begin(self):
        self._local.cache = {}

    def end(self):
        self._local.cache = None

    def deepcopy(self, obj, memo=None):
        cache = getattr(self._local, "cache", None)
        if cache is None or not isinstance(obj, dynamodb_models.Table):
            return _copy.deepcopy(obj, memo)
        key = id(obj)
        if key not in cache:
            cache[key] = (obj, _copy.deepcopy(obj, memo))  # obj kept alive: its id stays unique
        return cache[key][1]


_copy_proxy = _TableCopiedOncePerTransaction()
dynamodb_models.copy = _copy_proxy
_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def _transact_write_items_one_backup(self, transact_items):
    _copy_proxy.begin()
    try:
        return _transact_write_items(self, transact_items)
    finally:
        _copy_proxy.end()


dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items_one_backup

_dynamodb_lock = threading.RLock()  # re-entrant: backend operations call one another


def _serialised(operation):
    @functools.wraps(operation)
    def locked(*args, **kwargs):
        with _dynamodb_lock:
            return operation(*args, **kwargs)

    return locked


for _name, _attr in list(vars(dynamodb_models.DynamoDBBackend).items()):
    if isinstance(_attr, types.FunctionType) and not _name.startswith("_"):
        setattr(dynamodb_models.DynamoDBBackend, _name, _serialised(_attr))

# 4. Every AWS call is recorded (caller key id, IAM action, resource ARN): see call_log.py.
from moto.moto_server import werkzeug_app  # noqa: E402

import call_log  # noqa: E402  (infra/local-aws/ is the script's directory, so on sys.path)

call_log.install(werkzeug_app.DomainDispatcherApplication)

import ses_text_part  # noqa: E402,F401  (SES v2 emails keep their text part; see its docstring)
from moto.server import main  # noqa: E402  (after the patches, on purpose)

if __name__ == "__main__":
    main(sys.argv[1:])
