"""The emulator for the poller benchmark: infra/local-aws/moto_server.py with one fix.

moto's DynamoDB transact_write_items backs up the target table with a deep copy once PER ITEM
of the transaction (the same table up to 100 times) before applying it. Writing N alerts in
pages of 100 then costs O(N^2) item copies: 10,000 issuances took hours, which measures moto,
not the poller. Here repeated copies of the same object within one transaction are served from
a per-transaction cache: the backup is the same (nothing changes while it is taken), the
all-or-nothing behaviour is unchanged, and each table is copied once per transaction.

Usage: <venv>/bin/python tests/benches/moto_bench.py -H 127.0.0.1 -p PORT
"""

import copy as _copy
import os
import runpy
import sys
import threading

import moto.dynamodb.models as models


class _CopyOncePerTransaction:
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
        if cache is None:
            return _copy.deepcopy(obj, memo)
        key = id(obj)
        if key not in cache:
            cache[key] = _copy.deepcopy(obj, memo)
        return cache[key]


_proxy = _CopyOncePerTransaction()
models.copy = _proxy
_original = models.DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    _proxy.begin()
    try:
        return _original(self, transact_items)
    finally:
        _proxy.end()


models.DynamoDBBackend.transact_write_items = _transact_write_items

if __name__ == "__main__":
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.argv = ["moto_server"] + sys.argv[1:]
    runpy.run_path(os.path.join(repo, "infra", "local-aws", "moto_server.py"), run_name="__main__")
