"""Runs moto's server, keeping model-instance tracking only for the services whose state the
tests read from /moto-api/data.json (SES mail, SNS notifications).

moto otherwise keeps a reference to every model instance it ever created (every DynamoDB item
of every test, even after its table is deleted) and /moto-api/data.json serialises them all:
after a few parallel test runs the server held 1.4 GB and data.json took minutes.
"""

import sys

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

from moto.server import main  # noqa: E402  (after the patch, on purpose)

if __name__ == "__main__":
    main(sys.argv[1:])
